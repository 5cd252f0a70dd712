// Image phase activities: assemble with apko from the signed repository, push by digest, then
// move tags. Assembly is keyed by its inputs; a digest already in the registry is not pushed again.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { kilnPaths } from '../config/config.js';
import { apkoBuild } from '../adapters/apko.js';
import { RegistryClient, layoutIndex, parseImageRef, pushLayout } from '../oci/registry.js';
import { readSnapshot } from './snapshot.js';
import { TOOLS } from '../adapters/toolchain.js';

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

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

/** An image's bytes depend on its apko config and the repositories' current indexes. */
async function imageInputDigest(config: string, arch: string, repositories: string[], keyring: string[]): Promise<string> {
  const hash = createHash('sha256');
  hash.update(`apko ${TOOLS.apko.version}\narch ${arch}\nconfig ${sha256(await readFile(config))}\n`);
  for (const repo of repositories) {
    const index = join(repo, arch, 'APKINDEX.tar.gz');
    hash.update(`repo ${repo} ${existsSync(index) ? sha256(await readFile(index)) : 'none'}\n`);
  }
  for (const key of keyring) hash.update(`key ${existsSync(key) ? sha256(await readFile(key)) : key}\n`);
  return hash.digest('hex');
}

export async function assembleImage(input: AssembleInput): Promise<AssembledImage> {
  const started = Date.now();
  const catalog = await readSnapshot(input.snapshotDir);
  const spec = catalog.images.find((i) => i.name === input.name);
  if (!spec) throw ApplicationFailure.nonRetryable(`image ${input.name} is not in catalog snapshot ${input.snapshotDir}`, 'CatalogInvalid');
  const { settings } = catalog;
  const paths = kilnPaths();
  const config = join(input.snapshotDir, spec.file);
  const repositories = [settings.packageRepository, ...settings.repositories];
  const arch = settings.archs.join(',');
  const key = await imageInputDigest(config, arch, repositories, settings.keyring);
  const dir = join(paths.images, `${spec.name}-${key.slice(0, 16)}`);
  if (!existsSync(join(dir, 'layout', 'index.json'))) {
    const attempt = `${dir}.attempt-${Context.current().info.attempt}-${process.pid}`;
    await rm(attempt, { recursive: true, force: true });
    await mkdir(join(attempt, 'layout'), { recursive: true });
    await mkdir(join(attempt, 'sbom'), { recursive: true });
    await apkoBuild({
      config,
      tag: `${settings.registry}/${spec.name}:kiln-build`,
      layoutDir: join(attempt, 'layout'),
      sbomDir: join(attempt, 'sbom'),
      arch,
      repositories,
      keyring: settings.keyring,
      cacheDir: join(paths.state, 'cache', 'apko'),
      logFile: join(paths.logs, 'images', `${spec.name}.log`),
    });
    await rm(dir, { recursive: true, force: true });
    await rename(attempt, dir);
  }
  const index = await layoutIndex(join(dir, 'layout'));
  const apkArch: Record<string, string> = { amd64: 'x86_64', arm64: 'aarch64' };
  return {
    name: spec.name,
    layoutDir: join(dir, 'layout'),
    digest: index.digest,
    manifests: index.manifests.map((m) => {
      const arch = apkArch[m.platform?.architecture ?? ''] ?? m.platform?.architecture ?? 'unknown';
      return { arch, digest: m.digest, sbomFile: join(dir, 'sbom', `sbom-${arch}.spdx.json`) };
    }),
    sbomFile: join(dir, 'sbom', 'sbom-index.spdx.json'),
    durationMs: Date.now() - started,
  };
}

export interface PushInput {
  /** `host[:port]/path` without tag or digest. */
  repository: string;
  layoutDir: string;
  digest: string;
}

/** Pushes the image by digest; tags are not touched here. Returns whether anything was uploaded. */
export async function pushImage(input: PushInput): Promise<{ reference: string; pushed: boolean }> {
  const client = new RegistryClient(parseImageRef(input.repository));
  const reference = `${input.repository}@${input.digest}`;
  if (await client.getManifest(input.digest)) return { reference, pushed: false };
  const index = await layoutIndex(input.layoutDir);
  if (index.digest !== input.digest) {
    throw ApplicationFailure.nonRetryable(`layout ${input.layoutDir} holds ${index.digest}, not ${input.digest}`, 'CorruptArtifact');
  }
  await pushLayout(client, input.layoutDir);
  return { reference, pushed: true };
}

/** Points each tag at the digest (after everything about the digest succeeded). */
export async function tagImage(input: { repository: string; digest: string; tags: string[] }): Promise<{ moved: string[]; unchanged: string[] }> {
  const client = new RegistryClient(parseImageRef(input.repository));
  const manifest = await client.getManifest(input.digest);
  if (!manifest) throw ApplicationFailure.nonRetryable(`${input.repository}@${input.digest} is not in the registry; push it first`, 'RegistryRejected');
  const moved: string[] = [];
  const unchanged: string[] = [];
  for (const tag of input.tags) {
    const current = await client.getManifest(tag);
    if (current && sha256(current.body) === input.digest.replace(/^sha256:/, '')) {
      unchanged.push(tag);
      continue;
    }
    await client.putManifest(tag, manifest.mediaType, manifest.body);
    moved.push(tag);
  }
  return { moved, unchanged };
}

