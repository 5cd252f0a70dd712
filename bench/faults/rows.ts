// The fault rows: each starts real runs of its own small catalog on its own task queue, injects one
// fault into them as an operator would meet it, and measures what the night left behind
// (bench/faults/assess.ts). `npm run faults` runs them all; the pipeline test runs the fast ones.
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import type { RebuildSummary } from '../../domain/summary.js';
import { servicesUp } from '../../setup/services.js';
import { configWith } from '../../config/config.js';
import { builtBefore, ledger, lost, unverifiedTags } from './assess.js';
import type { FaultLab } from './lab.js';
import {
  assess,
  building,
  guarded,
  result,
  sleep,
  topPublished,
  trial,
  until,
  type FaultCase,
  type FaultRow,
} from './trial.js';
import { workerKilledMidPush } from './push-kill.js';
import { upstreamGarbage } from './upstream-garbage.js';

export type { FaultCase, FaultRow } from './trial.js';

export const workerKilled = guarded('worker SIGKILL mid-build, new worker', false, async (lab, fault) => {
  const t = await trial(lab, 'kill', { sleep: 12 });
  const first = lab.startWorker(t.queue);
  const handle = await t.start();
  const [base, top] = t.catalog.packages.map((p) => p.name) as [string, string];
  await until(`${top}'s melange build`, () => building(lab, top));
  const at = ledger(lab.env, t.catalog);
  const injected = Date.now();
  await first.stop('SIGKILL');
  lab.startWorker(t.queue);
  const summary = await lab.summary(await result(handle));
  return assess(lab, fault, t, [summary], at, {
    recoverMs: Date.now() - injected,
    also: [[builtBefore(at, base), `${base} had not finished when the worker was killed`]],
    note: `${base} finished before the kill, ${top} interrupted and built again`,
  });
});

/** The registry proxy's fault, switched on as the image phase begins (the top package is published). */
function registryFault(
  name: string,
  fast: boolean,
  inject: (lab: FaultLab) => Promise<void>,
  check: (lab: FaultLab, since: number) => { also: [boolean, string][]; note: string } = () => ({
    also: [],
    note: '',
  }),
): FaultCase {
  return guarded(name, fast, async (lab, fault) => {
    const t = await trial(lab, name.split(' ')[1]!.replace(/\W/g, ''));
    lab.startWorker(t.queue);
    const handle = await t.start();
    await until('the top package published', () => topPublished(lab, t.catalog));
    const at = ledger(lab.env, t.catalog);
    const injected = Date.now();
    await inject(lab);
    const cleared = Date.now();
    const summary = await lab.summary(await result(handle));
    const c = check(lab, injected);
    return assess(lab, fault, t, [summary], at, {
      recoverMs: Date.now() - cleared,
      also: c.also,
      note: c.note,
    });
  });
}

export const registryDown = registryFault('registry down 60 s as the image phase begins', false, (lab) =>
  lab.proxy.down(60_000),
);

/** 429s answered since `since`: the shortest gap between two, which Retry-After should have set. */
function honoured(lab: FaultLab, since: number, seconds: number): { also: [boolean, string][]; note: string } {
  const times = lab.proxy.throttled.filter((x) => x >= since);
  const gaps = times.slice(1).map((x, i) => x - times[i]!);
  const shortest = gaps.length ? Math.min(...gaps) : 0;
  return {
    also: [
      [times.length >= 2, `only ${times.length} request(s) answered 429`],
      [shortest >= seconds * 1000 - 500, `a retry came ${shortest} ms after a 429 asking for ${seconds} s`],
    ],
    note: `${times.length} answers 429, retries ≥ ${(shortest / 1000).toFixed(1)} s apart`,
  };
}

export const throttledSeconds = registryFault(
  'registry 429 Retry-After: 7 (seconds) for 30 s',
  false,
  (lab) => lab.proxy.throttle(30_000, () => '7'),
  (lab, since) => honoured(lab, since, 7),
);

// An HTTP date has whole seconds: 8 s ahead is at least 7 s away when it is read.
export const throttledDate = registryFault(
  'registry 429 Retry-After: <HTTP date> for 30 s',
  false,
  (lab) => lab.proxy.throttle(30_000, () => new Date(Date.now() + 8000).toUTCString()),
  (lab, since) => honoured(lab, since, 7),
);

export const twoTriggers = guarded('two identical triggers at once', true, async (lab, fault) => {
  const t = await trial(lab, 'twice');
  lab.startWorker(t.queue);
  const at = ledger(lab.env, t.catalog);
  const handles = await Promise.all([t.start(), t.start()]);
  const summaries = await Promise.all(handles.map(async (h) => lab.summary(await result(h))));
  return assess(lab, fault, t, summaries, at, { note: 'both runs ok, each package built once' });
});

export const temporalRestarted = guarded('Temporal server killed 20 s mid-build', false, async (lab, fault) => {
  const t = await trial(lab, 'temporal', { sleep: 12 });
  lab.startWorker(t.queue);
  const handle = await t.start();
  const [, top] = t.catalog.packages.map((p) => p.name) as [string, string];
  await until(`${top}'s melange build`, () => building(lab, top));
  const at = ledger(lab.env, t.catalog);
  const config = configWith({ ...lab.env });
  const pid = Number(readFileSync(join(config.paths.services, 'temporal.pid'), 'utf8'));
  process.kill(pid, 'SIGKILL');
  await sleep(20_000);
  const restarted = Date.now();
  await servicesUp(config, () => undefined);
  const summary = await lab.summary(await result(handle));
  return assess(lab, fault, t, [summary], at, { recoverMs: Date.now() - restarted });
});

/** The melange process building `name` (its command line names the package's config). */
function melangePid(name: string): number | undefined {
  for (const d of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    const args = (() => {
      try {
        return readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
      } catch {
        return [];
      }
    })();
    if (args[0]?.endsWith('melange') && args[1] === 'build' && args.some((a) => a.includes(`${name}.yaml`)))
      return Number(d);
  }
  return undefined;
}

export const toolCrashed = guarded('melange killed by SIGSEGV mid-build', true, async (lab, fault) => {
  const t = await trial(lab, 'segv', { sleep: 8 });
  lab.startWorker(t.queue);
  const handle = await t.start();
  const [, top] = t.catalog.packages.map((p) => p.name) as [string, string];
  let pid: number | undefined;
  await until(`${top}'s melange process`, () => (pid = melangePid(top)) !== undefined);
  await sleep(2000);
  const at = ledger(lab.env, t.catalog);
  const injected = Date.now();
  process.kill(pid!, 'SIGSEGV');
  const summary = await lab.summary(await result(handle));
  return assess(lab, fault, t, [summary], at, { recoverMs: Date.now() - injected, note: `melange pid ${pid}` });
});

export const signingKeyMissing = guarded('image signing key unreadable, then back', true, async (lab, fault) => {
  const t = await trial(lab, 'key');
  const key = configWith({ ...lab.env }).paths.imageSigningKey;
  lab.startWorker(t.queue);
  await rename(key, `${key}.away`);
  let first: RebuildSummary;
  try {
    first = await lab.summary(await result(await t.start()));
  } finally {
    await rename(`${key}.away`, key);
  }
  const unsignedFirst = await unverifiedTags(lab.env, first);
  const error = first.images.map((i) => i.error ?? '').join(' ');
  const at = ledger(lab.env, t.catalog);
  const back = Date.now();
  const second = await lab.summary(await result(await t.start({ rerunFailedOf: first.workflowId })));
  return assess(lab, fault, t, [second], at, {
    recoverMs: Date.now() - back,
    also: [
      [!first.ok, 'the run without a key did not fail'],
      [unsignedFirst.count === 0, `without the key: ${unsignedFirst.problems.join('; ')}`],
      [error.includes(key), `the error does not name ${key}: ${error.slice(0, 200)}`],
    ],
    note: `without the key: ${error.split('\n')[0]!.slice(0, 160)}`,
  });
});

/**
 * A published APK's bytes changed behind kiln's back (the top package's, which the image installs),
 * then the image changes: the run must fail naming the file, leave the tag on the verified image,
 * and finish once the file is put back.
 */
export const apkTampered = guarded('tampered APK in the published repository', false, async (lab, fault) => {
  const t = await trial(lab, 'tamper');
  // The worker's own catalog: production, one repository for every run (a changed catalog elsewhere
  // is staging under a new name, which would never read the tampered file).
  lab.startWorker(t.queue, { KILN_CATALOG: t.catalog.dir });
  const first = await lab.summary(await result(await t.start()));
  const top = t.catalog.packages.at(-1)!.name;
  const file = `${top}-1.0.0-r0.apk`;
  const apk = join(first.target!.packageRepository, 'x86_64', file);
  const original = readFileSync(apk);
  const tampered = Buffer.from(original);
  tampered[tampered.length - 40]! ^= 0xff;
  writeFileSync(apk, tampered);
  const image = join(t.catalog.dir, 'images', `${t.tag}-top`, 'apko.yaml');
  writeFileSync(image, `${readFileSync(image, 'utf8')}environment:\n  CHANGED: "yes"\n`);
  let second: RebuildSummary;
  try {
    second = await lab.summary(await result(await t.start()));
  } finally {
    writeFileSync(apk, original);
  }
  const error = [...second.packages, ...second.images].map((x) => x.error ?? '').join(' ');
  const before = first.images[0]?.digest;
  const tagNow = await unverifiedTags(lab.env, first);
  const lostThen = await lost(lab.env, t.catalog, first);
  const at = ledger(lab.env, t.catalog);
  const back = Date.now();
  // A run that did not notice has nothing to rerun: it is judged as it is.
  const third = second.ok
    ? second
    : await lab.summary(await result(await t.start({ rerunFailedOf: second.workflowId })));
  return assess(lab, fault, t, [third], at, {
    recoverMs: Date.now() - back,
    also: [
      [!second.ok, 'the run with the tampered APK did not fail'],
      [error.includes(file), `the error does not name ${file}: ${error.slice(0, 300)}`],
      [tagNow.count === 0, `after the tampered run: ${tagNow.problems.join('; ')}`],
      [second.ok || lostThen === 0, "after the failed run the tag had left the first run's image"],
      [before !== undefined && third.images[0]?.digest !== before, 'the changed image was not published'],
    ],
    note: `while tampered: ${error.split('\n')[0]!.slice(0, 200)}`,
  });
});

/** Files a failed publication must not leave in a repository: temporary copies and indexes, empty indexes. */
function strays(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => {
    const full = join(dir, f);
    return /\.tmp|\.partial|\.new/.test(f) || (f.endsWith('APKINDEX.tar.gz') && statSync(full).size === 0);
  });
}

/** Root only: a 1 MiB tmpfs, filled up, mounted where this catalog's staging repository goes. */
export const diskFull = guarded('disk full under the package repository, then freed', false, async (lab, fault) => {
  const t = await trial(lab, 'disk');
  const mount = join(lab.env.KILN_STATE, 'staging', `repo-${t.tag}`);
  await mkdir(mount, { recursive: true });
  await execa('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mount]);
  try {
    const filler = join(mount, 'filler');
    try {
      writeFileSync(filler, Buffer.alloc(2 << 20));
    } catch {
      // ENOSPC: the file holds what fit, the disk is full.
    }
    lab.startWorker(t.queue);
    const first = await lab.summary(await result(await t.start()));
    const error = [...first.packages, ...first.images].map((x) => x.error ?? '').join(' ');
    const left = strays(mount);
    await rm(filler);
    const at = ledger(lab.env, t.catalog);
    const freed = Date.now();
    const second = await lab.summary(await result(await t.start({ rerunFailedOf: first.workflowId })));
    return await assess(lab, fault, t, [second], at, {
      recoverMs: Date.now() - freed,
      also: [
        [!first.ok, 'the run on a full disk did not fail'],
        [/no space|ENOSPC/i.test(error), `the error does not say the disk is full: ${error.slice(0, 200)}`],
        [left.length === 0, `left in the repository: ${left.join(', ')}`],
      ],
      note: `on the full disk: ${error.split('\n')[0]!.slice(0, 160)}`,
    });
  } finally {
    await lab.stopWorkers();
    await execa('umount', [mount]);
  }
});

/** In the order the suite runs them. */
export const FAULTS: FaultCase[] = [
  workerKilled,
  workerKilledMidPush,
  registryDown,
  throttledSeconds,
  throttledDate,
  twoTriggers,
  temporalRestarted,
  toolCrashed,
  signingKeyMissing,
  apkTampered,
  upstreamGarbage,
  ...(process.getuid?.() === 0 ? [diskFull] : []),
];

const secs = (ms?: number) => (ms === undefined ? '-' : `${(ms / 1000).toFixed(0)} s`);

/** The table, one row per fault, and the last line the suite is judged by. */
export function faultTable(rows: FaultRow[]): string {
  const head = ['fault', 'survived', 'lost', 'redone', 'unverified tags', 'recovered in'];
  const lines = [
    `| ${head.join(' | ')} |`,
    `|${head.map(() => '---').join('|')}|`,
    ...rows.map(
      (r) =>
        `| ${r.fault} | ${r.survived ? 'yes' : 'no'} | ${r.lost} | ${r.redone} | ${r.unverified} | ${secs(r.recoverMs)} |`,
    ),
  ];
  const sum = (f: (r: FaultRow) => number) => rows.reduce((n, r) => n + f(r), 0);
  return [
    ...lines,
    '',
    ...rows.filter((r) => r.note).map((r) => `- ${r.fault}: ${r.note}`),
    '',
    `faults: ${rows.filter((r) => r.survived).length}/${rows.length} survived, ${sum((r) => r.lost)} lost, ` +
      `${sum((r) => r.redone)} redone, ${sum((r) => r.unverified)} unverified tags`,
  ].join('\n');
}
