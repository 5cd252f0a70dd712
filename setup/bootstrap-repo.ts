// The offline bootstrap APK repository. melange's build guest needs busybox as /bin/sh (ash accepts
// `set -o pipefail`, dash does not) and nothing can be downloaded, so kiln repackages Debian's
// static busybox, plus a usrmerge base layout, as signed APKs and indexes them with `melange index`.
//
//   npx tsx setup/bootstrap-repo.ts --state <KILN_STATE dir> [--arch x86_64]
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { tmpdir } from 'node:os';
import { gunzipSync } from 'node:zlib';
import { execa } from 'execa';
import { writeApk, type ApkFile, type WriteApkInput } from '../apk/writer.js';
import { loadConfig, type KilnConfig } from '../config/config.js';
import { processAlive } from '../io/lock.js';
import { resolveTool } from '../adapters/toolchain.js';
import { readTar } from '../domain/tar.js';
import { parseApkIndexText } from '../domain/apkindex.js';
import { sha256hex } from '../domain/digest.js';
import { failure, invalidInput } from '../domain/failures.js';
import { ensureKeys, statePaths } from './keys.js';

/** Bump when the packages' contents or metadata change, so existing repositories are rebuilt. */
export const BOOTSTRAP_FORMAT = 'kiln-bootstrap/5';
const BUSYBOX = '/bin/busybox';
const BASELAYOUT_VERSION = '1.0';
/** Fixed build date and file mtime: the same inputs give byte-identical packages. */
const MTIME = 0;

/**
 * Whether the repository `target` (an arch directory) is complete and was made from exactly
 * `inputs` (the `.inputs` record written beside its index when it was made).
 */
export async function builtFrom(target: string, inputs: string): Promise<boolean> {
  const inputsFile = join(target, '.inputs');
  return (
    existsSync(join(target, 'APKINDEX.tar.gz')) &&
    existsSync(inputsFile) &&
    (await readFile(inputsFile, 'utf8')) === inputs
  );
}

/** `1:1.35.0-4+deb12u1+b1` -> `1.35.0`: the upstream part, in a form APK version ordering accepts. */
export function upstreamVersion(debian: string): string {
  const upstream = debian.replace(/^\d+:/, '').replace(/-[^-]*$/, '');
  const m = /^\d+(\.\d+)*/.exec(upstream);
  if (!m) throw invalidInput(`cannot derive an APK version from Debian version ${debian}`);
  return m[0];
}

/** `busybox --list-path` lines moved to /usr/bin (usrmerge), without busybox itself or root-level applets. */
export function usrmergeAppletPaths(listPath: string): string[] {
  const paths = new Set<string>();
  for (const raw of listPath.split('\n')) {
    const line = raw.trim().replace(/^\/+/, '');
    if (!line.includes('/')) continue; // `linuxrc` would land in /; apko skips such entries too
    const path = line.replace(/^(usr\/sbin|sbin|bin)\//, 'usr/bin/');
    if (path !== 'usr/bin/busybox') paths.add(path);
  }
  return [...paths].sort();
}

export function baselayoutFiles(version: string): ApkFile[] {
  const dir = (path: string, mode = 0o755): ApkFile => ({ path, type: 'dir', mode });
  const link = (path: string, target: string): ApkFile => ({ path, type: 'symlink', mode: 0o777, target });
  return [
    // usrmerge: every binary lives in /usr/bin, as melange's usrmerge lint requires of packages.
    link('bin', 'usr/bin'),
    link('sbin', 'usr/bin'),
    link('lib', 'usr/lib'),
    link('usr/sbin', 'bin'),
    dir('usr'),
    dir('usr/bin'),
    dir('usr/lib'),
    dir('etc'),
    dir('home'),
    dir('root', 0o700),
    // No var/tmp: apko installs package directories with Mode().Perm(), dropping the sticky bit, so a
    // 1777 var/tmp would land as world-writable 0777. /tmp keeps 1777 because apko creates it first.
    dir('tmp', 0o1777),
    dir('var'),
    dir('dev'),
    dir('proc'),
    dir('sys'),
    dir('run'),
    // apko appends configured accounts (melange's `build` user) to these and warns if they are absent.
    {
      path: 'etc/passwd',
      type: 'file',
      mode: 0o644,
      content: Buffer.from('root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n'),
    },
    { path: 'etc/group', type: 'file', mode: 0o644, content: Buffer.from('root:x:0:\nnogroup:x:65534:\n') },
    {
      path: 'etc/os-release',
      type: 'file',
      mode: 0o644,
      content: Buffer.from(
        `ID=kiln\nNAME="kiln bootstrap"\nPRETTY_NAME="kiln bootstrap ${version}"\nVERSION_ID=${version}\n`,
      ),
    },
  ];
}

export function busyboxFiles(binary: Buffer, appletPaths: string[]): ApkFile[] {
  return [
    { path: 'usr/bin/busybox', type: 'file', mode: 0o755, content: binary },
    // apko only adds applet links after installing, and only when /bin/busybox resolves (it does,
    // through bin -> usr/bin); the explicit link makes /bin/sh independent of that step.
    { path: 'usr/bin/sh', type: 'symlink', mode: 0o777, target: 'busybox' },
    // apko reads /etc/busybox-paths.d/<package name> for the applet links to create.
    {
      path: 'etc/busybox-paths.d/busybox',
      type: 'file',
      mode: 0o644,
      content: Buffer.from(appletPaths.join('\n') + '\n'),
    },
  ];
}

/**
 * `busybox --list-path` of a busybox binary. One of another arch runs here only through qemu-user
 * (setup/emulation.ts); without it, the host's busybox lists (nearly) the same applets.
 */
export async function appletListing(binary: Buffer): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-busybox-'));
  try {
    await writeFile(join(dir, 'busybox'), binary, { mode: 0o755 });
    const own = await execa(join(dir, 'busybox'), ['--list-path'], { reject: false });
    return own.exitCode === 0 ? own.stdout : (await execa(BUSYBOX, ['--list-path'])).stdout;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A static busybox and the Debian version of busybox-static it came from. */
export interface BusyboxBinary {
  binary: Buffer;
  debianVersion: string;
}

export interface BootstrapOptions {
  /** Where melange is found (config.tools). */
  config: KilnConfig;
  stateDir: string;
  arch?: string;
  /** The arch's busybox; default the host's busybox-static (setup/bootstrap-arch.ts gives another arch's). */
  busybox?: BusyboxBinary;
  log?: (s: string) => void;
}

/** The installed busybox-static of this machine. */
async function hostBusybox(): Promise<BusyboxBinary> {
  const dpkg = await execa('dpkg-query', ['-W', '-f=${Version}', 'busybox-static'], { reject: false });
  if (dpkg.exitCode !== 0 || !existsSync(BUSYBOX)) {
    throw failure(
      'ToolMissing',
      `Debian's busybox-static is not installed (${BUSYBOX}); run scripts/setup or apt-get install busybox-static`,
    );
  }
  return { binary: await readFile(BUSYBOX), debianVersion: dpkg.stdout.trim() };
}

/** Builds (or confirms up to date) `<state>/bootstrap/<arch>/`; returns that directory. */
export async function bootstrapRepository(o: BootstrapOptions): Promise<string> {
  const log = o.log ?? console.log;
  const arch = o.arch ?? 'x86_64';
  ensureKeys(o.stateDir, log);
  const paths = statePaths(o.stateDir);
  const target = join(paths.bootstrap, arch);

  const { binary, debianVersion } = o.busybox ?? (await hostBusybox());
  const publicKey = await readFile(paths.packageSigningPub, 'utf8');
  const inputs = [
    `format ${BOOTSTRAP_FORMAT}`,
    `arch ${arch}`,
    `busybox-static ${debianVersion}`,
    `busybox sha256:${sha256hex(binary)}`,
    `public-key sha256:${sha256hex(publicKey)}`,
    '',
  ].join('\n');
  if (await builtFrom(target, inputs)) {
    log(`    bootstrap repository up to date (${target})`);
    return target;
  }

  // Build beside the target and rename at the end: a crash never leaves a half-written repository.
  await mkdir(paths.bootstrap, { recursive: true });
  for (const name of await readdir(paths.bootstrap)) {
    const m = new RegExp(`^\\.${arch}\\.(tmp|old)-(\\d+)$`).exec(name);
    if (m && !processAlive(Number(m[2]))) await rm(join(paths.bootstrap, name), { recursive: true, force: true });
  }
  const staging = join(paths.bootstrap, `.${arch}.tmp-${process.pid}`);
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true });
  try {
    const version = upstreamVersion(debianVersion);
    const pkgver = `${version}-r0`;
    const applets = usrmergeAppletPaths(await appletListing(binary));
    const commands = [...new Set(['sh', ...applets.map((p) => p.slice('usr/bin/'.length))])].sort();
    const common = { arch, mtime: MTIME, signingKeyPath: paths.packageSigningKey };
    const packages: WriteApkInput[] = [
      {
        ...common,
        name: 'kiln-baselayout',
        version: `${BASELAYOUT_VERSION}-r0`,
        origin: 'kiln-baselayout',
        description: 'kiln bootstrap: usrmerge filesystem skeleton and os-release',
        url: 'https://busybox.net',
        license: 'CC0-1.0',
        files: baselayoutFiles(BASELAYOUT_VERSION),
      },
      {
        ...common,
        name: 'busybox',
        version: pkgver,
        origin: 'busybox',
        description: `Static BusyBox ${version} repackaged from Debian busybox-static ${debianVersion}`,
        url: 'https://busybox.net',
        license: 'GPL-2.0-only',
        depends: ['kiln-baselayout'],
        provides: commands.map((c) => `cmd:${c}=${pkgver}`),
        files: busyboxFiles(binary, applets),
      },
    ];
    const apks: string[] = [];
    for (const p of packages) {
      const file = join(staging, `${p.name}-${p.version}.apk`);
      const apk = await writeApk(p);
      await writeFile(file, apk);
      apks.push(file);
      log(`    wrote ${p.name}-${p.version}.apk (${apk.length} bytes)`);
    }

    const melange = resolveTool('melange', o.config.tools); // KILN_MELANGE, else the pinned build from scripts/setup
    const index = join(staging, 'APKINDEX.tar.gz');
    log(`    indexing with ${melange} index`);
    const r = await execa(
      melange,
      ['index', '-o', index, '--signing-key', paths.packageSigningKey, '-a', arch, ...apks],
      { all: true, reject: false },
    );
    if (r.exitCode !== 0) throw failure('ToolFailed', `melange index failed (exit ${r.exitCode}):\n${r.all}`);
    // melange only warns (or crashes) on a package it skips: make sure both made it in.
    const text =
      (await readTar(gunzipSync(await readFile(index)), index))
        .find((f) => f.path === 'APKINDEX')
        ?.data.toString('utf8') ?? '';
    const indexed = parseApkIndexText(text).map((e) => `${e.name}-${e.version}`);
    for (const p of packages) {
      if (!indexed.includes(`${p.name}-${p.version}`))
        throw failure('ToolFailed', `melange index left out ${p.name}-${p.version}:\n${r.all}`);
    }
    await writeFile(join(staging, '.inputs'), inputs);

    const old = join(paths.bootstrap, `.${arch}.old-${process.pid}`);
    if (existsSync(target)) await rename(target, old);
    await rename(staging, target);
    await rm(old, { recursive: true, force: true });
  } catch (err) {
    await rm(staging, { recursive: true, force: true });
    throw err;
  }
  log(`    bootstrap repository ready: ${target} (signed index APKINDEX.tar.gz, key ${paths.packageSigningPub})`);
  return target;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({ options: { state: { type: 'string' }, arch: { type: 'string', default: 'x86_64' } } });
  const run = async () => {
    const config = loadConfig();
    await bootstrapRepository({ config, stateDir: values.state ?? config.paths.state, arch: values.arch });
  };
  run().catch((err: unknown) => {
    console.error(`bootstrap-repo: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
