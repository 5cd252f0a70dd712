// Benchmarks' kiln: its own state directory, the embedded services on ports other than `kiln dev`'s
// (so a running one is left alone), a real worker in this process, and catalogRebuild runs timed.
import { join } from 'node:path';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { configWith, type KilnConfig } from '../config/config.js';
import { connectClient, connectWorkerConnection } from '../client/connection.js';
import type { RebuildSummary } from '../domain/summary.js';
import { summaryOfResult } from '../io/run-summary-store.js';
import { catalogRebuild, type RebuildInput } from '../workflows/catalog-rebuild.js';
import { createKilnWorker } from '../workers/worker.js';
import { bootstrapRepository } from '../setup/bootstrap-repo.js';
import { ensureKeys } from '../setup/keys.js';
import { servicesDown, servicesUp } from '../setup/services.js';

export interface EmbeddedKiln {
  config: KilnConfig;
  /** One catalogRebuild, timed from start to result. */
  rebuild(input: RebuildInput): Promise<{ summary: RebuildSummary; ms: number }>;
  close(): Promise<void>;
}

/** Keys, the bootstrap repository and the config, under `work`/state; services start with `start()`. */
export async function embeddedConfig(work: string, maxActivities: number): Promise<KilnConfig> {
  const state = join(work, 'state');
  const config = configWith({
    KILN_STATE: state,
    TEMPORAL_ADDRESS: '127.0.0.1:17233',
    TEMPORAL_NAMESPACE: 'default',
    KILN_WEB_UI: 'http://127.0.0.1:18233',
    KILN_REGISTRY: '127.0.0.1:15000',
    KILN_TASK_QUEUE: 'bench',
    KILN_MAX_ACTIVITIES: String(maxActivities),
  });
  Runtime.install({ logger: new DefaultLogger('WARN') });
  ensureKeys(state, () => undefined);
  await bootstrapRepository({ config, stateDir: state, arch: 'x86_64', log: () => undefined });
  return config;
}

/** Starts the services and a worker for `config` (from embeddedConfig). */
export async function startEmbedded(config: KilnConfig): Promise<EmbeddedKiln> {
  await servicesUp(config, () => undefined);
  const nativeConnection = await connectWorkerConnection(config);
  const { client, close } = await connectClient(config);
  const worker = await createKilnWorker({ config, connection: nativeConnection });
  // One worker for every run of the benchmark (a Temporal worker runs once).
  const running = worker.run();
  const { taskQueue } = config.temporal;
  return {
    config,
    async rebuild(input) {
      const t = Date.now();
      const result = await client.workflow.execute(catalogRebuild, {
        taskQueue,
        workflowId: `bench-${Date.now()}`,
        args: [input],
      });
      const ms = Date.now() - t;
      return { summary: await summaryOfResult(config, result), ms };
    },
    async close() {
      worker.shutdown();
      await running;
      await close();
      await nativeConnection.close();
      await servicesDown(config, () => undefined);
    },
  };
}
