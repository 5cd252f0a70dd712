// buildPackage on real melange: executions of the same build (same input digest) at once, in one
// worker process, each build in a scratch directory of their own; neither deletes the other's
// files, and each reports a directory that holds the APKs it names.
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { buildPackage, type PackageBuildResult } from '../../../activities/package-build.js';
import { snapshotCatalog } from '../../../activities/snapshot.js';
import { configWith, type KilnConfig } from '../../../config/config.js';
import { sha256hex } from '../../../domain/digest.js';
import { isolatedFixture } from '../harness.js';

const env = inject('kilnEnv');
const config = configWith({ ...env });
const run = <I, R>(fn: (config: KilnConfig, input: I) => Promise<R>, input: I): Promise<R> =>
  new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') }).run(fn, config, input) as Promise<R>;

let scratch: string;
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'kiln-build-'));
});
afterAll(() => rm(scratch, { recursive: true, force: true }));

describe('the same build, three times at once', () => {
  let results: PackageBuildResult[];
  beforeAll(async () => {
    const catalogDir = await isolatedFixture('tiny', join(scratch, 'catalog'), 'same-build');
    const snapshotDir = (await snapshotCatalog({ ...config, catalogDir }, { catalogDir })).dir;
    const input = { snapshotDir, name: 'tiny-lib', arch: 'x86_64', dependencyDigests: {} };
    results = await Promise.all([1, 2, 3].map(() => run(buildPackage, input)));
  });

  it('succeeds every time, with the same APK bytes', () => {
    expect(results.map((r) => r.status)).toEqual(['built', 'built', 'built']);
    expect(new Set(results.map((r) => JSON.stringify(r.apks))).size).toBe(1);
  });

  it('reports directories that hold the APKs each result names', () => {
    for (const r of results)
      for (const apk of r.apks) expect(sha256hex(readFileSync(join(r.buildDir, apk.file)))).toBe(apk.sha256);
  });

  it('leaves one shared build of these inputs and no scratch directory behind', async () => {
    const builds = join(config.paths.builds, 'x86_64');
    const mine = (await readdir(builds)).filter((d) =>
      d.startsWith(`tiny-lib-${results[0]!.inputDigest.slice(0, 16)}`),
    );
    expect(mine).toEqual([`tiny-lib-${results[0]!.inputDigest.slice(0, 16)}`]);
    expect(existsSync(join(builds, mine[0]!, 'result.json'))).toBe(true);
  });
});
