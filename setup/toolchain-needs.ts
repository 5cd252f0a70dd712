// What the repository's catalogs need beyond the bootstrap repository, so setup prepares exactly
// that: the toolchain repository for every arch of a catalog whose `repositories` name
// `${KILN_STATE}/toolchain`, and the source mirror's tarballs its melange configs fetch. Read
// directly from catalog.yaml and packages/*.yaml (not through the catalog loader, which checks
// dependencies against the very repositories this step makes).
import { existsSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import type { KilnConfig } from '../config/config.js';
import { catalogConfigs, mirrorRequests, sourceMirror, type MirrorRequest } from './source-mirror.js';
import { toolchainRepository } from './toolchain.js';

export interface CatalogNeeds {
  /** Every APK arch a catalog builds for: each gets a bootstrap repository (and emulation if foreign). */
  archs: string[];
  /** APK archs to convert the toolchain for. */
  toolchainArchs: string[];
  mirror: MirrorRequest[];
}

/** `${KILN_STATE}` and `${KILN_STATE:-default}` -> the state directory; other variables stay. */
const expandState = (s: string, state: string) => s.replace(/\$\{KILN_STATE(:-[^}]*)?\}/g, state);

/** Whether a catalog.yaml's `repositories` name the toolchain repository of `stateDir`. */
export function usesToolchain(doc: unknown, catalogDir: string, stateDir: string): boolean {
  const repos = typeof doc === 'object' && doc !== null ? (doc as { repositories?: unknown }).repositories : undefined;
  const toolchain = resolve(stateDir, 'toolchain');
  return (
    Array.isArray(repos) &&
    repos.some((r) => typeof r === 'string' && resolve(catalogDir, expandState(r, stateDir)) === toolchain)
  );
}

export async function catalogNeeds(dirs: string[], stateDir: string): Promise<CatalogNeeds> {
  const all = new Set<string>(['x86_64']);
  const archs = new Set<string>();
  const mirror: MirrorRequest[] = [];
  for (const dir of dirs) {
    const file = join(dir, 'catalog.yaml');
    if (!existsSync(file)) continue;
    const doc: unknown = parse(await readFile(file, 'utf8'));
    const listed = (doc as { archs?: unknown } | null)?.archs;
    const catalogArchs = (Array.isArray(listed) ? listed : ['x86_64']).filter((a) => typeof a === 'string');
    for (const a of catalogArchs) all.add(a);
    if (usesToolchain(doc, dir, stateDir)) for (const a of catalogArchs) archs.add(a);
    for (const { file: config, doc: melange } of await catalogConfigs(dir))
      mirror.push(...mirrorRequests(melange, config));
  }
  return { archs: [...all].sort(), toolchainArchs: [...archs].sort(), mirror };
}

/**
 * The catalogs setup prepares for: the configured one, and unless `examples` is false (a worker,
 * which builds its configured catalog only), every `examples/<name>/` catalog of the repository.
 */
export async function repositoryCatalogs(config: KilnConfig, examples = true): Promise<string[]> {
  const examplesDir = join(config.repoRoot, 'examples');
  const dirs = [config.catalogDir];
  if (examples && existsSync(examplesDir))
    for (const e of (await readdir(examplesDir, { withFileTypes: true })).filter((d) => d.isDirectory()))
      dirs.push(join(examplesDir, e.name));
  return [...new Set(dirs.map((d) => resolve(d)))].filter((d) => existsSync(join(d, 'catalog.yaml')));
}

/** Setup's step: the toolchain and mirror the catalogs need (catalogNeeds), nothing when none does. */
export async function prepareCatalogNeeds(
  config: KilnConfig,
  stateDir: string,
  needs: CatalogNeeds,
  log: (s: string) => void = console.log,
): Promise<void> {
  if (!needs.toolchainArchs.length && !needs.mirror.length)
    log('    no catalog uses the toolchain or the source mirror');
  for (const arch of needs.toolchainArchs) await toolchainRepository({ config, stateDir, arch, log });
  if (needs.mirror.length) await sourceMirror({ config, stateDir, requests: needs.mirror, log });
}
