// The toolchain repository, `<state>/toolchain/<arch>/`: gcc, binutils, make, the C library and its
// headers, coreutils, GNU tar and wget, and busybox, converted from Debian's own .debs into APKs
// signed with kiln's package key, beside the bootstrap repository, with `build-base` depending on
// what a C build needs. The closure is what kiln's apt (setup/toolchain-apt.ts) resolves for the
// roots; each .deb becomes one APK of the same name (setup/toolchain-convert.ts, decisions in
// setup/toolchain-debian.ts), indexed with `melange index`. Cached three ways: the repository by
// its inputs (`.inputs`: instant when nothing changed), the closure by the package lists, each
// conversion by the .deb's SHA-256 (a new state directory only signs again).
//
//   npx tsx setup/toolchain.ts [--state <KILN_STATE dir>] [--arch x86_64|aarch64] [--refresh]
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { execa } from 'execa';
import { signedApk, type WriteApkInput } from '../apk/writer.js';
import { resolveTool } from '../adapters/toolchain.js';
import { loadConfig, type KilnConfig } from '../config/config.js';
import { parseApkIndex, parseApkIndexText, providedNames } from '../domain/apkindex.js';
import { sha256hex } from '../domain/digest.js';
import { failure } from '../domain/failures.js';
import { readTar } from '../domain/tar.js';
import { processAlive } from '../io/lock.js';
import { builtFrom } from './bootstrap-repo.js';
import { ensureKeys, statePaths } from './keys.js';
import { downloadDebs, kilnApt, resolveClosure, type KilnApt } from './toolchain-apt.js';
import {
  assertNoSharedPaths,
  BUILD_BASE,
  convertDebs,
  conversionCache,
  TOOLCHAIN_FORMAT,
  toolchainApks,
} from './toolchain-convert.js';
import { debianArch, debianPackage } from './toolchain-debian.js';
import { missingSonames } from './toolchain-elf.js';

/**
 * What apt resolves the closure of: a C toolchain; coreutils for `install` (Debian's busybox has no
 * such applet, and `make install` wants it); GNU tar and wget for melange's `fetch` pipeline (its
 * wget flags crash busybox's wget, and Debian's busybox tar does not decompress by itself); and
 * Debian's dynamic busybox, which superseded the bootstrap's static one (busyboxApplets says why).
 */
export const TOOLCHAIN_ROOTS = ['gcc', 'binutils', 'make', 'libc6-dev', 'coreutils', 'tar', 'wget', 'busybox'];

export interface ToolchainOptions {
  config: KilnConfig;
  stateDir: string;
  arch?: string;
  /** Fetch Debian's package lists again (new security updates become new APKs). */
  refresh?: boolean;
  log?: (s: string) => void;
}

/** Builds (or confirms up to date) `<state>/toolchain/<arch>/`; returns that directory. */
export async function toolchainRepository(o: ToolchainOptions): Promise<string> {
  const log = o.log ?? console.log;
  const arch = debianArch(o.arch ?? 'x86_64');
  ensureKeys(o.stateDir, () => undefined); // the bootstrap step before this one reports them
  const paths = statePaths(o.stateDir);
  const parent = join(paths.state, 'toolchain');
  const target = join(parent, arch.apk);
  const apt: KilnApt = await kilnApt(o.config.tools.dir, { refresh: o.refresh, log });
  const publicKey = await readFile(paths.packageSigningPub, 'utf8');
  const bootstrapIndex = join(paths.bootstrap, arch.apk, 'APKINDEX.tar.gz');
  if (!existsSync(bootstrapIndex))
    throw failure(
      'ToolMissing',
      `no bootstrap repository at ${bootstrapIndex}: the toolchain installs beside it (run scripts/setup)`,
    );
  const bootstrap = await parseApkIndex(await readFile(bootstrapIndex));
  const reserved = providedNames(bootstrap);
  const bootstrapVersions = new Map(bootstrap.map((e) => [e.name, e.version]));
  const inputs = [
    `format ${TOOLCHAIN_FORMAT}`,
    `arch ${arch.apk}`,
    `roots ${TOOLCHAIN_ROOTS.join(' ')}`,
    `build-base ${BUILD_BASE.version} ${BUILD_BASE.depends.join(' ')}`,
    `debian-lists sha256:${apt.listsDigest}`,
    `public-key sha256:${sha256hex(publicKey)}`,
    `bootstrap sha256:${sha256hex(
      bootstrap
        .map((e) => `${e.name} ${e.version} ${e.provides.join(' ')}`)
        .sort()
        .join('\n'),
    )}`,
    '',
  ].join('\n');
  if (await builtFrom(target, inputs)) {
    log(`    toolchain repository up to date (${target})`);
    return target;
  }

  const started = Date.now();
  const seconds = () => `${((Date.now() - started) / 1000).toFixed(1)}s`;
  await mkdir(parent, { recursive: true });
  for (const name of await readdir(parent)) {
    const m = new RegExp(`^\\.${arch.apk}\\.(tmp|old)-(\\d+)$`).exec(name);
    if (m && !processAlive(Number(m[2]))) await rm(join(parent, name), { recursive: true, force: true });
  }
  const staging = join(parent, `.${arch.apk}.tmp-${process.pid}`);
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true });
  try {
    const closure = await resolveClosure(apt, arch, TOOLCHAIN_ROOTS);
    log(`    resolved ${closure.length} Debian packages for ${TOOLCHAIN_ROOTS.join(' ')} (${arch.deb}) [${seconds()}]`);
    const debs = await downloadDebs(apt, arch, closure);
    log(`    .debs in ${join(apt.dir, 'archives', arch.deb)} [${seconds()}]`);
    const cacheDir = await conversionCache(apt.dir, arch);
    const converted = await convertDebs(
      closure.map((d, i) => ({ path: debs[i]!, sha256: d.sha256 })),
      arch,
      cacheDir,
    );
    log(`    converted ${converted.length} .debs (cached in ${cacheDir}) [${seconds()}]`);
    const missing = missingSonames(converted.map((c) => ({ name: debianPackage(c.deb.control).name, ...c.deb })));
    if (missing.length)
      log(
        `    note: needed but not in the closure: ${[...new Set(missing.map((m) => `${m.soname} (${m.package})`))].join(', ')}`,
      );
    const apks = toolchainApks(converted, arch, paths.packageSigningKey, reserved, bootstrapVersions);
    assertNoSharedPaths(apks);
    const files: string[] = [];
    for (const { apk, data } of apks) {
      const file = join(staging, `${apk.name}-${apk.version}.apk`);
      await writeFile(file, await signedApk(apk, data));
      files.push(file);
    }
    log(`    wrote ${files.length} signed APKs [${seconds()}]`);
    await index(
      o.config,
      staging,
      arch.apk,
      files,
      apks.map((a) => a.apk),
      paths.packageSigningKey,
    );
    await writeFile(
      join(staging, '.closure'),
      closure.map((d) => `${d.name} ${d.version} ${d.file} sha256:${d.sha256}`).join('\n') + '\n',
    );
    await writeFile(join(staging, '.inputs'), inputs);
    const old = join(parent, `.${arch.apk}.old-${process.pid}`);
    if (existsSync(target)) await rename(target, old);
    await rename(staging, target);
    await rm(old, { recursive: true, force: true });
  } catch (err) {
    await rm(staging, { recursive: true, force: true });
    throw err;
  }
  log(`    toolchain repository ready: ${target} [${seconds()}]`);
  return target;
}

async function index(
  config: KilnConfig,
  dir: string,
  arch: string,
  apks: string[],
  packages: Omit<WriteApkInput, 'files'>[],
  signingKey: string,
): Promise<void> {
  const melange = resolveTool('melange', config.tools);
  const output = join(dir, 'APKINDEX.tar.gz');
  const r = await execa(melange, ['index', '-o', output, '--signing-key', signingKey, '-a', arch, ...apks], {
    all: true,
    reject: false,
  });
  if (r.exitCode !== 0) throw failure('ToolFailed', `melange index failed (exit ${r.exitCode}):\n${r.all}`);
  const text =
    (await readTar(gunzipSync(await readFile(output)), output))
      .find((f) => f.path === 'APKINDEX')
      ?.data.toString('utf8') ?? '';
  const indexed = new Set(parseApkIndexText(text).map((e) => `${e.name}-${e.version}`));
  const left = packages.filter((p) => !indexed.has(`${p.name}-${p.version}`));
  if (left.length)
    throw failure(
      'ToolFailed',
      `melange index left out ${left.map((p) => `${p.name}-${p.version}`).join(', ')}:\n${r.all}`,
    );
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({
    options: { state: { type: 'string' }, arch: { type: 'string', default: 'x86_64' }, refresh: { type: 'boolean' } },
  });
  const run = async () => {
    const config = loadConfig();
    await toolchainRepository({
      config,
      stateDir: values.state ?? config.paths.state,
      arch: values.arch,
      refresh: values.refresh,
    });
  };
  run().catch((err: unknown) => {
    console.error(`toolchain: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
