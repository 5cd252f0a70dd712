// The offline bootstrap APK repository: melange's build guest needs busybox as /bin/sh and nothing
// can be downloaded, so kiln packages Debian's static busybox (plus a usrmerge base layout) as
// signed APKs and indexes them with the real `melange index`.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { writeApk, type ApkInfo } from '../domain/apk.js';
import type { TarEntry } from '../domain/tar.js';
import { kilnPaths } from '../activities/env.js';
import { melangeIndex } from '../activities/melange.js';

const FORMAT = 'kiln-bootstrap/1';
const BUSYBOX = '/bin/busybox';
const BUILDDATE = 0;

async function debianVersion(pkg: string): Promise<string> {
  const r = await execa('dpkg-query', ['-W', '-f=${Version}', pkg], { reject: false });
  if (r.exitCode !== 0) throw new Error(`Debian package ${pkg} is not installed: run scripts/setup (apt-get install ${pkg})`);
  return r.stdout.trim();
}

/** `1:1.35.0-4+deb12u1+b1` -> `1.35.0`: the upstream part, which APK ordering understands. */
export function upstreamVersion(debian: string): string {
  return debian.replace(/^\d+:/, '').replace(/-[^-]*$/, '').replace(/[^0-9a-z._]/gi, '_');
}

function baselayout(version: string): TarEntry[] {
  const dir = (path: string, mode = 0o755): TarEntry => ({ path, type: 'dir', mode });
  const link = (path: string, target: string): TarEntry => ({ path, type: 'symlink', mode: 0o777, target });
  return [
    link('bin', 'usr/bin'), link('sbin', 'usr/bin'), link('lib', 'usr/lib'), link('usr/sbin', 'bin'),
    dir('usr'), dir('usr/bin'), dir('usr/lib'), dir('etc'), dir('home'), dir('root', 0o700), dir('var'), dir('var/tmp', 0o1777), dir('tmp', 0o1777),
    {
      path: 'etc/os-release', type: 'file', mode: 0o644,
      content: Buffer.from(`ID=kiln\nNAME="kiln bootstrap"\nPRETTY_NAME="kiln bootstrap ${version}"\nVERSION_ID=${version}\nHOME_URL="https://github.com/"\n`),
    },
  ];
}

async function busyboxFiles(): Promise<{ files: TarEntry[]; applets: string[] }> {
  const list = (await execa(BUSYBOX, ['--list'])).stdout.split('\n').map((s) => s.trim()).filter(Boolean);
  const applets = [...new Set(list)].filter((a) => a !== 'busybox').sort();
  // apko reads this file to link the applets; everything lives in /usr/bin (usrmerge).
  const paths = applets.map((a) => `/usr/bin/${a}`).join('\n') + '\n';
  return {
    applets,
    files: [
      { path: 'usr', type: 'dir', mode: 0o755 },
      { path: 'usr/bin', type: 'dir', mode: 0o755 },
      { path: 'usr/bin/busybox', type: 'file', mode: 0o755, content: readFileSync(BUSYBOX) },
      // /bin/sh must exist before apko links applets: melange runs its steps with it.
      { path: 'usr/bin/sh', type: 'symlink', mode: 0o777, target: 'busybox' },
      { path: 'etc', type: 'dir', mode: 0o755 },
      { path: 'etc/busybox-paths.d', type: 'dir', mode: 0o755 },
      { path: 'etc/busybox-paths.d/busybox', type: 'file', mode: 0o644, content: Buffer.from(paths) },
    ],
  };
}

export async function bootstrapRepository(o: { stateDir: string; arch: string; log?: (s: string) => void }): Promise<string> {
  const log = o.log ?? console.log;
  const paths = kilnPaths({ ...process.env, KILN_STATE: o.stateDir, KILN_PACKAGE_SIGNING_KEY: undefined });
  const target = join(paths.bootstrap, o.arch);
  const debian = await debianVersion('busybox-static');
  const keyPem = await readFile(paths.packageSigningKey, 'utf8');
  const inputs = createHash('sha256')
    .update(`${FORMAT}\n${debian}\n`)
    .update(readFileSync(BUSYBOX))
    .update(keyPem)
    .digest('hex');
  if (existsSync(join(target, 'APKINDEX.tar.gz')) && existsSync(join(target, '.inputs')) && (await readFile(join(target, '.inputs'), 'utf8')) === inputs) {
    log(`    bootstrap repository up to date (${target})`);
    return target;
  }
  const staging = `${target}.partial-${process.pid}`;
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true });
  const version = upstreamVersion(debian);
  const keyName = paths.packageSigningKey;
  const base: ApkInfo = {
    name: 'kiln-baselayout', version: '1.0-r0', arch: o.arch, builddate: BUILDDATE,
    description: 'usrmerge filesystem skeleton and os-release for kiln images', url: 'https://github.com/', license: 'Apache-2.0',
  };
  const { files, applets } = await busyboxFiles();
  const busybox: ApkInfo = {
    name: 'busybox', version: `${version}-r0`, arch: o.arch, builddate: BUILDDATE,
    description: `BusyBox ${version}, statically linked (from Debian busybox-static ${debian})`,
    url: 'https://busybox.net', license: 'GPL-2.0-only', depends: ['kiln-baselayout'],
    provides: ['cmd:sh', ...applets].map((a) => `${a.startsWith('cmd:') ? a : `cmd:${a}`}=${version}-r0`),
  };
  const apks: string[] = [];
  for (const [info, content] of [[base, baselayout('1.0')], [busybox, files]] as const) {
    const file = join(staging, `${info.name}-${info.version}.apk`);
    await writeFile(file, writeApk(info, content, keyPem, keyName));
    apks.push(file);
    log(`    ${info.name}-${info.version}.apk`);
  }
  await melangeIndex({ output: join(staging, 'APKINDEX.tar.gz'), arch: o.arch, apks, signingKey: paths.packageSigningKey, logFile: join(staging, '.index.log') });
  await writeFile(join(staging, '.inputs'), inputs);
  await rm(target, { recursive: true, force: true });
  await rename(staging, target);
  log(`    signed index: ${join(target, 'APKINDEX.tar.gz')}`);
  return target;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const state = process.argv.includes('--state') ? process.argv[process.argv.indexOf('--state') + 1]! : kilnPaths().state;
  await bootstrapRepository({ stateDir: state, arch: 'x86_64' });
}
