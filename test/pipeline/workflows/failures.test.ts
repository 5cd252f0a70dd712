// Failure isolation, rerun of what failed, skip-unchanged and the epoch rule, on real builds.
import { cp, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { catalogRebuild } from '../../../workflows/catalog-rebuild.js';
import type { RebuildSummary } from '../../../domain/summary.js';
import { parseApkIndex } from '../../../domain/apkindex.js';
import { REPO_ROOT } from '../../../config/config.js';
import { connectTemporal, kilnTestConfig, kilnTestEnv, type TemporalHarness, rebuildSummary } from '../harness.js';

const env = kilnTestEnv();
let temporal: TemporalHarness;
let catalogDir: string;
const repo = () => join(env.KILN_STATE, 'repo-isolation', 'x86_64');

beforeAll(async () => {
  temporal = await connectTemporal(env);
  catalogDir = await mkdtemp(join(tmpdir(), 'kiln-isolation-'));
  await cp(join(REPO_ROOT, 'test', 'fixtures', 'isolation'), catalogDir, { recursive: true });
});
afterAll(async () => temporal?.close());

async function rebuild(workflowId: string, input: object = {}): Promise<RebuildSummary> {
  const worker = await temporal.worker('failures', kilnTestConfig(env, { KILN_CATALOG: catalogDir }));
  return rebuildSummary(
    await worker.runUntil(
      temporal.client.workflow.execute(catalogRebuild, {
        taskQueue: 'failures',
        workflowId,
        args: [{ catalogDir, ...input }],
      }),
    ),
  );
}

const statuses = (s: RebuildSummary) => ({
  packages: Object.fromEntries(
    s.packages.map((p) => [p.name, p.blockedBy ? `${p.status} by ${p.blockedBy}` : p.status]),
  ),
  images: Object.fromEntries(s.images.map((i) => [i.name, i.blockedBy ? `${i.status} by ${i.blockedBy}` : i.status])),
});

async function edit(file: string, from: string | RegExp, to: string): Promise<void> {
  const path = join(catalogDir, file);
  const text = await readFile(path, 'utf8');
  const next = text.replace(from, to);
  expect(next).not.toBe(text);
  await writeFile(path, next);
}

describe('a run where one package and one image fail', () => {
  const firstId = `isolation-${Date.now()}`;
  let first: RebuildSummary;
  beforeAll(async () => {
    first = await rebuild(firstId);
  });

  it('blocks only what depends on the failure; independent branches are built', () => {
    expect(first.ok).toBe(false);
    expect(statuses(first)).toEqual({
      packages: { 'iso-broken': 'failed', 'iso-dep': 'blocked by iso-broken', 'iso-ok': 'built' },
      images: { 'iso-dep-image': 'blocked by iso-broken', 'iso-ok-image': 'published', 'iso-pinned': 'failed' },
    });
  });

  it("reports each failure with the tool's own words", () => {
    const broken = first.packages.find((p) => p.name === 'iso-broken')!;
    expect(broken.error).toMatch(/melange build failed with exit code/);
    expect(broken.error).toMatch(/upstream tarball is missing/);
    expect(first.images.find((i) => i.name === 'iso-pinned')!.error).toMatch(/apko build failed/);
  });

  it('leaves an index that names only files that exist, with their sizes', async () => {
    const entries = await parseApkIndex(await readFile(join(repo(), 'APKINDEX.tar.gz')));
    expect(entries.map((e) => e.name)).toEqual(['iso-ok']);
    for (const e of entries) {
      const file = join(repo(), `${e.name}-${e.version}.apk`);
      expect(existsSync(file)).toBe(true);
      expect(statSync(file).size).toBe(e.size);
    }
  });

  it('reruns only what failed or was blocked, once fixed', async () => {
    await edit(
      'packages/iso-broken.yaml',
      /echo "iso-broken: upstream tarball is missing" >&2\n\s*exit 3/,
      'mkdir -p "${{targets.destdir}}/usr/share/iso" && echo fixed > "${{targets.destdir}}/usr/share/iso/broken"',
    );
    await edit('images/iso-pinned/apko.yaml', ', busybox=0.0.1-r0', '');
    const rerun = await rebuild(`isolation-rerun-${Date.now()}`, { rerunFailedOf: firstId });
    expect(rerun.ok).toBe(true);
    expect(statuses(rerun)).toEqual({
      packages: { 'iso-broken': 'built', 'iso-dep': 'built' },
      images: { 'iso-dep-image': 'published', 'iso-pinned': 'published' },
    });
    const again = await rebuild(`isolation-rerun2-${Date.now()}`, { rerunFailedOf: rerun.workflowId });
    expect(statuses(again)).toEqual({ packages: {}, images: {} });
  });

  it('rebuilds nothing on an unchanged catalog; a changed config needs an epoch bump; dependents stay', async () => {
    const unchanged = await rebuild(`isolation-same-${Date.now()}`);
    expect(Object.values(statuses(unchanged).packages)).toEqual(['up-to-date', 'up-to-date', 'up-to-date']);
    expect(Object.values(statuses(unchanged).images)).toEqual(['unchanged', 'unchanged', 'unchanged']);

    await edit('packages/iso-broken.yaml', 'echo fixed', 'echo fixed-again');
    const refused = await rebuild(`isolation-epoch-${Date.now()}`);
    const broken = refused.packages.find((p) => p.name === 'iso-broken')!;
    expect(broken.status).toBe('failed');
    expect(broken.error).toMatch(/packages\/iso-broken\.yaml: package\.epoch: .*bump package\.epoch to 1/);
    expect(statuses(refused).packages['iso-dep']).toBe('blocked by iso-broken');

    await edit('packages/iso-broken.yaml', 'epoch: 0', 'epoch: 1');
    const depBefore = await readFile(join(repo(), 'iso-dep-1.0.0-r0.apk'));
    const bumped = await rebuild(`isolation-bumped-${Date.now()}`);
    // exactly the changed package is built; its reverse dependency keeps its published build (a
    // published APK never changes), and the summary says its dependency changed
    expect(statuses(bumped)).toEqual({
      packages: { 'iso-broken': 'built', 'iso-dep': 'up-to-date', 'iso-ok': 'up-to-date' },
      images: { 'iso-dep-image': 'unchanged', 'iso-ok-image': 'unchanged', 'iso-pinned': 'unchanged' },
    });
    expect(bumped.packages.find((p) => p.name === 'iso-dep')!.dependenciesChanged).toEqual(['iso-broken']);
    expect((await readFile(join(repo(), 'iso-dep-1.0.0-r0.apk'))).equals(depBefore)).toBe(true);
  });
});
