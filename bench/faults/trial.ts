// What every fault row shares: a trial (its own small catalog, task queue and runs), waiting on
// files and on a run's result through outages, and the row built from what the runs left behind.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import type { CatalogRebuildResult } from '../../domain/run-summary.js';
import type { RebuildSummary } from '../../domain/summary.js';
import { catalogRebuild, type RebuildInput } from '../../workflows/catalog-rebuild.js';
import type { GeneratedCatalog } from '../generate-catalog.js';
import { ledger, lost, redone, unverifiedTags, type Ledger } from './assess.js';
import type { FaultLab } from './lab.js';

export interface FaultRow {
  fault: string;
  survived: boolean;
  lost: number;
  redone: number;
  unverified: number;
  /** From the fault's injection to the run's successful end. */
  recoverMs?: number;
  note: string;
}

export interface FaultCase {
  fault: string;
  /** Under about a minute: also run by the pipeline test. */
  fast: boolean;
  run(lab: FaultLab): Promise<FaultRow>;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function until(what: string, check: () => boolean, timeoutMs = 300_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

/** A run's result, waiting through a Temporal server that is down for a while. */
export async function result(handle: WorkflowHandle<typeof catalogRebuild>): Promise<CatalogRebuildResult> {
  for (let tries = 0; ; tries++) {
    try {
      return await handle.result();
    } catch (err) {
      if (tries > 60 || (err as Error).name === 'WorkflowFailedError') throw err;
      await sleep(2000);
    }
  }
}

export const buildLog = (lab: FaultLab, name: string) =>
  join(lab.env.KILN_STATE, 'logs', 'packages', `${name}-1.0.0-r0-x86_64.log`);
export const building = (lab: FaultLab, name: string) =>
  existsSync(buildLog(lab, name)) && /^\$ .* build /m.test(readFileSync(buildLog(lab, name), 'utf8'));

/** Whether the catalog's top package is in a (staging) repository of this catalog: the image phase is next. */
export function topPublished(lab: FaultLab, catalog: GeneratedCatalog): boolean {
  const top = catalog.packages.at(-1)!.name;
  const tag = top.replace(/-\d{4}$/, '');
  const staging = join(lab.env.KILN_STATE, 'staging', `repo-${tag}`);
  const repos = existsSync(staging) ? readdirSync(staging).map((d) => join(staging, d)) : [];
  return [join(lab.env.KILN_STATE, `repo-${tag}`), ...repos].some((r) =>
    existsSync(join(r, 'x86_64', `${top}-1.0.0-r0.apk`)),
  );
}

export interface Trial {
  tag: string;
  catalog: GeneratedCatalog;
  queue: string;
  start(input?: RebuildInput): Promise<WorkflowHandle<typeof catalogRebuild>>;
}

export async function trial(lab: FaultLab, name: string, o: { sleep?: number } = {}): Promise<Trial> {
  const tag = `${name}-${Date.now().toString(36)}`;
  const catalog = await lab.catalog(tag, o);
  const queue = `faults-${tag}`;
  let n = 0;
  return {
    tag,
    catalog,
    queue,
    start: (input = {}) =>
      lab.client.workflow.start(catalogRebuild, {
        taskQueue: queue,
        workflowId: `faults-${tag}-${n++}`,
        args: [{ catalogDir: catalog.dir, ...input }],
      }),
  };
}

/** The row for finished runs: survived when every run is ok, nothing is lost, redone or unverified. */
export async function assess(
  lab: FaultLab,
  fault: string,
  t: Trial,
  summaries: RebuildSummary[],
  at: Ledger,
  o: {
    recoverMs?: number;
    also?: [boolean, string][];
    note?: string;
    /** Finished steps done again that the row counts itself (e.g. blobs uploaded twice). */
    redone?: { count: number; details: string[] };
  },
): Promise<FaultRow> {
  const last = summaries.at(-1)!;
  const lostN = await lost(lab.env, t.catalog, last);
  const ledgered = redone(at, ledger(lab.env, t.catalog));
  const again = {
    count: ledgered.count + (o.redone?.count ?? 0),
    details: [...ledgered.details, ...(o.redone?.details ?? [])],
  };
  const redoneN = again.count;
  const unverified = await unverifiedTags(lab.env, last);
  const failed = summaries.filter((s) => !s.ok);
  const problems = [
    ...failed.map(
      (s) =>
        `${s.workflowId} failed: ${[...s.packages, ...s.images]
          .filter((x) => x.error)
          .map((x) => `${x.name}: ${x.error!.split('\n')[0]}`)
          .join('; ')}`,
    ),
    ...(o.also ?? []).filter(([ok]) => !ok).map(([, why]) => why),
    ...again.details,
    ...(lostN ? [`${lostN} artifact(s) missing from the repository or registry`] : []),
    ...unverified.problems,
    ...(unverified.tags ? [] : ['no tag to verify']),
  ];
  return {
    fault,
    survived: problems.length === 0 && lostN === 0 && redoneN === 0,
    lost: lostN,
    redone: redoneN,
    unverified: unverified.count,
    recoverMs: o.recoverMs,
    note: problems.length ? problems.join(' | ').slice(0, 600) : (o.note ?? ''),
  };
}

/** A row whose setup itself broke: not survived, with the reason. */
function broken(fault: string, err: unknown): FaultRow {
  return { fault, survived: false, lost: 0, redone: 0, unverified: 0, note: `error: ${(err as Error).message}` };
}

export function guarded(
  fault: string,
  fast: boolean,
  body: (lab: FaultLab, fault: string) => Promise<FaultRow>,
): FaultCase {
  return { fault, fast, run: (lab) => body(lab, fault).catch((err) => broken(fault, err)) };
}
