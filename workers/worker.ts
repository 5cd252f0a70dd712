// Builds a kiln worker: the workflow bundle plus every activity, on one task queue.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities } from '../activities/index.js';
import { loadConfig, type KilnConfig } from '../config/config.js';

export const WORKFLOWS_PATH = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

export interface KilnWorkerOptions {
  /** The worker's configuration, injected into every activity (default: from the environment). */
  config?: KilnConfig;
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  /** Prebuilt bundle (workers/build-workflow-bundle.ts); otherwise workflows are bundled at start. */
  workflowBundlePath?: string;
  /** An already bundled workflow code (tests bundle once per file). */
  workflowBundle?: { code: string };
  /** Tool runs at once on this worker; melange and apko are CPU-heavy. */
  maxConcurrentActivities?: number;
}

export async function createKilnWorker(o: KilnWorkerOptions): Promise<Worker> {
  const workflows: Pick<WorkerOptions, 'workflowBundle' | 'workflowsPath'> = o.workflowBundle
    ? { workflowBundle: o.workflowBundle }
    : o.workflowBundlePath
      ? { workflowBundle: { code: readFileSync(o.workflowBundlePath, 'utf8') } }
      : { workflowsPath: WORKFLOWS_PATH };
  return Worker.create({
    connection: o.connection,
    namespace: o.namespace,
    taskQueue: o.taskQueue,
    ...workflows,
    activities: createActivities(o.config ?? loadConfig()),
    maxConcurrentActivityTaskExecutions: o.maxConcurrentActivities ?? 2,
    // Give running tool builds a moment to notice cancellation and clean up on shutdown.
    shutdownGraceTime: '10 seconds',
  });
}
