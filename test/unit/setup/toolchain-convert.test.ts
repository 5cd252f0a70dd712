// .debs as the toolchain repository's APKs: a real .deb (made here with dpkg-deb) read, moved to
// the usrmerge layout and cached; then the repository's set decided from converted records.
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apkData } from '../../../apk/writer.js';
import { sha256hex } from '../../../domain/digest.js';
import { readTar } from '../../../domain/tar.js';
import {
  assertNoSharedPaths,
  BUILD_BASE,
  convertDeb,
  supersedingVersion,
  toolchainApks,
  type ConvertedDeb,
} from '../../../setup/toolchain-convert.js';
import { DEBIAN_ARCHS } from '../../../setup/toolchain-debian.js';

const x86 = DEBIAN_ARCHS.x86_64!;
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiln-convert-'));
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

/** A .deb built with dpkg-deb from a tree of files. */
async function deb(name: string, control: string, files: Record<string, string>): Promise<string> {
  const root = join(dir, `${name}-root`);
  await mkdir(join(root, 'DEBIAN'), { recursive: true });
  await writeFile(join(root, 'DEBIAN', 'control'), control);
  for (const [path, content] of Object.entries(files)) {
    await mkdir(join(root, path, '..'), { recursive: true });
    await writeFile(join(root, path), content, { mode: path.includes('bin/') ? 0o755 : 0o644 });
  }
  const out = join(dir, `${name}.deb`);
  await execa('dpkg-deb', ['--root-owner-group', '--build', root, out]);
  return out;
}

describe('convertDeb', () => {
  it('reads a .deb into the usrmerge layout, decides its provides, and keeps the result by SHA-256', async () => {
    const path = await deb(
      'hello',
      'Package: hello\nVersion: 1:2.10-3\nArchitecture: amd64\nMaintainer: x <x@example.org>\nDescription: says hello\n friendly\n',
      {
        'bin/hello': '#!/bin/sh\necho hello\n',
        'usr/share/doc/hello/copyright': 'free text\n',
        'usr/share/man/man1/hello.1': '.TH hello\n',
      },
    );
    const sha = sha256hex(await readFile(path));
    const cache = join(dir, 'cache');
    const first = await convertDeb(path, sha, x86, cache);
    expect(first.deb.provides).toEqual(['cmd:hello=2.10-r0']);
    expect(first.deb.paths).toEqual([
      'usr/bin/hello',
      'usr/share/doc/hello/copyright',
      'var/lib/db/sbom/hello-2.10.spdx.json',
    ]);
    expect(first.deb.license).toBe('LicenseRef-Debian-hello');
    const entries = await readTar(gunzipSync(first.data.member));
    expect(entries.map((e) => e.path)).toEqual([
      'usr/',
      'usr/bin/',
      'usr/bin/hello',
      'usr/share/',
      'usr/share/doc/',
      'usr/share/doc/hello/',
      'usr/share/doc/hello/copyright',
      'var/',
      'var/lib/',
      'var/lib/db/',
      'var/lib/db/sbom/',
      'var/lib/db/sbom/hello-2.10.spdx.json',
    ]);
    // The SPDX document apko copies into an image's SBOM: the Debian package, version and purl.
    const sbom = JSON.parse(entries.at(-1)!.data.toString()) as {
      packages: { name: string; versionInfo: string; externalRefs: { referenceLocator: string }[] }[];
    };
    expect(sbom.packages[0]).toMatchObject({ name: 'hello', versionInfo: '1:2.10-3' });
    expect(sbom.packages[0]!.externalRefs[0]!.referenceLocator).toBe('pkg:deb/debian/hello@1%3A2.10-3?arch=amd64');
    expect((await readdir(cache)).sort()).toEqual([`${sha}.data.gz`, `${sha}.json`]);
    // Second time from the cache, byte for byte (the .deb is not read: it may even be gone).
    await rm(path);
    const again = await convertDeb(path, sha, x86, cache);
    expect(again.data.member.equals(first.data.member)).toBe(true);
    expect(again.deb).toEqual(first.deb);
  });
});

const record = (control: string, provides: string[] = [], paths: string[] = []): ConvertedDeb => ({
  control,
  provides,
  license: 'MIT',
  paths,
  size: 1,
  datahash: '',
  sonames: [],
  needed: [],
});

describe('toolchainApks', () => {
  const data = apkData([], 0);
  const converted = [
    record('Package: libc6\nVersion: 2.36-9\n', ['so:libc.so.6=6', 'so-ver:libc.so.6=2.36-r0']),
    record('Package: libc6-dev\nVersion: 2.36-9\nDepends: libc6 (= 2.36-9)\n'),
    record('Package: zlib1g\nVersion: 1:1.2.13.dfsg-1\nDepends: libc6\n', [
      'so:libz.so.1=1',
      'so-ver:libz.so.1=1.2.13-r0',
    ]),
    record('Package: binutils\nVersion: 2.40-2\nDepends: zlib1g\n', ['cmd:ar=2.40-r0', 'cmd:ld=2.40-r0']),
    record('Package: coreutils\nVersion: 9.1-1\n', ['cmd:install=9.1-r0', 'cmd:ls=9.1-r0']),
    record('Package: gcc\nVersion: 4:12.2.0-3\n'),
    record('Package: make\nVersion: 4.3-4.1\n'),
    record('Package: tar\nVersion: 1.34+dfsg-1.2\n'),
    record('Package: busybox\nVersion: 1:1.35.0-4+b1\nDepends: libc6\n', ['cmd:ls=1.35.0-r0', 'cmd:sh=1.35.0-r0']),
  ].map((deb) => ({ deb, data }));
  const apks = toolchainApks(
    converted,
    x86,
    '/keys/kiln.rsa',
    new Set(['busybox', 'cmd:ar', 'cmd:ls', 'cmd:sh']),
    new Map([['busybox', '1.35.0-r0']]),
  );
  const byName = new Map(apks.map((a) => [a.apk.name, a.apk]));

  it('depends on the baselayout and on packages of the closure', () => {
    expect(byName.get('binutils')?.depends).toEqual(['kiln-baselayout', 'zlib1g']);
    expect(byName.get('libc6-dev')?.depends).toEqual(['kiln-baselayout', 'libc6']);
  });

  it('provides sonames only of libraries a build links against', () => {
    expect(byName.get('libc6')?.provides).toEqual(['so:libc.so.6=6', 'so-ver:libc.so.6=2.36-r0']);
    expect(byName.get('zlib1g')?.provides).toEqual([]);
  });

  it('leaves the bootstrap names to the bootstrap, but supersedes a bootstrap package of its own name', () => {
    expect(byName.get('binutils')?.provides).toEqual(['cmd:ld=2.40-r0']);
    expect(byName.get('coreutils')?.provides).toEqual(['cmd:install=9.1-r0']);
    expect(byName.get('busybox')).toMatchObject({
      version: '1.35.0-r1',
      provides: ['cmd:ls=1.35.0-r1', 'cmd:sh=1.35.0-r1'],
    });
  });

  it('adds build-base depending on the C toolchain', () => {
    expect(byName.get('build-base')).toMatchObject({
      version: BUILD_BASE.version,
      depends: ['binutils', 'coreutils', 'gcc', 'libc6-dev', 'make', 'tar'],
    });
  });

  it('refuses a closure that lacks what build-base needs', () => {
    expect(() => toolchainApks(converted.slice(0, 3), x86, '/k')).toThrow(/build-base needs binutils/);
  });
});

describe('supersedingVersion', () => {
  it('keeps a version above the other, else takes the other one release up', () => {
    expect(supersedingVersion('1.36.1-r0', '1.35.0-r0')).toBe('1.36.1-r0');
    expect(supersedingVersion('1.35.0-r0', '1.35.0-r0')).toBe('1.35.0-r1');
    expect(supersedingVersion('1.34.0-r0', '1.35.0-r2')).toBe('1.35.0-r3');
  });
});

describe('assertNoSharedPaths', () => {
  it('refuses two packages installing one file', () => {
    const apk = (name: string, paths: string[]) => ({
      apk: {
        name,
        version: '1-r0',
        arch: 'x86_64',
        description: '',
        url: '',
        license: '',
        signingKeyPath: '',
        mtime: 0,
      },
      data: apkData([], 0),
      deb: record(`Package: ${name}\nVersion: 1\n`, [], paths),
    });
    expect(() => assertNoSharedPaths([apk('a', ['usr/bin/x']), apk('b', ['usr/bin/x'])])).toThrow(
      /a and b both install usr\/bin\/x/,
    );
    expect(() => assertNoSharedPaths([apk('a', ['usr/bin/x']), apk('b', ['usr/bin/y'])])).not.toThrow();
  });
});
