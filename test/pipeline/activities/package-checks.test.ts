// Package checks on real melange (bubblewrap) builds: melange test, the SBOM and signature every
// APK must carry, the ABI guard with real ELF shared objects against a published repository, and
// CVE policy from a secdb feed (file and URL).
import { mkdtempSync } from 'node:fs';
import { copyFile, cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { generateKeyPairSync } from 'node:crypto';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { writeApk, type ApkFile } from '../../../apk/writer.js';
import { readApk, splitGzipMembers } from '../../../apk/reader.js';
import { buildPackage, type PackageBuildResult } from '../../../activities/package-build.js';
import { testPackage } from '../../../activities/package-test.js';
import { checkPackage } from '../../../activities/package-check.js';
import { publishPackage } from '../../../activities/package-publish.js';
import { snapshotCatalog } from '../../../activities/snapshot.js';
import { configWith, type KilnConfig } from '../../../config/config.js';
import { parseApkIndex } from '../../../domain/apkindex.js';
import { readTar } from '../../../domain/tar.js';
import { FIXTURES } from '../../fixtures/paths.js';
import { BZIP2, ZLIB, withSoname } from '../../fixtures/elf.js';
import { failureOf as failure } from '../../failure-of.js';

// The shared test services' settings, as the worker's configuration: activities get it, process.env is left alone.
// One scratch dir for this file, removed at the end. It is also the tools' TMPDIR: melange test
// (0.58) leaves each bubblewrap guest rootfs in $TMPDIR.
const scratch = mkdtempSync(join(tmpdir(), 'kiln-package-checks-'));
const env = inject('kilnEnv');
const config = configWith({ ...env, TMPDIR: scratch });
// Failing activities are the point of several cases; their WARN lines would only be noise.
const activities = new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });
const run = <I, R>(fn: (config: KilnConfig, input: I) => Promise<R>, input: I): Promise<R> =>
  activities.run(fn, config, input) as Promise<R>;

afterAll(() => rm(scratch, { recursive: true, force: true }));
const temp = (prefix: string) => mkdtemp(join(scratch, `${prefix}-`));

/** A scratch copy of a fixture catalog, for cases that edit it. */
async function catalogCopy(fixture: string): Promise<string> {
  const dir = await temp(fixture);
  await cp(join(FIXTURES, fixture), dir, { recursive: true });
  return dir;
}
async function editFile(path: string, edit: (text: string) => string): Promise<void> {
  await writeFile(path, edit(await readFile(path, 'utf8')));
}
const snapshot = async (catalogDir: string) => (await snapshotCatalog({ ...config, catalogDir }, { catalogDir })).dir;
const build = (snapshotDir: string, name: string) =>
  run(buildPackage, { snapshotDir, name, arch: 'x86_64', dependencyDigests: {} });

/** The same package re-made with kiln's APK writer, its data files edited: what a tampered APK looks like. */
async function tampered(
  b: PackageBuildResult,
  signingKeyPath: string,
  edit: (files: ApkFile[]) => ApkFile[],
): Promise<PackageBuildResult> {
  const file = `${b.name}-${b.version}-r${b.epoch}.apk`;
  const members = splitGzipMembers(await readFile(join(b.buildDir, file)));
  const files: ApkFile[] = (await readTar(gunzipSync(members[members.length - 1]!)))
    .filter((e) => e.type === '0')
    .map((e) => ({ path: e.path, type: 'file', mode: e.path.startsWith('usr/bin/') ? 0o755 : 0o644, content: e.data }));
  const dir = await temp('tampered');
  const apk = await writeApk({
    name: b.name,
    version: `${b.version}-r${b.epoch}`,
    arch: b.arch,
    description: 'tampered',
    url: '',
    license: 'Apache-2.0',
    files: edit(files),
    signingKeyPath,
    mtime: 0,
  });
  await writeFile(join(dir, file), apk);
  return { ...b, buildDir: dir, apks: [{ file, sha256: '' }] };
}

describe('melange test, SBOM, signature and CVEs', () => {
  let snap: string;
  let tested: PackageBuildResult;
  let failtest: PackageBuildResult;
  beforeAll(async () => {
    snap = await snapshot(join(FIXTURES, 'checks-pkg'));
    tested = await build(snap, 'chk-tested');
    failtest = await build(snap, 'chk-failtest');
  });

  it('runs melange test against the just-built, unpublished APKs', async () => {
    const result = await run(testPackage, { snapshotDir: snap, build: tested });
    expect(result.tested).toBe(true);
    expect(await readFile(result.logFile!, 'utf8')).toMatch(/melange test/);
  });

  it('fails a package whose test fails, naming the package and saying its tests failed', async () => {
    const err = await failure(run(testPackage, { snapshotDir: snap, build: failtest }));
    expect(err.type).toBe('PackageTestFailed');
    expect(err.nonRetryable).toBe(true);
    expect(err.message).toMatch(
      /^chk-failtest 1\.0\.0-r0 \(x86_64\): its tests failed \(test: section of packages\/chk-failtest\.yaml\)/,
    );
    // melange's own words follow, with its log.
    expect(err.message).toMatch(
      /melange test failed with exit code \d+; log: \S+chk-failtest-1\.0\.0-r0-x86_64\.test\.log/,
    );
  });

  it('does not test a package without a test: section', async () => {
    const none = { ...tested, name: 'chk-lint' };
    expect(await run(testPackage, { snapshotDir: snap, build: none })).toEqual({ tested: false });
  });

  it("applies melange's required lints: a package that installs into /bin fails with the lint's words", async () => {
    const err = await failure(build(snap, 'chk-lint'));
    expect(err.message).toMatch(/usrmerge/);
  });

  it('finds the SBOM melange packed into the APK, checks the signature, and reports CVEs (policy report)', async () => {
    const checks = await run(checkPackage, { snapshotDir: snap, build: tested });
    expect(checks.sbom).toEqual({
      file: 'var/lib/db/sbom/chk-tested-1.0.0-r0.spdx.json',
      spdxVersion: 'SPDX-2.3',
      packages: expect.any(Number),
    });
    expect(checks.signature).toEqual({ key: 'kiln.rsa.pub' });
    expect(checks.abi).toEqual({ verdict: 'first-build', removed: [], added: [], rebuild: [] });
    // 1.0.0-r1 and 1.2.0-r0 both list CVE-2026-0001: the earliest fix is the one to take. "0" means never affected.
    expect(checks.cvePolicy).toBe('report');
    expect(checks.cves).toEqual([
      { id: 'CVE-2026-0001', fixedIn: '1.0.0-r1' },
      { id: 'CVE-2026-0002', fixedIn: '1.2.0-r0' },
    ]);
    const doc = JSON.parse(
      (await readApk(join(tested.buildDir, 'chk-tested-1.0.0-r0.apk'))).sboms.get(checks.sbom.file)!.toString(),
    ) as { name: string; packages: unknown[] };
    expect(doc.name).toBe('apk-chk-tested-1.0.0-r0');
    expect(doc.packages).toContainEqual(
      expect.objectContaining({
        SPDXID: 'SPDXRef-Package-apk-chk-tested-1.0.0-r0',
        name: 'chk-tested',
        versionInfo: '1.0.0-r0',
      }),
    );
  });

  it('rejects a tampered APK: SBOM removed, SBOM for another version, data swapped after signing, signed by a key outside the keyring', async () => {
    const key = join(env.KILN_STATE, 'keys', 'kiln.rsa');
    const sbom = 'var/lib/db/sbom/chk-tested-1.0.0-r0.spdx.json';
    const without = await tampered(tested, key, (files) => files.filter((f) => f.path !== sbom));
    let err = await failure(run(checkPackage, { snapshotDir: snap, build: without }));
    expect(err.type).toBe('SbomInvalid');
    expect(err.nonRetryable).toBe(true);
    expect(err.message).toMatch(
      /chk-tested-1\.0\.0-r0\.apk: SBOM var\/lib\/db\/sbom\/chk-tested-1\.0\.0-r0\.spdx\.json is missing/,
    );

    const other = await tampered(tested, key, (files) =>
      files.map((f) =>
        f.path === sbom ? { ...f, content: Buffer.from(f.content!.toString().replaceAll('1.0.0-r0', '0.9.0-r0')) } : f,
      ),
    );
    err = await failure(run(checkPackage, { snapshotDir: snap, build: other }));
    expect(err.message).toMatch(/has no package entry with name chk-tested and versionInfo 1\.0\.0-r0/);

    // melange's signed control member kept, the data member swapped for the one without SBOM.
    const file = 'chk-tested-1.0.0-r0.apk';
    const [sig, control] = splitGzipMembers(await readFile(join(tested.buildDir, file)));
    const swapped = await temp('swapped');
    await writeFile(
      join(swapped, file),
      Buffer.concat([sig!, control!, splitGzipMembers(await readFile(join(without.buildDir, file)))[2]!]),
    );
    err = await failure(run(checkPackage, { snapshotDir: snap, build: { ...tested, buildDir: swapped, apks: [] } }));
    expect(err.type).toBe('SignatureInvalid');
    expect(err.message).toMatch(/data does not match the signed \.PKGINFO datahash/);

    const foreign = join(await temp('otherkey'), 'other.rsa');
    await writeFile(
      foreign,
      generateKeyPairSync('rsa', {
        modulusLength: 2048,
        privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
        publicKeyEncoding: { type: 'spki', format: 'pem' },
      }).privateKey,
    );
    err = await failure(run(checkPackage, { snapshotDir: snap, build: await tampered(tested, foreign, (f) => f) }));
    expect(err.type).toBe('SignatureInvalid');
    expect(err.message).toMatch(/signed by other\.rsa\.pub, which is not in catalog\.yaml keyring/);
  });

  it('policy fail: an unfixed CVE fails the package with the ids and fixed-in versions; never-affected ids pass', async () => {
    const dir = await catalogCopy('checks-pkg');
    await editFile(join(dir, 'catalog.yaml'), (t) => t.replace('policy: report', 'policy: fail'));
    const strict = await snapshot(dir);
    const err = await failure(run(checkPackage, { snapshotDir: strict, build: tested }));
    expect(err.type).toBe('VulnerabilityPolicy');
    expect(err.nonRetryable).toBe(true);
    expect(err.message).toMatch(
      /^chk-tested 1\.0\.0-r0 has known, unfixed vulnerabilities: CVE-2026-0001 \(fixed in 1\.0\.0-r1\), CVE-2026-0002 \(fixed in 1\.2\.0-r0\)/,
    );
    // chk-failtest's only entry is under "0" (not affected).
    expect(await run(checkPackage, { snapshotDir: strict, build: failtest })).toMatchObject({
      cves: [],
      cvePolicy: 'fail',
    });
  });

  describe('feeds', () => {
    let server: Server;
    let base: string;
    beforeAll(async () => {
      const feed = await readFile(join(FIXTURES, 'checks-pkg', 'security.json'));
      server = createServer((req, res) => {
        if (req.url === '/security.json') res.end(feed);
        else res.writeHead(404).end('not found');
      });
      await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
      base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    });
    afterAll(() => new Promise<void>((done) => server.close(() => done())));

    const withFeed = async (feed: string, content?: string) => {
      const dir = await catalogCopy('checks-pkg');
      await editFile(join(dir, 'catalog.yaml'), (t) => t.replace('feed: security.json', `feed: "${feed}"`));
      if (content !== undefined) await writeFile(join(dir, feed), content);
      return snapshot(dir);
    };

    it('reads a feed from an http(s) URL', async () => {
      expect(
        (await run(checkPackage, { snapshotDir: await withFeed(`${base}/security.json`), build: tested })).cves.map(
          (c) => c.id,
        ),
      ).toEqual(['CVE-2026-0001', 'CVE-2026-0002']);
    });

    it('rejects a feed that is missing or has the wrong shape, naming catalog.yaml vulnerabilities.feed', async () => {
      let err = await failure(run(checkPackage, { snapshotDir: await withFeed(`${base}/gone.json`), build: tested }));
      expect(err.type).toBe('FeedInvalid');
      expect(err.nonRetryable).toBe(true);
      expect(err.message).toMatch(/^catalog\.yaml: vulnerabilities\.feed: http:\/\/\S+\/gone\.json answered 404/);
      err = await failure(
        run(checkPackage, {
          snapshotDir: await withFeed('broken.json', '{"packages": [{"pkg": {"secfixes": {"1.0-r0": "CVE-1"}}}]}'),
          build: tested,
        }),
      );
      expect(err.message).toMatch(
        /^catalog\.yaml: vulnerabilities\.feed: broken\.json is not a secdb feed: packages\[0\]\.pkg\.name: must be a string; packages\[0\]\.pkg\.secfixes\["1\.0-r0"\]: must be a list of ids/,
      );
      err = await failure(run(checkPackage, { snapshotDir: await withFeed('missing.json'), build: tested }));
      expect(err.message).toMatch(/^catalog\.yaml: vulnerabilities\.feed: missing\.json does not exist/);
      err = await failure(
        run(checkPackage, { snapshotDir: await withFeed('truncated.json', '{"packages": ['), build: tested }),
      );
      expect(err.message).toMatch(/^catalog\.yaml: vulnerabilities\.feed: truncated\.json is not JSON/);
    });
  });
});

describe('ABI guard with real shared objects', () => {
  let dir: string;
  let lib: PackageBuildResult;
  beforeAll(async () => {
    // v1: zlib in chk-lib, bzip2 in its subpackage chk-lib-bz2.
    dir = await catalogCopy('checks-abi');
    await mkdir(join(dir, 'packages', 'chk-lib'));
    for (const so of [ZLIB, BZIP2]) await copyFile(so, join(dir, 'packages', 'chk-lib', basename(so)));
    const snap = await snapshot(dir);
    lib = await build(snap, 'chk-lib');
  });

  const setVersion = (v: string) =>
    editFile(join(dir, 'packages', 'chk-lib.yaml'), (t) => t.replace(/^ {2}version: .*$/m, `  version: ${v}`));

  it("records melange's so: provides of v1, a first build, and publishes it with a dependent", async () => {
    const provides = async (file: string) => (await readApk(join(lib.buildDir, file))).pkginfo.get('provides');
    expect(await provides('chk-lib-1.0.0-r0.apk')).toEqual(['so-ver:libz.so.1=1.0.0-r0', 'so:libz.so.1=1']);
    expect(await provides('chk-lib-bz2-1.0.0-r0.apk')).toEqual([
      'so-ver:libbz2.so.1.0=1.0.0-r0',
      'so:libbz2.so.1.0=1.0',
    ]);
    const snap = await snapshot(dir);
    expect(await run(testPackage, { snapshotDir: snap, build: lib })).toEqual({ tested: false });
    const checks = await run(checkPackage, { snapshotDir: snap, build: lib });
    expect(checks.abi).toEqual({
      verdict: 'first-build',
      removed: [],
      added: ['so:libbz2.so.1.0', 'so:libz.so.1'],
      rebuild: [],
    });
    expect(checks.cvePolicy).toBe('none');
    await run(publishPackage, { snapshotDir: snap, build: lib });
    const app = await build(snap, 'chk-app');
    await run(checkPackage, { snapshotDir: snap, build: app });
    await run(publishPackage, { snapshotDir: snap, build: app });
    const index = await parseApkIndex(
      await readFile(join(env.KILN_STATE, 'repo-checks-abi', 'x86_64', 'APKINDEX.tar.gz')),
    );
    expect(index.find((e) => e.name === 'chk-app')?.dependencies).toEqual(['busybox', 'so:libz.so.1']);
  });

  it('passes a new version that keeps every soname', async () => {
    await setVersion('1.0.1');
    const snap = await snapshot(dir);
    const checks = await run(checkPackage, { snapshotDir: snap, build: await build(snap, 'chk-lib') });
    expect(checks.abi).toEqual({ verdict: 'compatible', removed: [], added: [], rebuild: [] });
  });

  describe('v2: libz soname bumped to libz.so.2, libbz2 dropped from the subpackage', () => {
    let v2: PackageBuildResult;
    beforeAll(async () => {
      const sources = join(dir, 'packages', 'chk-lib');
      await writeFile(join(sources, 'libz.so.2.0.0'), withSoname(await readFile(ZLIB), 'libz.so.2'));
      await rm(join(sources, basename(ZLIB)));
      await rm(join(sources, basename(BZIP2)));
      await setVersion('2.0.0');
      v2 = await build(await snapshot(dir), 'chk-lib');
      expect((await readApk(join(v2.buildDir, 'chk-lib-2.0.0-r0.apk'))).pkginfo.get('provides')).toEqual([
        'so-ver:libz.so.2=2.0.0-r0',
        'so:libz.so.2=2',
      ]);
    });

    it('fails non-retryably, listing the removed sonames and the dependents to rebuild', async () => {
      const err = await failure(run(checkPackage, { snapshotDir: await snapshot(dir), build: v2 }));
      expect(err.type).toBe('AbiBreak');
      expect(err.nonRetryable).toBe(true);
      expect(err.message).toMatch(
        /^ABI break in chk-lib 2\.0\.0-r0 \(x86_64\): no longer provides so:libbz2\.so\.1\.0, so:libz\.so\.1 \(published chk-lib 1\.0\.0-r0, chk-lib-bz2 1\.0\.0-r0 did\); now provides so:libz\.so\.2\./,
      );
      // chk-app: published, D: so:libz.so.1; chk-tool: only in the catalog, runtime so:libbz2.so.1.0.
      expect(err.message).toMatch(/Rebuild against the new soname: chk-app, chk-tool\./);
      expect(err.message).toMatch(/abi\.allowedBreaks: - \{ package: chk-lib, version: 2\.0\.0, reason: "\.\.\." \}/);
      expect(err.details).toEqual([
        { removed: ['so:libbz2.so.1.0', 'so:libz.so.1'], added: ['so:libz.so.2'], rebuild: ['chk-app', 'chk-tool'] },
      ]);
    });

    it('passes as break-allowed when catalog.yaml abi.allowedBreaks names this package at this version', async () => {
      await editFile(
        join(dir, 'catalog.yaml'),
        (t) =>
          `${t}abi:\n  allowedBreaks:\n    - { package: chk-lib, version: 2.0.0, reason: "zlib 2 soname; dependents rebuilt" }\n`,
      );
      const checks = await run(checkPackage, { snapshotDir: await snapshot(dir), build: v2 });
      expect(checks.abi).toEqual({
        verdict: 'break-allowed',
        removed: ['so:libbz2.so.1.0', 'so:libz.so.1'],
        added: ['so:libz.so.2'],
        rebuild: ['chk-app', 'chk-tool'],
        reason: 'zlib 2 soname; dependents rebuilt',
      });
    });
  });
});
