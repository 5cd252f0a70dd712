// The kiln worker process: `npm run worker`. Configured by environment only, read once by
// loadConfig (config/config.ts; the README's table lists every variable): the Temporal connection
// (TEMPORAL_*, envconfig: TLS, mTLS, API keys), KILN_TASK_QUEUE, KILN_STATE, KILN_WORKFLOW_BUNDLE,
// KILN_MAX_ACTIVITIES, KILN_LOG_LEVEL, KILN_METRICS_ADDRESS (Prometheus, workers/telemetry.ts), and the
// registry credentials. Secrets stay here, never in workflow data.
import { connectWorkerConnection } from '../client/connection.js';
import { loadConfig } from '../config/config.js';
import { installRuntime } from './telemetry.js';
import { createKilnWorker } from './worker.js';

async function main(): Promise<void> {
  const config = loadConfig();
  installRuntime(config);
  const { temporal } = config;
  const connection = await connectWorkerConnection(config);
  const worker = await createKilnWorker({ config, connection });
  console.log(
    `kiln worker polling task queue "${temporal.taskQueue}" on ${temporal.connection.address} (namespace ${temporal.namespace})`,
  );
  if (config.metrics.address) console.log(`metrics: http://${config.metrics.address}/metrics`);
  await worker.run();
  await connection.close();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
