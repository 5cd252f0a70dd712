// The kiln worker process: `npm run worker`. Configured by environment only (see README):
// TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, KILN_TASK_QUEUE, KILN_STATE, KILN_WORKFLOW_BUNDLE,
// KILN_MAX_ACTIVITIES, KILN_LOG_LEVEL, and the registry credentials. Secrets stay here, never in workflow data.
import { DefaultLogger, NativeConnection, Runtime, type LogLevel } from '@temporalio/worker';
import { temporalTarget } from '../config/config.js';
import { createKilnWorker } from './worker.js';

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger((process.env.KILN_LOG_LEVEL ?? 'INFO') as LogLevel) });
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
