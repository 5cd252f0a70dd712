// The fault suite's laboratory: real services (a Temporal server, the registry, the package
// repository's HTTP server), the fault proxy in front of the registry, a Temporal client, and kiln
// workers as separate node processes (`node --import tsx workers/main.ts`, as production runs them)
// that can be killed. `npm run faults` (bench/faults.ts) starts its own services; the pipeline test
// (test/pipeline/workers/faults.test.ts) passes the shared test services' variables.
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import type { Client } from '@temporalio/client';
import { REPO_ROOT, configWith, type KilnConfig } from '../../config/config.js';
import { connectClient } from '../../client/connection.js';
import type { CatalogRebuildResult } from '../../domain/run-summary.js';
import type { RebuildSummary } from '../../domain/summary.js';
import { summaryOfResult } from '../../io/run-summary-store.js';
import { generateCatalog, type GeneratedCatalog } from '../generate-catalog.js';
import { startFaultProxy, type FaultProxy } from './proxy.js';
import type { ScratchEnv } from '../../setup/scratch-services.js';

/** The services' variables, as test/pipeline/global-setup.ts provides them. */
/** The scratch services the lab runs against (setup/scratch-services.ts). */
export type LabEnv = ScratchEnv;

export interface WorkerProcess {
  child: ResultPromise;
  /** Sends `signal` and waits until the process is gone. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export interface FaultLab {
  env: LabEnv;
  proxy: FaultProxy;
  client: Client;
  /** The client side's config: the registry through the proxy, as the workers see it. */
  config: KilnConfig;
  /** A worker process polling `taskQueue`, its registry the proxy. */
  startWorker(taskQueue: string, extra?: Record<string, string>): WorkerProcess;
  /** A small catalog of its own (`<tag>-0000` → `<tag>-0001` → image `<tag>-top`), under the state dir. */
  catalog(tag: string, o?: { sleep?: number }): Promise<GeneratedCatalog>;
  summary(result: CatalogRebuildResult): Promise<RebuildSummary>;
  /** Stops every worker still running (SIGTERM), between rows. */
  stopWorkers(): Promise<void>;
  close(): Promise<void>;
}

export async function openLab(env: LabEnv): Promise<FaultLab> {
  const proxy = await startFaultProxy(env.KILN_REGISTRY);
  const config = configWith({ ...env, KILN_REGISTRY: proxy.address });
  const { client, close } = await connectClient(config);
  const workers = new Set<WorkerProcess>();
  return {
    env,
    proxy,
    client,
    config,
    startWorker(taskQueue, extra = {}) {
      const child = execa(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'workers', 'main.ts')], {
        cwd: REPO_ROOT,
        env: { ...env, KILN_REGISTRY: proxy.address, KILN_TASK_QUEUE: taskQueue, KILN_LOG_LEVEL: 'ERROR', ...extra },
        stdio: ['ignore', 'ignore', 'inherit'],
        reject: false,
      });
      const gone = () => child.exitCode !== null || child.signalCode !== null;
      const worker: WorkerProcess = {
        child,
        async stop(signal = 'SIGTERM') {
          if (!gone()) {
            child.kill(signal);
            await new Promise<void>((r) => (gone() ? r() : child.once('exit', () => r())));
          }
          workers.delete(worker);
        },
      };
      workers.add(worker);
      return worker;
    },
    catalog: (tag, o = {}) =>
      generateCatalog(join(env.KILN_STATE, 'fault-catalogs', tag), {
        count: 2,
        depth: 2,
        sleep: o.sleep,
        prefix: tag,
        registryPath: tag,
        repository: `repo-${tag}`,
      }),
    summary: (result) => summaryOfResult(config, result),
    async stopWorkers() {
      for (const w of [...workers]) await w.stop();
    },
    async close() {
      for (const w of [...workers]) await w.stop();
      await close();
      await proxy.close();
    },
  };
}
