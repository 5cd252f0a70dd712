// `force` on real builds: melange runs again from scratch, the new APKs are compared byte for byte
// with the published ones ("reproduced" / "not reproducible", with what differs), and the
// published APKs and index stay exactly as they were. A nightly reproducibility check.
import { mkdtemp, readFile, readdir } from 'node:fs/promises';
import { readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { catalogRebuild } from '../../../workflows/catalog-rebuild.js';
import { formatSummary, type RebuildSummary } from '../../../domain/summary.js';
import { sha256hex } from '../../../domain/digest.js';
import { isolatedFixture, kilnTestConfig, kilnTestEnv, useTemporal, rebuildSummary } from '../harness.js';

const env = kilnTestEnv();
const temporal = useTemporal(env);
const repo = join(env.KILN_STATE, 'repo-reproducible', 'x86_64');
let catalogDir: string;

async function rebuild(workflowId: string, input: object): Promise<RebuildSummary> {
  const worker = await temporal().worker('force', kilnTestConfig(env, { KILN_CATALOG: catalogDir }));
  return rebuildSummary(
    await worker.runUntil(
      temporal().client.workflow.execute(catalogRebuild, {
        taskQueue: 'force',
        workflowId,
        args: [{ catalogDir, ...input }],
      }),
    ),
  );
}

/** Every file of the repository directory (APKs, the signed index, kiln's records) with its digest. */
async function repositoryState(): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const e of await readdir(repo, { withFileTypes: true, recursive: true }))
    if (e.isFile())
      out[join(e.parentPath, e.name).slice(repo.length)] = sha256hex(await readFile(join(e.parentPath, e.name)));
  return out;
}

/** How many times melange built a package: the `$ … build` lines of its build log. */
const melangeBuilds = async (name: string) =>
  (await readFile(join(env.KILN_STATE, 'logs', 'packages', `${name}-1.0.0-r0-x86_64.log`), 'utf8'))
    .split('\n')
    .filter((l) => l.startsWith('$ ') && l.includes(' build ')).length;

const statuses = (s: RebuildSummary) => Object.fromEntries(s.packages.map((p) => [p.name, p.status]));

describe('force on published packages', () => {
  const forcedId = `force-${Date.now()}`;
  let first: RebuildSummary;
  let forced: RebuildSummary;
  let before: Record<string, string>;
  let builds: Record<string, number>;

  beforeAll(async () => {
    catalogDir = await isolatedFixture('reproducible', await mkdtemp(join(tmpdir(), 'kiln-force-')), 'reproducible');
    first = await rebuild(`force-first-${Date.now()}`, {});
    before = await repositoryState();
    builds = { 'rep-same': await melangeBuilds('rep-same'), 'rep-random': await melangeBuilds('rep-random') };
    forced = await rebuild(forcedId, { packages: ['rep-same', 'rep-random'], force: true });
  });

  it('first builds and publishes every package', () => {
    expect(first.ok, JSON.stringify(first, null, 2)).toBe(true);
    expect(statuses(first)).toEqual({ 'rep-app': 'built', 'rep-random': 'built', 'rep-same': 'built' });
  });

  it('runs melange again for each forced package, and for nothing else', async () => {
    expect(await melangeBuilds('rep-same')).toBe(builds['rep-same']! + 1);
    expect(await melangeBuilds('rep-random')).toBe(builds['rep-random']! + 1);
    // rep-app is a reverse dependency, selected but not forced: its published build is kept.
    expect(statuses(forced)['rep-app']).toBe('up-to-date');
  });

  it('reports a byte-identical rebuild as reproduced', () => {
    const same = forced.packages.find((p) => p.name === 'rep-same')!;
    expect(same.status).toBe('reproduced');
    expect(same.reproducibility).toEqual({ identical: true, differences: [] });
    expect(same.apks).toEqual(first.packages.find((p) => p.name === 'rep-same')!.apks);
  });

  it('reports a rebuild with other bytes as not reproducible: which APK, its sizes, which files differ', () => {
    const random = forced.packages.find((p) => p.name === 'rep-random')!;
    expect(random.status).toBe('not-reproducible');
    const published = first.packages.find((p) => p.name === 'rep-random')!.apks!.x86_64![0]!;
    const [difference, ...others] = random.reproducibility!.differences;
    expect(others).toEqual([]);
    expect(difference).toMatchObject({
      file: 'rep-random-1.0.0-r0.apk',
      publishedSize: expect.any(Number),
      rebuiltSize: expect.any(Number),
      publishedSha256: published.sha256,
    });
    expect(difference!.rebuiltSha256).not.toBe(published.sha256);
    const paths = difference!.entries.map((e) => e.path);
    expect(paths).toContain('usr/share/rep/random');
    expect(paths).not.toContain('usr/share/rep/fixed');
    expect(difference!.entries.find((e) => e.path === 'usr/share/rep/random')!.change).toBe('changed');
    // The rebuilt APK is kept for a look, and is what the sizes and digest describe.
    const rebuilt = join(random.reproducibility!.rebuiltDir!, 'rep-random-1.0.0-r0.apk');
    expect(statSync(rebuilt).size).toBe(difference!.rebuiltSize);
    expect(sha256hex(readFileSync(rebuilt))).toBe(difference!.rebuiltSha256);
    expect(statSync(join(repo, 'rep-random-1.0.0-r0.apk')).size).toBe(difference!.publishedSize);
  });

  it('leaves every published APK, the index and kiln’s records byte for byte as they were', async () => {
    expect(await repositoryState()).toEqual(before);
  });

  it('says so in the summary, the memo and the outcome: a not-reproducible package is a finding', async () => {
    expect(forced.ok).toBe(false);
    const text = formatSummary(forced);
    expect(text).toMatch(
      /rep-random +1\.0\.0-r0 +not-reproducible .*differs from the published build: rep-random-1\.0\.0-r0\.apk \d+ -> \d+ bytes, differing: .*usr\/share\/rep\/random/,
    );
    expect(text).toMatch(/rep-same +1\.0\.0-r0 +reproduced /);
    const { memo, searchAttributes } = await temporal().client.workflow.getHandle(forcedId).describe();
    expect(memo?.packages).toBe('0 built, 1 up to date, 1 reproduced, 1 not reproducible, 0 failed or blocked');
    expect(searchAttributes.KilnOutcome).toEqual(['failures']);
  });
});
