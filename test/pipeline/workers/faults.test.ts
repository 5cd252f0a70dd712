// The fault suite's fast rows (bench/faults/rows.ts, `npm run faults` runs every row) on the shared
// test services: real runs of small generated catalogs, workers as their own node processes, the
// real registry behind the suite's fault proxy. Each row must survive its fault with nothing lost,
// no finished step done again and every tag on a digest kiln's verification accepts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openLab, type FaultLab } from '../../../bench/faults/lab.js';
import { FAULTS } from '../../../bench/faults/rows.js';
import { kilnTestEnv } from '../harness.js';

let lab: FaultLab;
beforeAll(async () => {
  lab = await openLab(kilnTestEnv());
});
afterAll(async () => lab?.close());

describe('faults injected into real runs', () => {
  for (const c of FAULTS.filter((f) => f.fast)) {
    it(`survives: ${c.fault}`, async () => {
      const row = await c.run(lab);
      await lab.stopWorkers();
      expect(row, row.note).toMatchObject({ survived: true, lost: 0, redone: 0, unverified: 0 });
    });
  }
});
