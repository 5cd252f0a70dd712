// Two identical catalogRebuild runs started at once on one worker (two activity slots): builds of
// the same input digest run side by side in scratch directories of their own, neither run fails,
// and the repository index lists every package once, at the bytes both summaries report.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { catalogRebuild } from '../../../workflows/catalog-rebuild.js';
import type { RebuildSummary } from '../../../domain/summary.js';
import { parseApkIndex } from '../../../domain/apkindex.js';
import { sha256hex } from '../../../domain/digest.js';
import { isolatedFixture, kilnTestConfig, kilnTestEnv, useTemporal, rebuildSummary } from '../harness.js';

const env = kilnTestEnv();
const temporal = useTemporal(env);
const repo = join(env.KILN_STATE, 'repo-concurrent', 'x86_64');

describe('two identical runs at once', () => {
  let runs: RebuildSummary[];

  beforeAll(async () => {
    // Packages only: this is about builds, scratch directories and the package index.
    const catalogDir = await isolatedFixture('tiny', await mkdtemp(join(tmpdir(), 'kiln-concurrent-')), 'concurrent');
    await rm(join(catalogDir, 'images'), { recursive: true });
    const config = kilnTestConfig(env, { KILN_MAX_ACTIVITIES: '2', KILN_CATALOG: catalogDir });
    expect(config.worker.maxConcurrentActivities).toBe(2);
    const worker = await temporal().worker('concurrent', config);
    const start = (id: string) =>
      temporal().client.workflow.start(catalogRebuild, {
        taskQueue: 'concurrent',
        workflowId: `concurrent-${id}-${Date.now()}`,
        args: [{ catalogDir }],
      });
    // Both are waiting before the worker polls: their first builds start together.
    const handles = await Promise.all([start('a'), start('b')]);
    runs = await Promise.all(
      (await worker.runUntil(Promise.all(handles.map((h) => h.result())))).map((r) => rebuildSummary(r)),
    );
  });

  it('both succeed', () => {
    for (const run of runs) {
      expect(run.ok, JSON.stringify(run, null, 2)).toBe(true);
      for (const p of run.packages) expect(['built', 'up-to-date'], p.name).toContain(p.status);
    }
  });

  it('leave an index that lists every package once, naming files that exist with their sizes', async () => {
    const index = await parseApkIndex(await readFile(join(repo, 'APKINDEX.tar.gz')));
    expect(index.map((e) => `${e.name}-${e.version}`).sort()).toEqual(['tiny-app-0.1.0-r0', 'tiny-lib-1.0.0-r0']);
    for (const e of index) expect(statSync(join(repo, `${e.name}-${e.version}.apk`)).size).toBe(e.size);
  });

  it('report the APK bytes the repository holds', async () => {
    for (const run of runs)
      for (const p of run.packages)
        for (const apk of p.apks!.x86_64!)
          expect(sha256hex(await readFile(join(repo, apk.file))), `${run.workflowId} ${apk.file}`).toBe(apk.sha256);
  });
});
