// The toolchain repository made from Debian's .debs, checked in its index and then used by the real
// melange (bubblewrap runner): a C program compiled with build-base, packaged, and tested. The .debs
// and their conversions are cached outside the state directory, so after the first run on a machine
// this test spends its time in melange.
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { splitGzipMembers } from '../../../apk/reader.js';
import { resolveTool } from '../../../adapters/toolchain.js';
import { loadConfig } from '../../../config/config.js';
import { parseApkIndex, type ApkIndexEntry } from '../../../domain/apkindex.js';
import { readTar } from '../../../domain/tar.js';
import { bootstrapRepository } from '../../../setup/bootstrap-repo.js';
import { toolchainRepository } from '../../../setup/toolchain.js';

const ARCH = 'x86_64';
const config = loadConfig();
let state: string;
let repo: string;
let index: Map<string, ApkIndexEntry>;
let firstRun: string[];

beforeAll(async () => {
  state = await mkdtemp(join(tmpdir(), 'kiln-toolchain-'));
  await bootstrapRepository({ config, stateDir: state, arch: ARCH, log: () => undefined });
  firstRun = [];
  const started = Date.now();
  repo = await toolchainRepository({ config, stateDir: state, arch: ARCH, log: (s) => firstRun.push(s) });
  console.log(`toolchain repository: ${Date.now() - started} ms\n${firstRun.join('\n')}`);
  index = new Map((await parseApkIndex(await readFile(join(repo, 'APKINDEX.tar.gz')))).map((e) => [e.name, e]));
});
afterAll(async () => {
  if (!process.env.KILN_KEEP_TEST_STATE) await rm(state, { recursive: true, force: true });
});

const keys = () => join(state, 'keys');

describe('toolchainRepository', () => {
  it('indexes build-base and the C toolchain it depends on', () => {
    expect(index.get('build-base')?.dependencies).toEqual(['binutils', 'coreutils', 'gcc', 'libc6-dev', 'make', 'tar']);
    for (const name of [
      'gcc-12',
      'cpp-12',
      'binutils-x86-64-linux-gnu',
      'libc6',
      'libc6-dev',
      'linux-libc-dev',
      'wget',
    ])
      expect(index.has(name), name).toBe(true);
    expect(index.get('gcc')?.provides).toEqual(expect.arrayContaining(['cmd:gcc=12.2.0-r0', 'cmd:cc=12.2.0-r0']));
    expect(index.get('libc6')?.provides).toEqual(
      expect.arrayContaining(['so:libc.so.6=6', 'so:ld-linux-x86-64.so.2=2', 'so:libm.so.6=6']),
    );
    expect(index.get('libc6')?.origin).toBe('glibc');
    expect(index.get('libc6')?.dependencies).toEqual(['kiln-baselayout', 'libgcc-s1']);
  });

  it('supersedes the bootstrap busybox and leaves the applet names to it', () => {
    expect(index.get('busybox')?.version).toBe(`${index.get('busybox')!.version.replace(/-r\d+$/, '')}-r1`);
    expect(index.get('busybox')?.provides).toContain(`cmd:sh=${index.get('busybox')!.version}`);
    expect(index.get('binutils-x86-64-linux-gnu')?.provides.some((p) => p.startsWith('cmd:ar='))).toBe(false);
    expect(index.get('wget')?.provides.some((p) => p.startsWith('cmd:wget='))).toBe(false);
  });

  it('puts Debian /lib under /usr/lib and adds the /lib64 link the ELF interpreter path needs', async () => {
    const apk = await readFile(join(repo, `libc6-${index.get('libc6')!.version}.apk`));
    const data = await readTar(gunzipSync(splitGzipMembers(apk)[2]!));
    const paths = new Map(data.map((e) => [e.path.replace(/\/$/, ''), e]));
    expect(paths.get('usr/lib/x86_64-linux-gnu/libc.so.6')?.type).toBe('0');
    expect(paths.get('lib64')).toMatchObject({ type: '2', linkname: 'usr/lib64' });
    expect(paths.get('usr/lib64/ld-linux-x86-64.so.2')).toMatchObject({
      type: '2',
      linkname: '/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2',
    });
    expect([...paths.keys()].some((p) => p === 'lib' || p.startsWith('lib/') || p.startsWith('usr/share/man/'))).toBe(
      false,
    );
  });

  it('is up to date the second time, without apt', async () => {
    const log: string[] = [];
    const started = Date.now();
    await toolchainRepository({ config, stateDir: state, arch: ARCH, log: (s) => log.push(s) });
    expect(log.join('\n')).toMatch(/toolchain repository up to date/);
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});

describe('melange builds C with build-base', () => {
  it('compiles, links libm, packages and tests a program', async () => {
    const melange = resolveTool('melange', config.tools);
    const work = await mkdtemp(join(tmpdir(), 'kiln-melange-c-'));
    try {
      await writeFile(
        join(work, 'hello-c.yaml'),
        [
          'package:',
          '  name: hello-c',
          '  version: 0.1.0',
          '  epoch: 0',
          '  description: a C program built with the toolchain repository',
          '  copyright:',
          '    - license: Apache-2.0',
          'environment:',
          '  contents:',
          '    packages: [build-base, busybox]',
          'pipeline:',
          '  - runs: |',
          "      cat > hello.c <<'C'",
          '      #include <math.h>',
          '      #include <stdio.h>',
          '      int main(int argc, char **argv) { (void)argv; printf("hello from C, sqrt(16) = %.1f\\n", sqrt(16.0 * argc)); return 0; }',
          '      C',
          '      cc -O2 -o hello-c hello.c -lm',
          '      ./hello-c',
          '      install -Dm755 hello-c "${{targets.destdir}}/usr/bin/hello-c"',
          'test:',
          '  environment:',
          '    contents:',
          '      packages: [busybox]',
          '  pipeline:',
          "    - runs: hello-c | grep -q 'sqrt(16) = 4.0'",
          '',
        ].join('\n'),
      );
      const repos = [
        '-r',
        join(state, 'bootstrap'),
        '-r',
        join(state, 'toolchain'),
        '-k',
        join(keys(), 'kiln.rsa.pub'),
      ];
      const out = join(work, 'packages');
      const started = Date.now();
      const build = await execa(
        melange,
        [
          'build',
          join(work, 'hello-c.yaml'),
          '--runner',
          'bubblewrap',
          '--arch',
          ARCH,
          ...repos,
          '--signing-key',
          join(keys(), 'kiln.rsa'),
          '--out-dir',
          out,
        ],
        { all: true, reject: false, cwd: work, env: { SOURCE_DATE_EPOCH: '0' } },
      );
      expect(build.exitCode, build.all).toBe(0);
      console.log(`melange build with build-base: ${Date.now() - started} ms`);
      expect(build.all).toContain('hello from C, sqrt(16) = 4.0');
      const apk = join(out, ARCH, 'hello-c-0.1.0-r0.apk');
      expect(existsSync(apk)).toBe(true);
      // melange's own analysis of the ELF it built: the C library and the loader, from libc6.
      const pkginfo = (await readTar(gunzipSync(splitGzipMembers(await readFile(apk))[1]!)))
        .find((e) => e.path === '.PKGINFO')!
        .data.toString();
      expect(pkginfo).toMatch(/^depend = so:libc\.so\.6$/m);
      expect(pkginfo).toMatch(/^depend = so:libm\.so\.6$/m);
      expect(pkginfo).toMatch(/^depend = so:ld-linux-x86-64\.so\.2$/m);

      const test = await execa(
        melange,
        ['test', join(work, 'hello-c.yaml'), '--runner', 'bubblewrap', '--arch', ARCH, ...repos, '-r', out],
        { all: true, reject: false, cwd: work, env: { TMPDIR: work } },
      );
      expect(test.exitCode, test.all).toBe(0);
      expect(test.all).toMatch(/installing libc6 /);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
});
