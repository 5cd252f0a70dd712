// The embedded services (setup/services.ts, the same code as `kiln dev up`) on free loopback ports,
// in a throwaway state directory with keys and the bootstrap repository: what the test suite and
// the fault suite run against, leaving a running `kiln dev` and its state alone.
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configWith, type KilnConfig } from '../config/config.js';
import { bootstrapRepository } from './bootstrap-repo.js';
import { ensureKeys } from './keys.js';
import { servicesDown, servicesUp } from './services.js';

/** The variables that point kiln at scratch services. */
export interface ScratchEnv {
  KILN_STATE: string;
  TEMPORAL_ADDRESS: string;
  KILN_WEB_UI: string;
  KILN_REGISTRY: string;
  KILN_REPOSITORY_URL: string;
}

/** A loopback port free right now (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export interface ScratchServices {
  env: ScratchEnv;
  config: KilnConfig;
  /** Stops the services; removes the state directory unless `keep`. */
  stop(keep?: boolean): Promise<void>;
}

/** Starts the services in a new state directory under the system's temp dir, named `<prefix>XXXXXX`. */
export async function startScratchServices(prefix: string): Promise<ScratchServices> {
  const state = await mkdtemp(join(tmpdir(), prefix));
  const env: ScratchEnv = {
    KILN_STATE: state,
    TEMPORAL_ADDRESS: `127.0.0.1:${await freePort()}`,
    KILN_WEB_UI: `http://127.0.0.1:${await freePort()}`,
    KILN_REGISTRY: `127.0.0.1:${await freePort()}`,
    KILN_REPOSITORY_URL: `http://127.0.0.1:${await freePort()}`,
  };
  const config = configWith({ ...env });
  ensureKeys(state, () => undefined);
  await bootstrapRepository({ config, stateDir: state, arch: 'x86_64', log: () => undefined });
  await servicesUp(config, () => undefined);
  return {
    env,
    config,
    async stop(keep = false) {
      await servicesDown(config, () => undefined);
      if (!keep) await rm(state, { recursive: true, force: true });
    },
  };
}
