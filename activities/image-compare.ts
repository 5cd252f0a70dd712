// compareWithPublished: what the image about to be published changes against the one its tag
// points at now (packages added, removed or changed, and the size change).
import type { KilnConfig } from '../config/config.js';
import { sha256digest } from '../domain/digest.js';
import { corruptArtifact } from '../domain/failures.js';
import { diffPackages, type PackageChange } from '../domain/image-verdicts.js';
import {
  imageFacts,
  layoutImages,
  layoutSource,
  pickImage,
  platformImages,
  registrySource,
} from '../oci/image-reader.js';
import { RegistryClient, parseImageRef } from '../oci/registry.js';

export type { PackageChange };

export interface SizeDelta {
  before: number;
  after: number;
  delta: number;
}

export type ImageDiff =
  | { previous: null }
  | {
      /** Digest the compared tag pointed at. */
      previous: string;
      tag: string;
      /** Layer bytes as stored (compressed) and as tar streams (uncompressed), amd64 image. */
      sizeChange: { compressed: SizeDelta; uncompressed: SizeDelta };
      added: { name: string; version: string }[];
      removed: { name: string; version: string }[];
      changed: PackageChange[];
    };

export interface CompareInput {
  repository: string;
  digest: string;
  layoutDir: string;
  tags?: string[];
}

/**
 * Compares the image about to be published with the one `latest` (or else the first of `tags`
 * that exists) points at now. Nothing published yet is `{ previous: null }`, never an error.
 */
export async function compareWithPublished(config: KilnConfig, input: CompareInput): Promise<ImageDiff> {
  const client = new RegistryClient(parseImageRef(input.repository), config.registryAuth);
  let found: { tag: string; mediaType: string; body: Buffer } | undefined;
  for (const tag of [...new Set(['latest', ...(input.tags ?? [])])]) {
    const m = await client.getManifest(tag);
    if (m) {
      found = { tag, mediaType: m.mediaType, body: m.body };
      break;
    }
  }
  if (!found) return { previous: null };
  const previous = sha256digest(found.body);
  const current = pickImage(await layoutImages(input.layoutDir));
  if (!current) throw corruptArtifact(`layout ${input.layoutDir} holds no image`);
  const after = await imageFacts(layoutSource(input.layoutDir), current, `layout ${input.layoutDir}`);
  let before = after;
  if (previous !== input.digest) {
    const source = registrySource(client);
    const old = pickImage(
      await platformImages(source, { mediaType: found.mediaType, body: found.body, digest: previous }),
    );
    before = old
      ? await imageFacts(source, old, `${input.repository}:${found.tag}`)
      : { packages: [], compressedBytes: 0, uncompressedBytes: 0 };
  }
  const delta = (b: number, a: number): SizeDelta => ({ before: b, after: a, delta: a - b });
  return {
    previous,
    tag: found.tag,
    sizeChange: {
      compressed: delta(before.compressedBytes, after.compressedBytes),
      uncompressed: delta(before.uncompressedBytes, after.uncompressedBytes),
    },
    ...diffPackages(before.packages, after.packages),
  };
}
