// publishPackage on a real repository (melange index, the signed APKINDEX, the lock): a published
// APK never changes bytes, whoever asks, and publishers running at once never drop each other's
// APKs from the index.
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { publishPackage } from '../../../activities/package-publish.js';
import type { PackageBuildResult } from '../../../activities/package-build.js';
import { snapshotCatalog } from '../../../activities/snapshot.js';
import { writeApk } from '../../../apk/writer.js';
import { configWith, type KilnConfig } from '../../../config/config.js';
import { parseApkIndex } from '../../../domain/apkindex.js';
import { sha256hex } from '../../../domain/digest.js';
import { isolatedFixture } from '../harness.js';

const env = inject('kilnEnv');
const config = configWith({ ...env });
const run = <I, R>(fn: (config: KilnConfig, input: I) => Promise<R>, input: I): Promise<R> =>
  new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') }).run(fn, config, input) as Promise<R>;

const repo = join(env.KILN_STATE, 'repo-publish', 'x86_64');
let scratch: string;
let snapshotDir: string;
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'kiln-publish-'));
  const catalogDir = await isolatedFixture('tiny', join(scratch, 'catalog'), 'publish');
  snapshotDir = (await snapshotCatalog({ ...config, catalogDir }, { catalogDir })).dir;
});
afterAll(() => rm(scratch, { recursive: true, force: true }));

/** A build of `name` 1.0.0-r0 whose one file holds `content`, signed with kiln's key, as buildPackage reports it. */
async function build(
  name: string,
  content: string,
  inputDigest: string,
  status: PackageBuildResult['status'] = 'built',
): Promise<PackageBuildResult> {
  const buildDir = await mkdtemp(join(scratch, `${name}-`));
  const bytes = await writeApk({
    name,
    version: '1.0.0-r0',
    arch: 'x86_64',
    description: 'publish fixture',
    url: '',
    license: 'Apache-2.0',
    files: [{ path: `usr/share/${name}/content`, type: 'file', mode: 0o644, content: Buffer.from(content) }],
    signingKeyPath: join(env.KILN_STATE, 'keys', 'kiln.rsa'),
    mtime: 0,
  });
  const file = `${name}-1.0.0-r0.apk`;
  await writeFile(join(buildDir, file), bytes);
  return {
    name,
    version: '1.0.0',
    epoch: 0,
    arch: 'x86_64',
    inputDigest: sha256hex(inputDigest),
    ownDigest: sha256hex(`${name} own`),
    status,
    buildDir,
    apks: [{ file, sha256: sha256hex(bytes) }],
    durationMs: 0,
  };
}

const publish = (b: PackageBuildResult) => run(publishPackage, { snapshotDir, build: b });
const indexNames = async () =>
  (await parseApkIndex(await readFile(join(repo, 'APKINDEX.tar.gz')))).map((e) => `${e.name}-${e.version}`);

/** Every file of the repository directory (the index, the APKs and kiln's records) with its bytes. */
async function repositoryState(): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const e of await readdir(repo, { withFileTypes: true, recursive: true }))
    if (e.isFile())
      out[join(e.parentPath, e.name).slice(repo.length)] = sha256hex(await readFile(join(e.parentPath, e.name)));
  return out;
}

describe('publishing over a published APK', () => {
  let first: PackageBuildResult;
  let published: Record<string, string>;
  beforeAll(async () => {
    first = await build('pub-fixed', 'first build\n', 'inputs one');
    await publish(first);
    published = await repositoryState();
  });

  it('publishes a new build: APK, index entry and record', async () => {
    expect(published['/pub-fixed-1.0.0-r0.apk']).toBe(first.apks[0]!.sha256);
    expect(await indexNames()).toEqual(['pub-fixed-1.0.0-r0']);
  });

  it('refuses, non-retryably, a build with other bytes under the same file name, naming the file and the fix', async () => {
    const other = await build('pub-fixed', 'second build, other bytes\n', 'inputs two');
    const err = await publish(other).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ApplicationFailure);
    const failure = err as ApplicationFailure;
    expect(failure.type).toBe('ArtifactImmutable');
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toMatch(
      /^pub-fixed-1\.0\.0-r0\.apk is already published in \S+ with other bytes \(sha256 [0-9a-f]{64}, this build [0-9a-f]{64}\): a published APK never changes \(fix: bump package\.epoch of pub-fixed to 1 to publish a new build\)$/,
    );
    expect(await repositoryState()).toEqual(published);
  });

  it('changes nothing for a build with the same bytes, or one that was only compared (not-reproducible)', async () => {
    await publish(await build('pub-fixed', 'first build\n', 'inputs three'));
    await publish(await build('pub-fixed', 'a rebuild that differs\n', 'inputs one', 'not-reproducible'));
    expect(await repositoryState()).toEqual(published);
  });
});

describe('publishers at once', () => {
  it('never drop an APK from the index: every package published concurrently is listed, once', async () => {
    const names = Array.from({ length: 8 }, (_, i) => `pub-par-${i}`);
    const builds = await Promise.all(names.map((n) => build(n, `${n}\n`, `${n} inputs`)));
    await Promise.all(builds.map(publish));
    expect((await indexNames()).sort()).toEqual(['pub-fixed', ...names].map((n) => `${n}-1.0.0-r0`).sort());
  });
});
