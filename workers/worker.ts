// workers/: the kiln worker process and how it is built. A worker is the workflow bundle plus every
// activity bound to one configuration (createActivities(config)), polling the shared task queue,
// and a second poller on its own task queue (`<task queue>@<KILN_WORKER_ID>/<instance>`): the steps
// that need the files an earlier step left on this host (a build's APKs, an image's layout) are
// sent there (samples-typescript's worker-specific task queues), so workers share no disk. Package
// builds run on one queue per arch (`<task queue>-<arch>`, domain/package-archs.ts archQueue): a
// worker polls those of the archs it builds, so aarch64 builds can move to native aarch64 workers.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Runtime, Worker, bundleWorkflowCode, type NativeConnection, type WorkerOptions } from '@temporalio/worker';
import { createActivities } from '../activities/index.js';
import type { KilnConfig } from '../config/config.js';
import { archQueue } from '../domain/package-archs.js';
import { loadRateLimits } from '../io/catalog-loader.js';
import { useHostLimits } from '../io/host-pacer.js';
import { buildableArchs } from '../setup/emulation.js';
import { stageDurations } from './telemetry.js';

export const WORKFLOWS_PATH = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

export interface KilnWorkerOptions {
  /** The worker's configuration, injected into every activity; the defaults below come from it too. */
  config: KilnConfig;
  connection: NativeConnection;
  /** Default config.temporal.namespace. */
  namespace?: string;
  /** Default config.temporal.taskQueue. */
  taskQueue?: string;
  /** Prebuilt bundle (workers/build-workflow-bundle.ts); default config.worker.workflowBundlePath, else bundled at start. */
  workflowBundlePath?: string;
  /** An already bundled workflow code (tests bundle once per file). */
  workflowBundle?: { code: string };
  /** Tool runs at once on this worker (melange and apko are CPU-heavy); default config.worker.maxConcurrentActivities. */
  maxConcurrentActivities?: number;
}

/** The two pollers of one kiln worker, run and stopped together. */
export interface KilnWorker {
  /** This worker's own task queue. */
  hostQueue: string;
  /** The arch task queues it polls for package builds. */
  archQueues: string[];
  run(): Promise<void>;
  /** Runs until `until` (or what it starts) settles, then shuts both pollers down; its result. */
  runUntil<R>(until: Promise<R> | (() => Promise<R>)): Promise<R>;
  shutdown(): void;
}

export async function createKilnWorker(o: KilnWorkerOptions): Promise<KilnWorker> {
  const bundlePath = o.workflowBundlePath ?? o.config.worker.workflowBundlePath;
  // Bundled once for both pollers. The worker's own queue registers the workflows too, although no
  // workflow runs there: a poller without workflows warns at every start.
  const workflows: Pick<WorkerOptions, 'workflowBundle'> = {
    workflowBundle:
      o.workflowBundle ??
      (bundlePath
        ? { code: readFileSync(bundlePath, 'utf8') }
        : await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: Runtime.instance().logger })),
  };
  const taskQueue = o.taskQueue ?? o.config.temporal.taskQueue;
  // The worker's own catalog's limits, for every run it serves (io/host-pacer.ts).
  useHostLimits(await loadRateLimits(o.config.catalogDir, { env: o.config.catalogEnv }), taskQueue);
  // A new queue per worker instance: a restarted worker never inherits tasks for files it lost.
  const hostQueue = `${taskQueue}@${o.config.worker.id}/${randomUUID().slice(0, 8)}`;
  const activities = createActivities({ ...o.config, worker: { ...o.config.worker, hostQueue } });
  const common = {
    connection: o.connection,
    namespace: o.namespace ?? o.config.temporal.namespace,
    activities,
    // Temporal's default (`pid@host`) followed by this worker's own queue: the state clean-up finds
    // every worker's queue among the shared queue's pollers (activities/state-cleanup.ts).
    identity: `${process.pid}@${hostname()} ${hostQueue}`,
    // kiln_stage_duration_seconds for every activity attempt (workers/telemetry.ts).
    interceptors: { activity: [stageDurations] },
    maxConcurrentActivityTaskExecutions: o.maxConcurrentActivities ?? o.config.worker.maxConcurrentActivities,
    // Give running tool builds a moment to notice cancellation and clean up on shutdown.
    shutdownGraceTime: '10 seconds',
  };
  const archQueues = (o.config.worker.archs ?? buildableArchs()).map((a) => archQueue(taskQueue, a));
  const shared: Worker = await Worker.create({ ...common, taskQueue, ...workflows });
  const host: Worker = await Worker.create({ ...common, taskQueue: hostQueue, ...workflows });
  // Only builds arrive there; the workflows are registered to keep the poller quiet, as above.
  const builders = await Promise.all(archQueues.map((q) => Worker.create({ ...common, taskQueue: q, ...workflows })));
  const pollers = [shared, host, ...builders];
  const both = async <T>(run: (w: Worker) => Promise<T>): Promise<T> => {
    const runs = pollers.map(run);
    // One poller failing stops the others, so the process never half-runs.
    runs.forEach((r) =>
      r.catch(() => {
        for (const w of pollers) if (w.getState() === 'RUNNING') w.shutdown();
      }),
    );
    // All have stopped before this returns, even when one failed: the connection may be closed then.
    const settled = await Promise.allSettled(runs);
    for (const r of settled) if (r.status === 'rejected') throw r.reason;
    return (settled[0] as PromiseFulfilledResult<T>).value;
  };
  return {
    hostQueue,
    archQueues,
    run: () => both((w) => w.run()),
    runUntil: <R>(until: Promise<R> | (() => Promise<R>)) => {
      const settles = typeof until === 'function' ? until() : until;
      return both((w) => w.runUntil(settles));
    },
    shutdown: () => {
      for (const w of pollers) if (w.getState() === 'RUNNING') w.shutdown();
    },
  };
}
