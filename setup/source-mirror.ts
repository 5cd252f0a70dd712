// Upstream sources served like upstream: the tarballs a catalog's melange configs `fetch` from
// kiln's loopback mirror (http://127.0.0.1:8091/<project>/<project>-<version>.<ext>), taken from
// Debian's source archive (the `.orig` tarball of the Debian source package of that upstream
// version, whose SHA-256 apt checks against the signed Sources index) into
// `<state>/mirror/<project>/`, beside a `.origin` note saying which Debian file it is. The embedded
// services serve that directory (setup/services.ts), so a build fetches it with `fetch` and
// `expected-sha256` exactly as it would from the upstream project's site.
//
//   npx tsx setup/source-mirror.ts [--state <KILN_STATE dir>] [--catalog DIR]...
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { parse } from 'yaml';
import { loadConfig, type KilnConfig } from '../config/config.js';
import { sha256hex } from '../domain/digest.js';
import { failure, invalidInput } from '../domain/failures.js';
import { melangeVars, substitute } from '../domain/melange-vars.js';
import { replaceFile } from '../io/atomic-file.js';
import { downloadSource, kilnApt, sourceVersions, type SourcePackage } from './toolchain-apt.js';

/** Where the embedded services serve the mirror (setup/services.ts) and configs fetch from. */
export const MIRROR_HOST = '127.0.0.1';
export const MIRROR_PORT = 8091;
export const MIRROR_URL = `http://${MIRROR_HOST}:${MIRROR_PORT}`;

/** One tarball a catalog fetches from the mirror. */
export interface MirrorRequest {
  /** The Debian source package, the URL's first path segment: `zlib`. */
  project: string;
  /** The upstream version: `1.2.13`. */
  version: string;
  /** The file name: `zlib-1.2.13.tar.bz2`. */
  file: string;
  /** Where the catalog asks for it, for messages: `examples/real/packages/zlib.yaml`. */
  from: string;
  /** The step's `expected-sha256`, checked against what the mirror serves. */
  expectedSha256?: string;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Every `uses: fetch` step of a parsed melange config (pipelines, subpackages, tests): its uri and sha256. */
export function fetchSteps(doc: Record<string, unknown>): { uri: string; sha256?: string }[] {
  const uris: { uri: string; sha256?: string }[] = [];
  const walk = (steps: unknown) => {
    if (!Array.isArray(steps)) return;
    for (const step of steps) {
      if (!isObj(step)) continue;
      if (step.uses === 'fetch' && isObj(step.with) && typeof step.with.uri === 'string') {
        const sha256 = step.with['expected-sha256'];
        uris.push({ uri: step.with.uri, ...(typeof sha256 === 'string' ? { sha256 } : {}) });
      }
      walk(step.pipeline);
    }
  };
  walk(doc.pipeline);
  if (isObj(doc.test)) walk(doc.test.pipeline);
  for (const sub of Array.isArray(doc.subpackages) ? doc.subpackages : []) {
    if (!isObj(sub)) continue;
    walk(sub.pipeline);
    if (isObj(sub.test)) walk(sub.test.pipeline);
  }
  return uris;
}

/**
 * What one melange config fetches from the mirror: its fetch URIs after melange's substitutions,
 * those under MIRROR_URL, as `<project>/<project>-<version>.<ext>` with `version` the package's.
 */
export function mirrorRequests(doc: Record<string, unknown>, from: string): MirrorRequest[] {
  const vars = melangeVars(doc, []);
  const version = vars.get('${{package.version}}') ?? '';
  const out: MirrorRequest[] = [];
  for (const step of fetchSteps(doc)) {
    const uri = substitute(step.uri, vars);
    if (!uri.startsWith(`${MIRROR_URL}/`)) continue;
    const path = uri.slice(MIRROR_URL.length + 1);
    const m = /^([a-z0-9][a-z0-9+.-]*)\/([^/]+)$/.exec(path);
    if (!m || !m[2]!.startsWith(`${m[1]}-${version}.tar.`))
      throw invalidInput(
        `${from}: ${uri}: kiln's mirror serves ${MIRROR_URL}/<Debian source>/<Debian source>-<package.version>.tar.<ext> ` +
          `(fix: e.g. ${MIRROR_URL}/${posix.basename(from, '.yaml')}/${posix.basename(from, '.yaml')}-${version}.tar.gz)`,
      );
    const expectedSha256 = step.sha256 && substitute(step.sha256, vars);
    out.push({ project: m[1]!, version, file: m[2]!, from, ...(expectedSha256 ? { expectedSha256 } : {}) });
  }
  return out;
}

/**
 * Debian's upstream version without its repack marks: `1:1.2.13.dfsg-1` -> `1.2.13`,
 * `1:1.3.dfsg+really1.3.1-1` -> `1.3.1` (a `+really` version is what the tarball really holds).
 */
export function debianUpstream(debian: string): string {
  const upstream = debian.replace(/^\d+:/, '').replace(/-[^-]*$/, '');
  const really = /\+really(.+)$/.exec(upstream)?.[1] ?? upstream;
  return really.replace(/[.+~](dfsg|ds|repack)\d*.*$/, '');
}

/** The orig tarball of a source package, and its compression (`bz2`, `gz`, `xz`). */
export function origTarball(src: SourcePackage): { name: string; sha256: string; ext: string } {
  const orig = src.files.find((f) => /\.orig\.tar\.[a-z0-9]+$/.test(f.name));
  if (!orig)
    throw failure('ToolFailed', `Debian source ${src.name} ${src.version} has no .orig tarball (native package)`);
  return { name: orig.name, sha256: orig.sha256, ext: orig.name.replace(/^.*\.orig\.tar\./, '') };
}

/** The melange configs of a catalog directory, parsed. */
export async function catalogConfigs(dir: string): Promise<{ file: string; doc: Record<string, unknown> }[]> {
  const packages = join(dir, 'packages');
  if (!existsSync(packages)) return [];
  const out = [];
  for (const f of (await readdir(packages)).filter((n) => /\.ya?ml$/.test(n)).sort()) {
    const doc: unknown = parse(await readFile(join(packages, f), 'utf8'));
    if (isObj(doc)) out.push({ file: join(packages, f), doc });
  }
  return out;
}

export interface MirrorOptions {
  config: KilnConfig;
  stateDir: string;
  requests: MirrorRequest[];
  log?: (s: string) => void;
}

/**
 * Puts every requested tarball into `<state>/mirror/`; a tarball already there (with its `.origin`
 * note) is not looked at again, so a second setup runs no apt at all. Returns the mirror directory.
 */
export async function sourceMirror(o: MirrorOptions): Promise<string> {
  const log = o.log ?? console.log;
  const mirror = join(o.stateDir, 'mirror');
  await mkdir(mirror, { recursive: true });
  const wanted = [...new Map(o.requests.map((r) => [`${r.project}/${r.file}`, r])).values()];
  const missing = wanted.filter((r) => !existsSync(join(mirror, r.project, `${r.file}.origin`)));
  if (!missing.length) {
    log(`    source mirror up to date: ${wanted.length} tarballs in ${mirror}`);
  } else {
    await fill(o.config, mirror, missing, log);
  }
  // A config pinning other bytes than the mirror serves would only fail inside its build: say so now.
  for (const r of wanted) {
    const served = (await readFile(join(mirror, r.project, `${r.file}.origin`), 'utf8')).match(/^sha256 (\S+)$/m)?.[1];
    if (r.expectedSha256 && served !== r.expectedSha256)
      log(`    warning: ${r.from} expects ${r.file} with sha256 ${r.expectedSha256}; the mirror serves ${served}`);
  }
  return mirror;
}

async function fill(
  config: KilnConfig,
  mirror: string,
  missing: MirrorRequest[],
  log: (s: string) => void,
): Promise<void> {
  const apt = await kilnApt(config.tools.dir, { log });
  for (const r of missing) {
    const versions = await sourceVersions(apt, r.project);
    const src = versions.find((v) => debianUpstream(v.version) === r.version);
    if (!src)
      throw failure(
        'ToolFailed',
        `${r.from} fetches ${r.project} ${r.version}, which Debian's source archive does not have ` +
          `(it has ${versions.map((v) => v.version).join(', ')}): set package.version to one of those`,
      );
    const orig = origTarball(src);
    if (!r.file.endsWith(`.tar.${orig.ext}`))
      throw failure(
        'ToolFailed',
        `${r.from} fetches ${r.file}, but Debian's ${orig.name} is .tar.${orig.ext}: fetch ${r.project}-${r.version}.tar.${orig.ext}`,
      );
    const downloads = join(apt.dir, 'sources', `${src.name}_${src.version.replace(/^\d+:/, '')}`);
    if (
      !existsSync(join(downloads, orig.name)) ||
      sha256hex(await readFile(join(downloads, orig.name))) !== orig.sha256
    )
      await downloadSource(apt, src, downloads);
    const bytes = await readFile(join(downloads, orig.name));
    if (sha256hex(bytes) !== orig.sha256)
      throw failure('CorruptArtifact', `${orig.name}: not the SHA-256 Debian's Sources index lists (${orig.sha256})`);
    const dir = join(mirror, r.project);
    await mkdir(dir, { recursive: true });
    await replaceFile(join(dir, r.file), (aside) => copyFile(join(downloads, orig.name), aside));
    await writeFile(
      join(dir, `${r.file}.origin`),
      [
        `file ${r.file}`,
        `sha256 ${orig.sha256}`,
        `debian-source ${src.name} ${src.version}`,
        `debian-file ${orig.name}`,
        '',
      ].join('\n'),
    );
    log(`    ${r.project}/${r.file}: Debian ${src.name} ${src.version} (${orig.name}, sha256 ${orig.sha256})`);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({
    options: { state: { type: 'string' }, catalog: { type: 'string', multiple: true } },
  });
  const run = async () => {
    const config = loadConfig();
    const requests: MirrorRequest[] = [];
    for (const dir of values.catalog ?? [config.catalogDir])
      for (const { file, doc } of await catalogConfigs(dir)) requests.push(...mirrorRequests(doc, file));
    await sourceMirror({ config, stateDir: values.state ?? config.paths.state, requests });
  };
  run().catch((err: unknown) => {
    console.error(`source-mirror: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
