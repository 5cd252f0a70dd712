// Package checks on real melange builds: tests, ABI guard with real ELF shared objects, CVE
// reporting, and the SBOM and signature every published APK must carry.
import { copyFile, cp, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MockActivityEnvironment } from '@temporalio/testing';
import { catalogRebuild } from '../workflows/catalog-rebuild.js';
import type { RebuildSummary } from '../domain/summary.js';
import { REPO_ROOT } from '../activities/env.js';
import { checkPackage } from '../activities/package-checks.js';
import { writeApk } from '../activities/apk-writer.js';
import type { PackageBuildResult } from '../activities/packages.js';
import { connectTemporal, useKilnEnv, type TemporalHarness } from './harness.js';

const env = useKilnEnv();
let temporal: TemporalHarness;
let catalogDir: string;
const LIBDIR = '/usr/lib/x86_64-linux-gnu';

beforeAll(async () => {
  temporal = await connectTemporal(env);
  catalogDir = await mkdtemp(join(tmpdir(), 'kiln-checks-'));
  await cp(join(REPO_ROOT, 'test', 'fixtures', 'checks'), catalogDir, { recursive: true });
  // A real ELF shared object, so melange's scanner computes a real so: provide from its SONAME.
  await mkdir(join(catalogDir, 'packages', 'chk-lib'), { recursive: true });
  await copyFile(join(LIBDIR, 'libz.so.1.2.13'), join(catalogDir, 'packages', 'chk-lib', 'libz.so.1.2.13'));
});
afterAll(async () => temporal?.close());

async function rebuild(id: string): Promise<RebuildSummary> {
  const worker = await temporal.worker('checks');
  return worker.runUntil(temporal.client.workflow.execute(catalogRebuild, { taskQueue: 'checks', workflowId: `${id}-${Date.now()}`, args: [{ catalogDir }] }));
}
const pkg = (s: RebuildSummary, name: string) => s.packages.find((p) => p.name === name)!;

describe('package checks in a catalog rebuild', () => {
  let first: RebuildSummary;
  beforeAll(async () => {
    first = await rebuild('checks');
  });

  it('runs melange test: a passing test is reported, a failing one fails the package with its name', () => {
    expect(pkg(first, 'chk-tested')).toMatchObject({ status: 'built', tested: true, sbom: true, signedBy: 'kiln.rsa.pub' });
    const failed = pkg(first, 'chk-failtest');
    expect(failed.status).toBe('failed');
    expect(failed.error).toMatch(/tests of packages\/chk-failtest\.yaml failed/);
  });

  it("applies melange's required lints: a package that installs into /bin fails with the lint's words", () => {
    const lint = pkg(first, 'chk-lint');
    expect(lint.status).toBe('failed');
    expect(lint.error).toMatch(/usrmerge/);
  });

  it('reports known CVEs with the version that fixes them (policy report)', () => {
    expect(pkg(first, 'chk-tested').vulnerabilities).toEqual([{ id: 'CVE-2026-0001', fixedIn: '1.0.0-r1' }]);
  });

  it('records the soname a real shared library provides', () => {
    expect(pkg(first, 'chk-lib').abi).toMatchObject({ verdict: 'first-build' });
    expect(pkg(first, 'chk-app').status).toBe('built');
  });

  it('fails a build that drops a published soname, naming what to rebuild; an allowed break passes', async () => {
    // v2 ships another library: libz.so.1 disappears, libbz2.so.1.0 appears.
    await writeFile(join(catalogDir, 'packages', 'chk-lib', 'libz.so.1.2.13'), '');
    await cp(join(LIBDIR, 'libbz2.so.1.0.4'), join(catalogDir, 'packages', 'chk-lib', 'libbz2.so.1.0.4'));
    const { rm } = await import('node:fs/promises');
    await rm(join(catalogDir, 'packages', 'chk-lib', 'libz.so.1.2.13'));
    const config = join(catalogDir, 'packages', 'chk-lib.yaml');
    await writeFile(config, (await readFile(config, 'utf8')).replace('version: 1.0.0', 'version: 2.0.0'));

    const broken = await rebuild('checks-abi');
    const lib = pkg(broken, 'chk-lib');
    expect(lib.status).toBe('failed');
    expect(lib.error).toMatch(/ABI break in chk-lib 2\.0\.0-r0: so:libz\.so\.1 no longer provided/);
    expect(lib.error).toMatch(/Rebuild against the new soname: chk-app/);
    expect(lib.error).toMatch(/abi\.allowedBreaks/);
    expect(pkg(broken, 'chk-app')).toMatchObject({ status: 'blocked', blockedBy: 'chk-lib' });

    const catalogYaml = join(catalogDir, 'catalog.yaml');
    await writeFile(catalogYaml, `${await readFile(catalogYaml, 'utf8')}abi:\n  allowedBreaks:\n    - { package: chk-lib, version: 2.0.0, reason: "moved to bzip2" }\n`);
    const allowed = await rebuild('checks-abi-allowed');
    expect(pkg(allowed, 'chk-lib').status).toBe('built');
    expect(pkg(allowed, 'chk-lib').abi).toMatchObject({ verdict: 'break-allowed', removed: ['so:libz.so.1'], rebuild: ['chk-app'], reason: 'moved to bzip2' });
  });
});

describe('checkPackage on APKs that were not built by melange', () => {
  // A package made by hand with kiln's APK writer: signed, but without melange's SBOM.
  async function handMade(signingKeyPath: string): Promise<PackageBuildResult> {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-handmade-'));
    const apk = await writeApk({
      name: 'chk-tested', version: '1.0.0-r0', arch: 'x86_64', description: 'no sbom', url: '', license: 'MIT',
      files: [{ path: 'usr/share/x', type: 'file', mode: 0o644, content: Buffer.from('x') }], signingKeyPath, mtime: 0,
    });
    await writeFile(join(dir, 'chk-tested-1.0.0-r0.apk'), apk);
    return { name: 'chk-tested', version: '1.0.0', epoch: 0, arch: 'x86_64', inputDigest: 'x', ownDigest: 'x', status: 'built', buildDir: dir, apks: [], durationMs: 0 };
  }
  const snapshotDir = () => first.catalogDir;
  let first: { catalogDir: string };
  beforeAll(async () => {
    // any snapshot of the fixture: checkPackage reads settings (keyring, feed) from it
    const { snapshotCatalog } = await import('../activities/snapshot.js');
    const snap = (await new MockActivityEnvironment().run(snapshotCatalog, { catalogDir: join(REPO_ROOT, 'test', 'fixtures', 'checks') })) as { dir: string };
    first = { catalogDir: snap.dir };
  });

  it('rejects a package without its SBOM', async () => {
    const build = await handMade(join(env.KILN_STATE, 'keys', 'kiln.rsa'));
    await expect(new MockActivityEnvironment().run(checkPackage, { snapshotDir: snapshotDir(), build })).rejects.toThrow(/SBOM var\/lib\/db\/sbom\/chk-tested-1\.0\.0-r0\.spdx\.json is missing/);
  });

  it('rejects a package signed by a key outside the keyring', async () => {
    const other = join(await mkdtemp(join(tmpdir(), 'kiln-otherkey-')), 'other.rsa');
    const { generateKeyPairSync } = await import('node:crypto');
    await writeFile(other, generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs1', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } }).privateKey);
    const build = await handMade(other);
    await expect(new MockActivityEnvironment().run(checkPackage, { snapshotDir: snapshotDir(), build })).rejects.toThrow(/signed by other\.rsa\.pub, which is not in catalog\.yaml keyring/);
  });
});
