// The kiln worker process: `npm run worker`. Configured by environment only (see README):
// TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, KILN_TASK_QUEUE, KILN_STATE, KILN_WORKFLOW_BUNDLE,
// KILN_MAX_ACTIVITIES, and the registry credentials. Secrets stay here, never in workflow data.
import { NativeConnection } from '@temporalio/worker';
import { temporalTarget } from '../activities/env.js';
import { createKilnWorker } from './worker.js';

async function main(): Promise<void> {
  const target = temporalTarget();
  const connection = await NativeConnection.connect({ address: target.address });
  const worker = await createKilnWorker({
    connection,
    namespace: target.namespace,
    taskQueue: target.taskQueue,
    workflowBundlePath: process.env.KILN_WORKFLOW_BUNDLE,
    maxConcurrentActivities: process.env.KILN_MAX_ACTIVITIES ? Number(process.env.KILN_MAX_ACTIVITIES) : undefined,
  });
  console.log(`kiln worker polling task queue "${target.taskQueue}" on ${target.address} (namespace ${target.namespace})`);
  await worker.run();
  await connection.close();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
