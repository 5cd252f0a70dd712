// pushImage and tagImage: the image goes to the registry by digest first (nothing points at it
// yet), and tags move to it only after everything about that digest succeeded.
import type { KilnConfig } from '../config/config.js';
import { sha256digest } from '../domain/digest.js';
import { corruptArtifact, failure } from '../domain/failures.js';
import { readLayoutIndex } from '../oci/layout.js';
import { RegistryClient, parseImageRef, pushLayout } from '../oci/registry.js';

export interface PushInput {
  /** `host[:port]/path` without tag or digest. */
  repository: string;
  layoutDir: string;
  digest: string;
}

/**
 * Pushes the image by digest from its layout (every blob through the checked layout reader); tags
 * are not touched here. A digest already in the registry is not pushed again (`pushed: false`).
 */
export async function pushImage(config: KilnConfig, input: PushInput): Promise<{ reference: string; pushed: boolean }> {
  const client = new RegistryClient(parseImageRef(input.repository), config.registryAuth);
  const reference = `${input.repository}@${input.digest}`;
  if (await client.getManifest(input.digest)) return { reference, pushed: false };
  const index = await readLayoutIndex(input.layoutDir);
  if (index.digest !== input.digest)
    throw corruptArtifact(`layout ${input.layoutDir} holds ${index.digest}, not ${input.digest}`);
  await pushLayout(client, input.layoutDir);
  return { reference, pushed: true };
}

export interface TagInput {
  repository: string;
  digest: string;
  tags: string[];
}

/** Points each tag at the digest (after everything about the digest succeeded). */
export async function tagImage(config: KilnConfig, input: TagInput): Promise<{ moved: string[]; unchanged: string[] }> {
  const client = new RegistryClient(parseImageRef(input.repository), config.registryAuth);
  const manifest = await client.getManifest(input.digest);
  if (!manifest)
    throw failure('RegistryRejected', `${input.repository}@${input.digest} is not in the registry; push it first`);
  const moved: string[] = [];
  const unchanged: string[] = [];
  for (const tag of input.tags) {
    const current = await client.getManifest(tag);
    if (current && sha256digest(current.body) === input.digest) {
      unchanged.push(tag);
      continue;
    }
    await client.putManifest(tag, manifest.mediaType, manifest.body);
    moved.push(tag);
  }
  return { moved, unchanged };
}
