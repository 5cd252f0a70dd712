// Starts the real embedded services once for the whole test run, on free loopback ports and in a
// throwaway state directory, through the same code as `kiln dev up`.
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { configWith } from '../../config/config.js';
import { servicesDown, servicesUp } from '../../setup/services.js';
import { ensureKeys } from '../../setup/keys.js';
import { bootstrapRepository } from '../../setup/bootstrap-repo.js';

export interface KilnTestEnv {
  KILN_STATE: string;
  TEMPORAL_ADDRESS: string;
  KILN_WEB_UI: string;
  KILN_REGISTRY: string;
  KILN_REPOSITORY_URL: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    kilnEnv: KilnTestEnv;
  }
}

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

export default async function setup(project: TestProject) {
  const state = await mkdtemp(join(tmpdir(), 'kiln-test-'));
  const kilnEnv: KilnTestEnv = {
    KILN_STATE: state,
    TEMPORAL_ADDRESS: `127.0.0.1:${await freePort()}`,
    KILN_WEB_UI: `http://127.0.0.1:${await freePort()}`,
    KILN_REGISTRY: `127.0.0.1:${await freePort()}`,
    KILN_REPOSITORY_URL: `http://127.0.0.1:${await freePort()}`,
  };
  const config = configWith({ ...kilnEnv });
  ensureKeys(state);
  await bootstrapRepository({ config, stateDir: state, arch: 'x86_64', log: () => undefined });
  await servicesUp(config, () => undefined);
  project.provide('kilnEnv', kilnEnv);
  return async () => {
    await servicesDown(config, () => undefined);
    if (!process.env.KILN_KEEP_TEST_STATE) await rm(state, { recursive: true, force: true });
  };
}
