// The fault suite: real runs of small generated catalogs (a real Temporal dev server, the registry
// behind a fault proxy, melange and apko, workers as their own node processes) with one fault
// injected per row: bench/faults/rows.ts says which and how, bench/faults/assess.ts what is
// measured. Its own state directory and free loopback ports, so a `kiln dev` is left alone.
//   npm run faults -- [--only <words in a fault's name>]... [--keep]
// Prints one row per fault and, last, `faults: N/N survived, L lost, R redone, U unverified tags`;
// exits non-zero when any row did not survive.
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { configWith } from '../config/config.js';
import { bootstrapRepository } from '../setup/bootstrap-repo.js';
import { ensureKeys } from '../setup/keys.js';
import { servicesDown, servicesUp } from '../setup/services.js';
import { openLab, type LabEnv } from './faults/lab.js';
import { FAULTS, faultTable, type FaultRow } from './faults/rows.js';

const { values } = parseArgs({ options: { only: { type: 'string', multiple: true }, keep: { type: 'boolean' } } });

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

const state = await mkdtemp(join(tmpdir(), 'kiln-faults-'));
const env: LabEnv = {
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
  await servicesDown(config, () => undefined);
}
console.log(`\n${faultTable(rows)}`);
if (!values.keep) await rm(state, { recursive: true, force: true });
if (rows.some((r) => !r.survived)) process.exitCode = 1;
