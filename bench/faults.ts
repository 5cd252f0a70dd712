// The fault suite: real runs of small generated catalogs (a real Temporal dev server, the registry
// behind a fault proxy, melange and apko, workers as their own node processes) with one fault
// injected per row: bench/faults/rows.ts says which and how, bench/faults/assess.ts what is
// measured. Its own state directory and free loopback ports, so a `kiln dev` is left alone.
//   npm run faults -- [--only <words in a fault's name>]... [--keep]
// Prints one row per fault and, last, `faults: N/N survived, L lost, R redone, U unverified tags`;
// exits non-zero when any row did not survive.
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { startScratchServices } from '../setup/scratch-services.js';
import { openLab } from './faults/lab.js';
import { FAULTS, faultTable, type FaultRow } from './faults/rows.js';

const { values } = parseArgs({ options: { only: { type: 'string', multiple: true }, keep: { type: 'boolean' } } });

const services = await startScratchServices('kiln-faults-');
const { env } = services;
const state = env.KILN_STATE;
const cases = FAULTS.filter((f) => !values.only || values.only.some((w) => f.fault.includes(w)));
console.log(
  `faults: ${cases.length} faults, ${cpus().length} × ${cpus()[0]?.model ?? '?'}, ${new Date().toISOString()} (state ${state})`,
);

const lab = await openLab(env);
const rows: FaultRow[] = [];
try {
  for (const c of cases) {
    const t = Date.now();
    const row = await c.run(lab);
    await lab.stopWorkers();
    rows.push(row);
    console.log(
      `  ${row.survived ? 'survived' : 'FAILED  '} ${c.fault} (${((Date.now() - t) / 1000).toFixed(0)} s)${row.note ? `: ${row.note}` : ''}`,
    );
  }
} finally {
  await lab.close();
  await services.stop(values.keep);
}
console.log(`\n${faultTable(rows)}`);
if (rows.some((r) => !r.survived)) process.exitCode = 1;
