// The offline bootstrap repository, checked byte by byte and then used by the real apko and
// melange (bubblewrap runner), which is what the rest of kiln relies on.
import { verify } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { splitGzipMembers } from '../../../apk/writer.js';
import { resolveTool, type ToolName } from '../../../adapters/toolchain.js';
import { loadConfig } from '../../../config/config.js';
import { sha1, sha256hex } from '../../../domain/digest.js';
import { readTar, type TarFile } from '../../../domain/tar.js';
import { bootstrapRepository, upstreamVersion, usrmergeAppletPaths } from '../../../setup/bootstrap-repo.js';

/** A PEM header pattern, built so this file never contains a literal key marker. */
const pemHeader = (label: string) => new RegExp(`^${'-'.repeat(5)}BEGIN ${label}${'-'.repeat(5)}`);

const ARCH = 'x86_64';
/** Where the tools are: the test's environment (KILN_<TOOL>, KILN_TOOLS_DIR), read through the config. */
const config = loadConfig();
let state: string;
let repo: string;
let lines: string[];

beforeAll(async () => {
  state = await mkdtemp(join(tmpdir(), 'kiln-bootstrap-'));
  lines = [];
  repo = await bootstrapRepository({ config, stateDir: state, arch: ARCH, log: (s) => lines.push(s) });
});
afterAll(async () => {
  if (!process.env.KILN_KEEP_TEST_STATE) await rm(state, { recursive: true, force: true });
});

const keys = () => join(state, 'keys');

/** The real tool or a failure that says how to get it: these tests must not pass by skipping. */
function tool(name: ToolName): string {
  let path: string;
  try {
    path = resolveTool(name, config.tools);
  } catch (err) {
    throw new Error(`${name} is required for this integration test and was not found: ${(err as Error).message}`);
  }
  if (!existsSync(path))
    throw new Error(
      `${name} is required for this integration test: ${path} does not exist (KILN_${name.toUpperCase()})`,
    );
  return path;
}

async function indexStanzas(indexGz: Buffer): Promise<Map<string, Map<string, string>>> {
  const text = (await readTar(gunzipSync(indexGz))).find((f) => f.path === 'APKINDEX')!.data.toString('utf8');
  const out = new Map<string, Map<string, string>>();
  for (const stanza of text.split(/\n\n+/)) {
    const fields = new Map<string, string>();
    for (const m of stanza.matchAll(/^(\w):(.*)$/gm)) fields.set(m[1]!, m[2]!);
    if (fields.has('P')) out.set(fields.get('P')!, fields);
  }
  return out;
}

describe('version and applet helpers', () => {
  it('derives the APK upstream version from a Debian version', () => {
    expect(upstreamVersion('1:1.35.0-4+deb12u1+b1')).toBe('1.35.0');
    expect(upstreamVersion('1.36.1-9')).toBe('1.36.1');
  });

  it('moves every applet to usr/bin', () => {
    expect(
      usrmergeAppletPaths('bin/busybox\nbin/sh\nsbin/ip\nusr/sbin/crond\nusr/bin/awk\nlinuxrc\nbin/awk\n'),
    ).toEqual(['usr/bin/awk', 'usr/bin/crond', 'usr/bin/ip', 'usr/bin/sh']);
  });
});

describe('bootstrapRepository', () => {
  it('creates the signing keys in the formats melange, apko and cosign read', async () => {
    const rsa = await readFile(join(keys(), 'kiln.rsa'), 'utf8');
    expect(rsa).toMatch(pemHeader('RSA PRIVATE KEY'));
    expect(await readFile(join(keys(), 'kiln.rsa.pub'), 'utf8')).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    expect(await readFile(join(keys(), 'image-signing.key'), 'utf8')).toMatch(pemHeader('PRIVATE KEY'));
    expect(await readFile(join(keys(), 'image-signing.pub'), 'utf8')).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    expect((await stat(join(keys(), 'kiln.rsa'))).mode & 0o777).toBe(0o600);
    expect((await stat(join(keys(), 'image-signing.key'))).mode & 0o777).toBe(0o600);
  });

  it('writes both packages, the index and the inputs record, and nothing half-done beside them', async () => {
    expect(repo).toBe(join(state, 'bootstrap', ARCH));
    const debian = (await execa('dpkg-query', ['-W', '-f=${Version}', 'busybox-static'])).stdout;
    expect((await readdir(repo)).sort()).toEqual([
      '.inputs',
      'APKINDEX.tar.gz',
      `busybox-${upstreamVersion(debian)}-r0.apk`,
      'kiln-baselayout-1.0-r0.apk',
    ]);
    expect(await readdir(join(state, 'bootstrap'))).toEqual([ARCH]);
    const inputs = await readFile(join(repo, '.inputs'), 'utf8');
    const busyboxSha = sha256hex(await readFile('/bin/busybox'));
    expect(inputs).toContain(`busybox sha256:${busyboxSha}`);
    expect(inputs).toMatch(/^format kiln-bootstrap\//m);
    expect(inputs).toMatch(/^public-key sha256:[0-9a-f]{64}$/m);
  });

  it('signs the index with the kiln key over its second gzip member', async () => {
    const [sig, body, ...rest] = splitGzipMembers(await readFile(join(repo, 'APKINDEX.tar.gz')));
    expect(rest).toHaveLength(0);
    const entries = await readTar(gunzipSync(sig!));
    expect(entries.map((e) => e.path)).toEqual(['.SIGN.RSA256.kiln.rsa.pub']);
    expect(verify('sha256', body!, await readFile(join(keys(), 'kiln.rsa.pub'), 'utf8'), entries[0]!.data)).toBe(true);
  });

  it('lists both packages with S: = file size and C: = Q1 + base64(sha1(control member))', async () => {
    const stanzas = await indexStanzas(await readFile(join(repo, 'APKINDEX.tar.gz')));
    expect([...stanzas.keys()].sort()).toEqual(['busybox', 'kiln-baselayout']);
    for (const [name, f] of stanzas) {
      const apk = await readFile(join(repo, `${name}-${f.get('V')}.apk`));
      const [, control] = splitGzipMembers(apk);
      expect(f.get('S')).toBe(String(apk.length));
      expect(f.get('C')).toBe(`Q1${sha1(control!).toString('base64')}`);
      expect(f.get('A')).toBe(ARCH);
    }
    const busybox = stanzas.get('busybox')!;
    expect(busybox.get('V')).toMatch(/^\d+\.\d+\.\d+-r0$/);
    expect(busybox.get('D')).toBe('kiln-baselayout');
    expect(busybox.get('L')).toBe('GPL-2.0-only');
    expect(busybox.get('o')).toBe('busybox');
    const provides = busybox.get('p')!.split(' ');
    expect(provides).toContain(`cmd:sh=${busybox.get('V')}`);
    expect(provides).toContain(`cmd:awk=${busybox.get('V')}`);
  });

  it('packages busybox in /usr/bin with an applet list apko reads and a /bin/sh link', async () => {
    const file = (await readdir(repo)).find((f) => f.startsWith('busybox-'))!;
    const data = await readTar(gunzipSync(splitGzipMembers(await readFile(join(repo, file)))[2]!));
    const byPath = new Map<string, TarFile>(data.map((e) => [e.path, e]));
    expect(byPath.get('usr/bin/busybox')!.data.equals(await readFile('/bin/busybox'))).toBe(true);
    expect(byPath.get('usr/bin/sh')).toMatchObject({ type: '2', linkname: 'busybox' });
    const applets = byPath.get('etc/busybox-paths.d/busybox')!.data.toString().trim().split('\n');
    expect(applets).toContain('usr/bin/sh');
    expect(applets.every((a) => a.startsWith('usr/bin/'))).toBe(true);
    expect(applets).not.toContain('usr/bin/busybox');
  });

  it('packages the usrmerge layout', async () => {
    const data = await readTar(
      gunzipSync(splitGzipMembers(await readFile(join(repo, 'kiln-baselayout-1.0-r0.apk')))[2]!),
    );
    const links = Object.fromEntries(data.filter((e) => e.type === '2').map((e) => [e.path, e.linkname]));
    expect(links).toEqual({ bin: 'usr/bin', sbin: 'usr/bin', lib: 'usr/lib', 'usr/sbin': 'bin' });
    const osRelease = data.find((e) => e.path === 'etc/os-release')!.data.toString();
    expect(osRelease).toMatch(/^ID=kiln$/m);
    expect(osRelease).toMatch(/^VERSION_ID=1\.0$/m);
  });

  it('is idempotent, and rebuilds when an input changes', async () => {
    const index = join(repo, 'APKINDEX.tar.gz');
    const before = await readFile(index);
    const log: string[] = [];
    await bootstrapRepository({ config, stateDir: state, arch: ARCH, log: (s) => log.push(s) });
    expect(log.join('\n')).toContain('bootstrap repository up to date');
    expect((await readFile(index)).equals(before)).toBe(true);

    await writeFile(join(repo, '.inputs'), 'stale\n');
    const again: string[] = [];
    await bootstrapRepository({ config, stateDir: state, arch: ARCH, log: (s) => again.push(s) });
    expect(again.join('\n')).not.toContain('up to date');
    expect(await readFile(join(repo, '.inputs'), 'utf8')).not.toBe('stale\n');
    // same inputs, same package bytes (the index signature may differ only if RSA were randomised; it is not)
    expect((await readFile(index)).equals(before)).toBe(true);
    expect(await readdir(join(state, 'bootstrap'))).toEqual([ARCH]);
  });
});

describe('the real tools use the bootstrap repository', () => {
  it('apko builds an image with busybox as /bin/sh and its applet links', async () => {
    const apko = tool('apko');
    const work = await mkdtemp(join(tmpdir(), 'kiln-apko-'));
    try {
      await writeFile(
        join(work, 'apko.yaml'),
        'contents:\n  packages: [busybox]\nentrypoint:\n  command: /bin/sh\narchs: [x86_64]\n',
      );
      const out = join(work, 'layout');
      await mkdir(out);
      const started = Date.now();
      // -r, not --build-repository-append alone: apko 1.2.x then has no runtime repository for
      // /etc/apk/repositories and fails with "must provide at least one repository".
      const r = await execa(
        apko,
        [
          'build',
          join(work, 'apko.yaml'),
          'kiln.test/bootstrap:test',
          `${out}/`,
          '--repository-append',
          join(state, 'bootstrap'),
          '--keyring-append',
          join(keys(), 'kiln.rsa.pub'),
          '--arch',
          ARCH,
          '--sbom-path',
          work,
          '--vcs=false',
        ],
        { all: true, reject: false, cwd: work, env: { SOURCE_DATE_EPOCH: '0' } },
      );
      expect(r.exitCode, r.all).toBe(0);
      console.log(`apko build: ${Date.now() - started} ms`);
      const index = JSON.parse(await readFile(join(out, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
      const blob = (d: string) => readFile(join(out, 'blobs', ...d.split(':')));
      const manifest = JSON.parse((await blob(index.manifests[0]!.digest)).toString()) as {
        config: { digest: string };
        layers: { digest: string }[];
      };
      const config = JSON.parse((await blob(manifest.config.digest)).toString()) as {
        config: { Entrypoint: string[] };
      };
      expect(config.config.Entrypoint).toEqual(['/bin/sh']);
      const files = new Map(
        (await readTar(gunzipSync(await blob(manifest.layers[0]!.digest)))).map((e) => [e.path.replace(/\/$/, ''), e]),
      );
      expect(files.get('bin')).toMatchObject({ type: '2', linkname: 'usr/bin' });
      expect(files.get('usr/bin/busybox')?.type).toBe('0');
      expect(files.get('usr/bin/sh')).toMatchObject({ type: '2', linkname: 'busybox' });
      expect(files.get('usr/bin/ls')).toMatchObject({ type: '2', linkname: '/bin/busybox' });
      expect(files.get('etc/apk/keys/kiln.rsa.pub')?.type).toBe('0');
      expect(files.get('usr/lib/apk/db/installed')!.data.toString()).toMatch(/^P:busybox$/m);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });

  it('melange builds a package in a bubblewrap guest whose /bin/sh is the bootstrap busybox', async () => {
    const melange = tool('melange');
    const work = await mkdtemp(join(tmpdir(), 'kiln-melange-'));
    try {
      await writeFile(
        join(work, 'hello.yaml'),
        [
          'package:',
          '  name: kiln-hello',
          '  version: 0.1.0',
          '  epoch: 0',
          '  description: bootstrap smoke test',
          '  copyright:',
          '    - license: Apache-2.0',
          'environment:',
          '  contents:',
          '    packages: [busybox]',
          'pipeline:',
          '  - runs: |',
          '      mkdir -p "${{targets.destdir}}/usr/share/kiln-hello"',
          '      echo "sh=$(readlink /bin/sh) $(set -o | grep pipefail)" | tr -s " \\t" " " > "${{targets.destdir}}/usr/share/kiln-hello/hello.txt"',
          '',
        ].join('\n'),
      );
      const out = join(work, 'packages');
      const started = Date.now();
      const r = await execa(
        melange,
        [
          'build',
          join(work, 'hello.yaml'),
          '--runner',
          'bubblewrap',
          '--arch',
          ARCH,
          '-r',
          join(state, 'bootstrap'),
          '-k',
          join(keys(), 'kiln.rsa.pub'),
          '--signing-key',
          join(keys(), 'kiln.rsa'),
          '--out-dir',
          out,
        ],
        { all: true, reject: false, cwd: work, env: { SOURCE_DATE_EPOCH: '0' } },
      );
      expect(r.exitCode, r.all).toBe(0);
      console.log(`melange build: ${Date.now() - started} ms`);
      const apkFile = join(out, ARCH, 'kiln-hello-0.1.0-r0.apk');
      expect(existsSync(apkFile), r.all).toBe(true);
      const members = splitGzipMembers(await readFile(apkFile));
      const data = await readTar(gunzipSync(members[members.length - 1]!));
      // melange runs steps under `set -eo pipefail`: this file proves the guest shell is busybox ash with pipefail on
      expect(
        data
          .find((e) => e.path === 'usr/share/kiln-hello/hello.txt')
          ?.data.toString()
          .trim(),
      ).toBe('sh=busybox pipefail on');
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
});
