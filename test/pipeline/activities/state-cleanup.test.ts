// The state clean-up on real Temporal: 20 real catalogRebuild runs of a small catalog (one edit each,
// so each run takes a snapshot of its own and writes its own report), each followed by the real
// stateCleanup workflow started as its Schedule starts it. Builds, OCI layouts and worktrees are
// left next to each run as runs of a real package and image leave them (named as package-build.ts
// and image-assemble.ts name them, real `git worktree add` worktrees, a crashed attempt's scratch
// directory): twenty real melange and apko builds do not fit a two-minute test on two cores, and
// what the clean-up judges is the leftovers' place, name and last use, not their bytes.
// Checked as a person would: the state directory's size stops growing, the last runs' snapshots,
// reports and leftovers stay, what went is gone from disk and from `git worktree list`, and what a
// running workflow names stays until it ends.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, type KilnConfig } from '../../../config/config.js';
import type { StateCleanupResult } from '../../../activities/state-cleanup.js';
import { applyCleanupSchedule, describeSchedule } from '../../../client/schedules.js';
import { cleanupReport } from '../../../client/cleanup.js';
import { diskUsage } from '../../../io/state-entries.js';
import { catalogRebuild } from '../../../workflows/catalog-rebuild.js';
import { stateCleanup, type StateCleanupSummary } from '../../../workflows/state-cleanup.js';
import type { KilnWorker } from '../../../workers/worker.js';
import { kilnTestConfig, kilnTestEnv, useTemporal } from '../harness.js';

const env = kilnTestEnv();
const temporal = useTemporal(env);
const TASK_QUEUE = `state-cleanup-${Date.now()}`;
const KEEP = 3;
const RUNS = 20;
const STATE_DIRS = ['builds', 'images', 'snapshots', 'worktrees', 'reports', 'summaries'];

let config: KilnConfig;
let catalogDir: string;
let gitRepo: string;
let worker: KilnWorker;
let running: Promise<void>;

const git = (cwd: string, ...args: string[]) =>
  execa('git', ['-c', 'user.name=t', '-c', 'user.email=t@localhost', ...args], { cwd });

/** What run `i` leaves besides its snapshot and report, as a run of a package and an image would. */
async function leaveRunLeftovers(i: number, { paths } = config): Promise<string[]> {
  const hex = (s: string) => Buffer.from(`${s}-${i}`).toString('hex').padEnd(16, '0').slice(0, 16);
  const build = join(paths.builds, 'x86_64', `tiny-lib-${hex('lib')}`);
  await mkdir(join(build, 'out', 'x86_64'), { recursive: true });
  await writeFile(join(build, 'out', 'x86_64', `tiny-lib-1.0-r${i}.apk`), randomBytes(256 * 1024));
  await writeFile(join(build, 'result.json'), JSON.stringify({ name: 'tiny-lib', epoch: i }));
  // A killed worker's scratch directory (package-build.ts scratchDir).
  const attempt = join(paths.builds, 'x86_64', `tiny-app-${hex('app')}.attempt-1-4242`);
  await mkdir(attempt, { recursive: true });
  await writeFile(join(attempt, 'partial.tar'), randomBytes(64 * 1024));
  const image = join(paths.images, `tiny-app-${hex('img')}`);
  await mkdir(join(image, 'layout', 'blobs', 'sha256'), { recursive: true });
  await writeFile(join(image, 'layout', 'index.json'), '{"schemaVersion":2,"manifests":[]}');
  await writeFile(join(image, 'layout', 'blobs', 'sha256', hex('blob')), randomBytes(512 * 1024));
  const predicate = join(paths.images, 'predicates', `${hex('pred')}.provenance.json`);
  await mkdir(join(paths.images, 'predicates'), { recursive: true });
  await writeFile(predicate, '{}');
  const worktree = join(paths.worktrees, `cat-kiln-update-tiny-lib-1.${i}`);
  await mkdir(paths.worktrees, { recursive: true });
  await git(gitRepo, 'worktree', 'add', '-q', '-b', `kiln/update-tiny-lib-1.${i}`, worktree);
  return [build, attempt, image, predicate, worktree];
}

/** The state the clean-up manages: bytes on disk and entries, per directory. */
async function stateSize(): Promise<{ bytes: number; entries: number }> {
  let bytes = 0;
  let entries = 0;
  for (const dir of STATE_DIRS) {
    bytes += await diskUsage(join(config.paths.state, dir));
    entries += (await readdir(join(config.paths.state, dir), { recursive: true }).catch(() => [])).length;
  }
  return { bytes, entries };
}

async function rebuild(i: number): Promise<void> {
  await writeFile(join(catalogDir, 'catalog.yaml'), catalogYaml(i));
  const summary = await temporal().client.workflow.execute(catalogRebuild, {
    taskQueue: TASK_QUEUE,
    workflowId: `cleanup-run-${i}-${Date.now()}`,
    args: [{}],
  });
  expect(summary).toBeDefined();
}

/** One clean-up, as the Schedule starts it; this file's one worker is the one it cleaned. */
async function cleanup(name: string): Promise<StateCleanupResult> {
  const summary = await temporal().client.workflow.execute(stateCleanup, {
    taskQueue: TASK_QUEUE,
    workflowId: `cleanup-${name}-${Date.now()}`,
  });
  expect(summary.unreached).toEqual([]);
  expect(summary.workers.map((w) => w.state)).toEqual([config.paths.state]);
  return summary.workers[0]!;
}

const catalogYaml = (i: number) =>
  [
    `# run ${i}: an edit, so this run snapshots a catalog of its own`,
    'archs: [x86_64]',
    `repositories: ["${join(env.KILN_STATE, 'bootstrap')}"]`,
    `keyring: ["${join(env.KILN_STATE, 'keys', 'kiln.rsa.pub')}"]`,
    'packageRepository: "${KILN_STATE}/repo"',
    `registry: "${env.KILN_REGISTRY}/state-cleanup"`,
    'namespace: kiln',
    '',
  ].join('\n');

beforeAll(async () => {
  const state = await mkdtemp(join(env.KILN_STATE, 'state-cleanup-'));
  catalogDir = await mkdtemp(join(tmpdir(), 'kiln-cleanup-catalog-'));
  await writeFile(join(catalogDir, 'catalog.yaml'), catalogYaml(0));
  // The repository update worktrees belong to (as upstream.ts adds them).
  gitRepo = await mkdtemp(join(tmpdir(), 'kiln-cleanup-repo-'));
  await git(gitRepo, 'init', '-q', '-b', 'main');
  await writeFile(join(gitRepo, 'README'), 'catalog\n');
  await git(gitRepo, 'add', 'README');
  await git(gitRepo, 'commit', '-q', '-m', 'init');
  config = kilnTestConfig(env, {
    KILN_STATE: state,
    KILN_CATALOG: catalogDir,
    KILN_TASK_QUEUE: TASK_QUEUE,
    KILN_ARTIFACTS: 'none',
    KILN_RETAIN_RUNS: String(KEEP),
    KILN_RETAIN_MIN_AGE_MINUTES: '0',
  });
  worker = await temporal().worker(TASK_QUEUE, config);
  running = worker.run();
});

afterAll(async () => {
  worker?.shutdown();
  await running;
});

describe('stateCleanup', () => {
  const leftovers: string[][] = [];
  const snapshotsAfter: string[][] = [];

  it(`keeps the state directory bounded across ${RUNS} runs, keeping what the last ${KEEP} used`, async () => {
    const sizes: { bytes: number; entries: number }[] = [];
    for (let i = 1; i <= RUNS; i++) {
      await rebuild(i);
      leftovers.push(await leaveRunLeftovers(i));
      const result = await cleanup(`run-${i}`);
      sizes.push(await stateSize());
      snapshotsAfter.push(await readdir(config.paths.snapshots));
      // What it says it removed is gone; what it reports freeing is what it listed.
      for (const r of result.removed) expect(existsSync(r.path), r.path).toBe(false);
      expect(result.bytesFreed).toBe(result.removed.reduce((n, r) => n + r.bytes, 0));
      if (i > KEEP) {
        // Exactly one run's worth goes each time: its snapshot, report, summary, build, attempt,
        // layout, predicate and worktree.
        expect(result.removed.map((r) => r.kind).sort(), `run ${i}`).toEqual([
          'build',
          'build',
          'image',
          'image',
          'report',
          'snapshot',
          'summary',
          'worktree',
        ]);
        expect(result.line).toMatch(
          /^removed 8 \(2 builds, 2 images, 1 snapshot, 1 worktree, 1 report, 1 summary\), freed /,
        );
      }
    }
    // Bounded: from the KEEP-th run on, the managed state neither grows in entries nor in bytes
    // (bytes within a directory block or two of the size after the KEEP-th run).
    const steady = sizes.slice(KEEP - 1);
    expect(new Set(steady.map((s) => s.entries)).size, JSON.stringify(steady)).toBe(1);
    const max = Math.max(...steady.map((s) => s.bytes));
    expect(max).toBeLessThan(steady[0]!.bytes + 64 * 1024);
    // ...while without the clean-up it would hold all 20 runs' leftovers (over 800 KiB each).
    expect(max).toBeLessThan((KEEP + 1) * 900 * 1024);
    expect(max).toBeGreaterThan(KEEP * 800 * 1024);
  });

  it(`leaves the last ${KEEP} runs' snapshots, reports and leftovers, and removed worktrees are pruned`, async () => {
    for (const [i, paths] of leftovers.entries()) {
      const kept = i >= RUNS - KEEP;
      for (const p of paths) expect(existsSync(p), `run ${i + 1}: ${p}`).toBe(kept);
    }
    expect(snapshotsAfter.at(-1)).toHaveLength(KEEP);
    expect(await readdir(join(config.paths.state, 'reports'))).toHaveLength(KEEP);
    const listed = (await git(gitRepo, 'worktree', 'list', '--porcelain')).stdout;
    expect(listed.match(/^worktree /gm)).toHaveLength(1 + KEEP);
    // A pruned worktree's path can be added again (as the next poll of the same update would).
    await git(gitRepo, 'worktree', 'add', '-q', leftovers[0]!.at(-1)!, 'kiln/update-tiny-lib-1.1');
  });

  it('never removes what a running workflow names, and removes it once that workflow ends', async () => {
    // Two workflows that are running (their first task delayed, so no worker takes them): a
    // package update naming a worktree's catalog, and an image build naming a snapshot.
    const oldWorktree = leftovers[0]!.at(-1)!;
    const oldSnapshot = join(config.paths.snapshots, snapshotsAfter.at(-1)![0]!);
    const client = temporal().client;
    const update = await client.workflow.start('packageUpdate', {
      taskQueue: TASK_QUEUE,
      workflowId: `cleanup-held-update-${Date.now()}`,
      args: [
        {
          package: 'tiny-lib',
          version: '1.1',
          branch: 'kiln/update-tiny-lib-1.1',
          catalogDir: join(oldWorktree, 'catalog'),
        },
      ],
      startDelay: '1 hour',
    });
    const image = await client.workflow.start('imageBuild', {
      taskQueue: TASK_QUEUE,
      workflowId: `cleanup-held-image-${Date.now()}`,
      args: [{ snapshotDir: oldSnapshot, name: 'tiny-app', repository: 'x', tags: [] }],
      startDelay: '1 hour',
    });
    try {
      // KEEP more runs: without the running workflows, both would be past the last runs now.
      for (let i = RUNS + 1; i <= RUNS + KEEP; i++) await rebuild(i);
      const held = await cleanup('held');
      expect(existsSync(oldWorktree)).toBe(true);
      expect(existsSync(oldSnapshot)).toBe(true);
      expect(held.kept.running).toBeGreaterThanOrEqual(2);
      expect(held.line).toMatch(/reachable by a running workflow/);
    } finally {
      await update.terminate('test done');
      await image.terminate('test done');
    }
    const after: StateCleanupResult = await cleanup('released');
    expect(after.removed.map((r) => r.path)).toEqual(expect.arrayContaining([oldWorktree, oldSnapshot]));
    expect(existsSync(oldWorktree)).toBe(false);
    expect(existsSync(oldSnapshot)).toBe(false);
    expect(await readdir(config.paths.snapshots)).toHaveLength(KEEP);
  });

  it('`kiln schedule clean` runs one now and prints what it removed, largest first', async () => {
    const past = new Date(Date.now() - 24 * 3_600_000);
    const [build, attempt, image, predicate, worktree] = await leaveRunLeftovers(97);
    for (const p of [build!, attempt!, image!, predicate!, worktree!]) await utimes(p, past, past);
    const lines = (await cleanupReport(temporal().client, TASK_QUEUE)).split('\n');
    expect(lines[0]).toMatch(
      new RegExp(
        `^state clean-up of ${config.paths.state}: removed 5 \\(2 builds, 2 images, 1 worktree\\), freed \\d+\\.\\d KiB; kept `,
      ),
    );
    // The layout (a 512 KiB blob), then the build (a 256 KiB APK), the crashed attempt (64 KiB), ...
    expect(lines.slice(1).map((l) => l.trim().split(/\s+/).at(-1))).toEqual([
      image,
      build,
      attempt,
      worktree,
      predicate,
    ]);
    expect(lines[1]).toMatch(/^ +\d+\.\d KiB {2}image {4}\//);
  });

  it('runs from its Schedule on every worker, each on its own state directory, and says what it removed', async () => {
    const scheduleId = `kiln-cleanup-test-${Date.now()}`;
    const client = temporal().client;
    // A second worker process that shares no disk with the first: its own KILN_STATE (one process
    // runs one worker per task queue). It loads the workflow code this file already bundled.
    const otherEnv = {
      ...env,
      KILN_STATE: await mkdtemp(join(env.KILN_STATE, 'state-cleanup-other-')),
      KILN_TASK_QUEUE: TASK_QUEUE,
      KILN_WORKER_ID: 'other',
      KILN_ARTIFACTS: 'none',
      KILN_RETAIN_RUNS: String(KEEP),
      KILN_RETAIN_MIN_AGE_MINUTES: '0',
      KILN_LOG_LEVEL: 'WARN',
    };
    const other = kilnTestConfig(env, otherEnv);
    const bundle = join(other.paths.state, 'workflow-bundle.js');
    await writeFile(bundle, temporal().bundle.code);
    const output: string[] = [];
    const second = execa(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'workers', 'main.ts')], {
      cwd: REPO_ROOT,
      env: { ...otherEnv, KILN_WORKFLOW_BUNDLE: bundle },
      extendEnv: true,
      reject: false,
      all: true,
    });
    second.all?.on('data', (d: Buffer) => output.push(d.toString()));
    const target = { scheduleId, taskQueue: TASK_QUEUE, input: {} };
    try {
      expect((await applyCleanupSchedule(client, '1d', target)).outcome).toBe('created');
      expect((await applyCleanupSchedule(client, '1d', target)).outcome).toBe('unchanged');
      // Leftovers in both state directories, last used before any run this file made.
      const past = new Date(Date.now() - 24 * 3_600_000);
      const mine = await leaveRunLeftovers(99);
      const theirs = await leaveRunLeftovers(98, other);
      for (const p of [...mine, ...theirs]) await utimes(p, past, past);
      // The second worker has polled the shared queue before the Schedule fires.
      let polling = false;
      for (let tries = 0; !polling && tries < 300; tries++) {
        const queue = await client.workflowService.describeTaskQueue({
          namespace: config.temporal.namespace,
          taskQueue: { name: TASK_QUEUE },
          taskQueueType: 2, // activities
        });
        polling = (queue.pollers ?? []).some((p) => p.identity?.includes(`${TASK_QUEUE}@other/`));
        if (second.exitCode !== null) throw new Error(`the second worker exited:\n${output.join('')}`);
        if (!polling) await new Promise((r) => setTimeout(r, 200));
      }
      expect(polling, output.join('')).toBe(true);
      await client.schedule.getHandle(scheduleId).trigger();
      let started: { workflowId: string; firstExecutionRunId: string } | undefined;
      for (let tries = 0; !started && tries < 100; tries++) {
        started = (await client.schedule.getHandle(scheduleId).describe()).info.recentActions[0]?.action.workflow;
        if (!started) await new Promise((r) => setTimeout(r, 200));
      }
      expect(started).toBeDefined();
      const summary = (await client.workflow
        .getHandle(started!.workflowId, started!.firstExecutionRunId)
        .result()) as StateCleanupSummary;
      expect(summary.unreached).toEqual([]);
      const byState = new Map(summary.workers.map((w) => [w.state, w]));
      expect([...byState.keys()].sort()).toEqual([config.paths.state, other.paths.state].sort());
      expect(
        byState
          .get(config.paths.state)!
          .removed.map((r) => r.path)
          .sort(),
      ).toEqual([...mine].sort());
      expect(
        byState
          .get(other.paths.state)!
          .removed.map((r) => r.path)
          .sort(),
      ).toEqual([...theirs].sort());
      for (const p of [...mine, ...theirs]) expect(existsSync(p), p).toBe(false);
      // The last runs' snapshots (in the first worker's state) are still there.
      expect(await readdir(config.paths.snapshots)).toHaveLength(KEEP);
      expect(await describeSchedule(client, scheduleId)).toMatch(/every 1d[\s\S]*COMPLETED {2}\/.*removed 5 \(/);
    } finally {
      second.kill('SIGTERM');
      await second;
      await client.schedule
        .getHandle(scheduleId)
        .delete()
        .catch(() => undefined);
    }
  });
});
