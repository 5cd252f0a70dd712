// What production looks like from outside, for the staging tests: a package repository's files with
// their bytes' digests, and a registry namespace's tags with their manifests' digests and bytes.
// Two reads equal means nothing a client can fetch changed.
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { KilnTestEnv } from '../global-setup.js';
import { layerFiles, registryGet, sha256 } from '../harness.js';

/** Every file of a package repository by path (relative), with its sha256. */
export async function repositoryFiles(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true }))
    if (e.isFile())
      out[join(e.parentPath, e.name).slice(dir.length)] = sha256(await readFile(join(e.parentPath, e.name)));
  return out;
}

/**
 * Names under `<prefix>/` but not `<prefix>/staging/`: each tag's manifest digest and a digest of
 * its bytes (signature and attestation tags included).
 */
export async function productionRegistry(
  env: KilnTestEnv,
  prefix: string,
): Promise<Record<string, Record<string, string>>> {
  const catalog = JSON.parse((await registryGet(env, '_catalog?n=1000')).body.toString()) as {
    repositories: string[];
  };
  const names = catalog.repositories
    .filter((n) => n.startsWith(`${prefix}/`) && !n.startsWith(`${prefix}/staging/`))
    .sort();
  const out: Record<string, Record<string, string>> = {};
  for (const name of names) {
    const list = JSON.parse((await registryGet(env, `${name}/tags/list`)).body.toString()) as {
      tags: string[] | null;
    };
    const tags: Record<string, string> = {};
    for (const t of [...(list.tags ?? [])].sort()) {
      const m = await registryGet(env, `${name}/manifests/${t}`);
      tags[t] = `${m.headers.get('docker-content-digest')} ${sha256(m.body)}`;
    }
    out[name] = tags;
  }
  return out;
}

/** `name version` of each package installed in the amd64 image of an image index. */
export async function installedVersions(env: KilnTestEnv, repository: string, indexDigest: string): Promise<string[]> {
  const index = JSON.parse((await registryGet(env, `${repository}/manifests/${indexDigest}`)).body.toString()) as {
    manifests: { digest: string; platform: { architecture: string } }[];
  };
  const amd64 = index.manifests.find((m) => m.platform.architecture === 'amd64')!;
  const manifest = JSON.parse((await registryGet(env, `${repository}/manifests/${amd64.digest}`)).body.toString()) as {
    layers: { digest: string }[];
  };
  const out: string[] = [];
  for (const layer of manifest.layers) {
    const db = (await layerFiles((await registryGet(env, `${repository}/blobs/${layer.digest}`)).body)).get(
      'usr/lib/apk/db/installed',
    );
    if (db) for (const m of db.toString().matchAll(/^P:(.+)\nV:(.+)$/gm)) out.push(`${m[1]} ${m[2]}`);
  }
  return out.sort();
}
