// Starts the real embedded services once for the whole test run, on free loopback ports and in a
// throwaway state directory, through the same code as `kiln dev up` (setup/scratch-services.ts).
import type { TestProject } from 'vitest/node';
import { freePort, startScratchServices, type ScratchEnv } from '../../setup/scratch-services.js';

export type KilnTestEnv = ScratchEnv;
export { freePort };

declare module 'vitest' {
  export interface ProvidedContext {
    kilnEnv: KilnTestEnv;
  }
}

export default async function setup(project: TestProject) {
  const services = await startScratchServices('kiln-test-');
  project.provide('kilnEnv', services.env);
  return () => services.stop(Boolean(process.env.KILN_KEEP_TEST_STATE));
}
