// Only the catalog's keyring is trusted, on real melange and apko: the bootstrap packages served
// from a repository whose APKINDEX is unsigned, signed by a foreign RSA key, or re-signed by another
// key under the name of the keyring's key. Package builds and image assembly both refuse each, with
// SignatureInvalid naming the repository and the keys; the genuine index builds.
import { generateKeyPairSync } from 'node:crypto';
import { copyFile, cp, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { assembleImage } from '../../../activities/image-assemble.js';
import { buildPackage } from '../../../activities/package-build.js';
import { snapshotCatalog } from '../../../activities/snapshot.js';
import { melangeIndex } from '../../../adapters/melange.js';
import { splitGzipMembers } from '../../../apk/reader.js';
import type { KilnConfig } from '../../../config/config.js';
import { kilnTestConfig, kilnTestEnv } from '../harness.js';
import { FIXTURES } from '../../fixtures/paths.js';
import { failureOf } from '../../failure-of.js';

const env = kilnTestEnv();
const activities = new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });
const run = <I, R>(fn: (config: KilnConfig, input: I) => Promise<R>, config: KilnConfig, input: I): Promise<R> =>
  activities.run(fn, config, input) as Promise<R>;

let scratch: string;
const bootstrap = () => join(env.KILN_STATE, 'bootstrap', 'x86_64');

/** A copy of the bootstrap packages at `<scratch>/<name>/x86_64`, with an index made by `index`. */
async function repository(name: string, index: (dir: string, apks: string[]) => Promise<void>): Promise<string> {
  const dir = join(scratch, name, 'x86_64');
  await mkdir(dir, { recursive: true });
  const apks = (await readdir(bootstrap())).filter((f) => f.endsWith('.apk'));
  for (const apk of apks) await copyFile(join(bootstrap(), apk), join(dir, apk));
  await index(
    dir,
    apks.map((a) => join(dir, a)),
  );
  return join(scratch, name);
}

/** An RSA key pair (PKCS#1, as melange signs with) at `<dir>/<file>` and `<file>.pub`. */
async function rsaKey(dir: string, file: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  await writeFile(join(dir, file), privateKey, { mode: 0o600 });
  await writeFile(join(dir, `${file}.pub`), publicKey);
  return join(dir, file);
}

/** Signed with `key` by the real `melange index`. */
const signedWith = (key: string) => async (dir: string, apks: string[]) => {
  const config = kilnTestConfig(env);
  await melangeIndex(config.tools, {
    output: join(dir, 'APKINDEX.tar.gz'),
    arch: 'x86_64',
    apks,
    signingKey: key,
    logFile: join(scratch, 'index.log'),
  });
};

const repos: Record<string, string> = {};
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'kiln-untrusted-'));
  // The bootstrap index without its signature member: the index itself, unsigned.
  repos.unsigned = await repository('unsigned', async (dir) => {
    const members = splitGzipMembers(await readFile(join(bootstrap(), 'APKINDEX.tar.gz')));
    expect(members.length).toBe(2);
    await writeFile(join(dir, 'APKINDEX.tar.gz'), members[1]!);
  });
  repos.foreign = await repository('foreign', signedWith(await rsaKey(join(scratch, 'keys'), 'foreign.rsa')));
  // Another key, saved under the keyring key's own file name.
  repos.impostor = await repository('impostor', signedWith(await rsaKey(join(scratch, 'impostor-key'), 'kiln.rsa')));
  repos.genuine = join(env.KILN_STATE, 'bootstrap');
});
afterAll(() => rm(scratch, { recursive: true, force: true }));

/** The fixture catalog reading `repository`, in a copy of its own (its own snapshot). */
async function snapshotFor(variant: string): Promise<{ config: KilnConfig; snapshotDir: string }> {
  const dir = join(scratch, `catalog-${variant}`);
  await cp(join(FIXTURES, 'untrusted'), dir, { recursive: true });
  await writeFile(join(dir, 'catalog.yaml'), `${await readFile(join(dir, 'catalog.yaml'), 'utf8')}# ${variant}\n`);
  const config = kilnTestConfig(env, { KILN_TEST_REPOSITORY: repos[variant]! });
  const snapshot = await run(snapshotCatalog, { ...config, catalogDir: dir }, { catalogDir: dir });
  return { config, snapshotDir: snapshot.dir };
}

const cases: [string, RegExp][] = [
  ['unsigned', /its index \S+\/unsigned\/x86_64\/APKINDEX\.tar\.gz is not signed/],
  [
    'foreign',
    /its index \S+\/foreign\/x86_64\/APKINDEX\.tar\.gz is signed by foreign\.rsa\.pub, which is not in catalog\.yaml keyring \(kiln\.rsa\.pub\)/,
  ],
  [
    'impostor',
    /its index \S+\/impostor\/x86_64\/APKINDEX\.tar\.gz is signed under the name kiln\.rsa\.pub, but the signature does not verify/,
  ],
];

describe.each(cases)('a repository whose index is %s', (variant, reason) => {
  let snapshot: { config: KilnConfig; snapshotDir: string };
  beforeAll(async () => {
    snapshot = await snapshotFor(variant);
  });

  it('fails the package build (melange), naming the repository and the keys', async () => {
    const err = await failureOf(
      run(buildPackage, snapshot.config, {
        snapshotDir: snapshot.snapshotDir,
        name: 'trust-probe',
        arch: 'x86_64',
        dependencyDigests: {},
      }),
    );
    expect(err.type).toBe('SignatureInvalid');
    expect(err.nonRetryable).toBe(true);
    expect(err.message).toMatch(
      new RegExp(`^melange build failed with exit code 1: repository \\S+/${variant} is not trusted: `),
    );
    expect(err.message).toMatch(reason);
    expect(err.message).toMatch(/fix: sign the index with a key in catalog\.yaml keyring/);
  });

  it('fails image assembly (apko), naming the repository and the keys', async () => {
    const err = await failureOf(
      run(assembleImage, snapshot.config, { snapshotDir: snapshot.snapshotDir, name: 'trust-probe' }),
    );
    expect(err.type).toBe('SignatureInvalid');
    expect(err.nonRetryable).toBe(true);
    expect(err.message).toMatch(
      new RegExp(`^apko build failed with exit code 1: repository \\S+/${variant} is not trusted: `),
    );
    expect(err.message).toMatch(reason);
  });
});

describe('the genuine index, signed by the keyring key', () => {
  it('builds the package and assembles the image from the same fixture', async () => {
    const { config, snapshotDir } = await snapshotFor('genuine');
    const built = await run(buildPackage, config, {
      snapshotDir,
      name: 'trust-probe',
      arch: 'x86_64',
      dependencyDigests: {},
    });
    expect(built.status).toBe('built');
    const image = await run(assembleImage, config, { snapshotDir, name: 'trust-probe' });
    expect(image.digest).toMatch(/^sha256:/);
  });
});
