// assembleImage: apko builds the image from the signed repository into an OCI layout on the
// worker's disk. Assembly is keyed by its inputs, so an unchanged image is not built again.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { asyncLocalStorage } from '@temporalio/activity';
import type { KilnConfig } from '../config/config.js';
import { sha256hex, sha256stream } from '../domain/digest.js';
import { failure } from '../domain/failures.js';
import { apkoBuild } from '../adapters/apko.js';
import { listImagePackageFiles } from '../apk/kept-sbom.js';
import { TOOLS } from '../adapters/toolchain.js';
import { readLayoutIndex } from '../oci/layout.js';
import { readSnapshot } from '../io/catalog-snapshot.js';
import { markUsed } from '../io/state-use.js';

export interface AssembleInput {
  snapshotDir: string;
  name: string;
}

export interface AssembledImage {
  name: string;
  /** OCI image layout on the worker's disk. */
  layoutDir: string;
  /** Digest of the image index apko produced: what gets pushed and tagged. */
  digest: string;
  /** The per-arch images in the index, with their SBOMs (apko writes one per arch, plus the index's). */
  manifests: { arch: string; digest: string; sbomFile: string }[];
  /** apko's SPDX SBOM of the index. */
  sbomFile: string;
  durationMs: number;
}

/** An image's bytes depend on its apko config (with what it includes) and the repositories' current indexes. */
async function imageInputDigest(
  configs: string[],
  arch: string,
  repositories: string[],
  keyring: string[],
): Promise<string> {
  const hash = sha256stream();
  hash.update(`apko ${TOOLS.apko.version}\narch ${arch}\n`);
  for (const config of configs) hash.update(`config ${sha256hex(await readFile(config))}\n`);
  for (const repo of repositories) {
    const index = join(repo, arch, 'APKINDEX.tar.gz');
    hash.update(`repo ${repo} ${existsSync(index) ? sha256hex(await readFile(index)) : 'none'}\n`);
  }
  for (const key of keyring) hash.update(`key ${existsSync(key) ? sha256hex(await readFile(key)) : key}\n`);
  return hash.digest('hex');
}

const APK_ARCH: Record<string, string> = { amd64: 'x86_64', arm64: 'aarch64' };

export async function assembleImage(config: KilnConfig, input: AssembleInput): Promise<AssembledImage> {
  const started = Date.now();
  const catalog = await readSnapshot(input.snapshotDir);
  const spec = catalog.images.find((i) => i.name === input.name);
  if (!spec) throw failure('CatalogInvalid', `image ${input.name} is not in catalog snapshot ${input.snapshotDir}`);
  const { settings } = catalog;
  const { paths } = config;
  const apkoConfig = join(input.snapshotDir, spec.file);
  const repositories = [settings.packageRepository, ...settings.repositories];
  const arch = settings.archs.join(',');
  const configs = [apkoConfig, ...(spec.includes ?? []).map((f) => join(input.snapshotDir, f))];
  const key = await imageInputDigest(configs, arch, repositories, settings.keyring);
  const dir = join(paths.images, `${spec.name}-${key.slice(0, 16)}`);
  // Marked used first (io/state-use.ts): a clean-up that listed it before this run reused it leaves it.
  if (!((await markUsed(dir)) && existsSync(join(dir, 'layout', 'index.json')))) {
    // Its own scratch directory: two runs assembling the same image at once never share one.
    await mkdir(paths.images, { recursive: true });
    const attempt = await mkdtemp(`${dir}.attempt-${asyncLocalStorage.getStore()?.info.attempt ?? 1}-`);
    await mkdir(join(attempt, 'layout'), { recursive: true });
    await mkdir(join(attempt, 'sbom'), { recursive: true });
    try {
      await apkoBuild(config.tools, {
        config: apkoConfig,
        tag: `${settings.registry}/${spec.name}:kiln-build`,
        layoutDir: join(attempt, 'layout'),
        sbomDir: join(attempt, 'sbom'),
        arch,
        repositories,
        keyring: settings.keyring,
        cacheDir: join(paths.state, 'cache', 'apko'),
        includePath: input.snapshotDir,
        logFile: join(paths.logs, 'images', `${spec.name}.log`),
      });
      // apko lists packages without their files: each arch's SBOM gets them from the SBOMs kiln keeps.
      for (const file of await readdir(join(attempt, 'sbom')))
        if (/^sbom-(?!index\.).*\.spdx\.json$/.test(file))
          await listImagePackageFiles(join(attempt, 'sbom', file), repositories);
      await rename(attempt, dir).catch(async (err: unknown) => {
        // Another run finished the same inputs first (and may be reading them): keep that one.
        if (existsSync(join(dir, 'layout', 'index.json'))) return;
        if ((err as NodeJS.ErrnoException).code !== 'ENOTEMPTY' && (err as NodeJS.ErrnoException).code !== 'EEXIST')
          throw err;
        await rm(dir, { recursive: true, force: true }); // an incomplete leftover
        await rename(attempt, dir);
      });
    } finally {
      await rm(attempt, { recursive: true, force: true });
    }
  }
  const index = await readLayoutIndex(join(dir, 'layout'));
  return {
    name: spec.name,
    layoutDir: join(dir, 'layout'),
    digest: index.digest,
    manifests: index.manifests.map((m) => {
      const arch = APK_ARCH[m.platform?.architecture ?? ''] ?? m.platform?.architecture ?? 'unknown';
      return { arch, digest: m.digest, sbomFile: join(dir, 'sbom', `sbom-${arch}.spdx.json`) };
    }),
    sbomFile: join(dir, 'sbom', 'sbom-index.spdx.json'),
    durationMs: Date.now() - started,
  };
}
