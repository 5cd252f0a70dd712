// workers/: the kiln worker process and how it is built. A worker is the workflow bundle plus every
// activity bound to one configuration (createActivities(config)), polling one task queue.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker, type NativeConnection, type WorkerOptions } from '@temporalio/worker';
import { createActivities } from '../activities/index.js';
import type { KilnConfig } from '../config/config.js';
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

export async function createKilnWorker(o: KilnWorkerOptions): Promise<Worker> {
  const bundlePath = o.workflowBundlePath ?? o.config.worker.workflowBundlePath;
  const workflows: Pick<WorkerOptions, 'workflowBundle' | 'workflowsPath'> = o.workflowBundle
    ? { workflowBundle: o.workflowBundle }
    : bundlePath
      ? { workflowBundle: { code: readFileSync(bundlePath, 'utf8') } }
      : { workflowsPath: WORKFLOWS_PATH };
  return Worker.create({
    connection: o.connection,
    namespace: o.namespace ?? o.config.temporal.namespace,
    taskQueue: o.taskQueue ?? o.config.temporal.taskQueue,
    ...workflows,
    activities: createActivities(o.config),
    // kiln_stage_duration_seconds for every activity attempt (workers/telemetry.ts).
    interceptors: { activity: [stageDurations] },
    maxConcurrentActivityTaskExecutions: o.maxConcurrentActivities ?? o.config.worker.maxConcurrentActivities,
    // Give running tool builds a moment to notice cancellation and clean up on shutdown.
    shutdownGraceTime: '10 seconds',
  });
}
