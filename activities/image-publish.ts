// pushImage and tagImage: the image goes to the registry by digest first (nothing points at it
// yet), and tags move to it only after everything about that digest succeeded and verified, and
// never away from an image built from a newer catalog.
import type { KilnConfig } from '../config/config.js';
import { sha256digest } from '../domain/digest.js';
import { corruptArtifact, failure } from '../domain/failures.js';
import { CATALOG_TIME_PATH, mayMoveTag } from '../domain/image-verdicts.js';
import { readLayoutIndex } from '../oci/layout.js';
import { RegistryClient, parseImageRef, pushLayout } from '../oci/registry.js';
import { attachedBundles } from '../signing/bundles.js';
import { signingPolicy, trustedSigner } from '../signing/signer.js';
import { PREDICATE_TYPES, checkDigest, coversDigest, valueAt } from '../signing/statements.js';

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
  /**
   * RFC 3339: this run's place in the order of runs, as its provenance records it. A tag pointing
   * at an image whose kiln provenance records a later one stays there. Unset: tags always move.
   */
  catalogTime?: string;
  /** The run's catalog snapshot, whose `signing:` policy says whose (keyless) provenance is kiln's. */
  snapshotDir?: string;
}

export interface TagResult {
  moved: string[];
  unchanged: string[];
  /**
   * Tags left on an image built from a newer catalog (`catalogTime`: what its provenance records);
   * absent when there are none.
   */
  kept?: { tag: string; digest: string; catalogTime: string }[];
}

/** Catalog times recorded by provenance that kiln signed about `digest`, latest first. */
async function recordedCatalogTimes(
  client: RegistryClient,
  trusted: Awaited<ReturnType<typeof trustedSigner>>,
  digest: string,
): Promise<string[]> {
  const hex = checkDigest(digest);
  return (await attachedBundles(client, digest, trusted.ours))
    .filter(
      (a) =>
        a.trusted && a.statement!.predicateType === PREDICATE_TYPES.slsaprovenance1 && coversDigest(a.statement!, hex),
    )
    .map((a) => valueAt(a.statement!.predicate, CATALOG_TIME_PATH))
    .filter((t): t is string => typeof t === 'string' && !Number.isNaN(Date.parse(t)))
    .sort((a, b) => Date.parse(b) - Date.parse(a));
}

/**
 * Points each tag at the digest (called after the digest's signature and attestations verified),
 * except a tag whose image has kiln provenance from a newer catalog than `catalogTime`: that one
 * stays, and is reported in `kept`.
 */
export async function tagImage(config: KilnConfig, input: TagInput): Promise<TagResult> {
  const client = new RegistryClient(parseImageRef(input.repository), config.registryAuth);
  const manifest = await client.getManifest(input.digest);
  if (!manifest)
    throw failure('RegistryRejected', `${input.repository}@${input.digest} is not in the registry; push it first`);
  const moved: string[] = [];
  const unchanged: string[] = [];
  const kept: Required<TagResult>['kept'] = [];
  const times = new Map<string, string[]>();
  let trusted: Awaited<ReturnType<typeof trustedSigner>> | undefined;
  for (const tag of input.tags) {
    const current = await client.getManifest(tag);
    const currentDigest = current && sha256digest(current.body);
    if (currentDigest === input.digest) {
      unchanged.push(tag);
      continue;
    }
    if (currentDigest && input.catalogTime) {
      trusted ??= await trustedSigner(config, await signingPolicy(input.snapshotDir));
      if (!times.has(currentDigest))
        times.set(currentDigest, await recordedCatalogTimes(client, trusted, currentDigest));
      const theirs = times.get(currentDigest)!;
      if (!mayMoveTag(input.catalogTime, theirs)) {
        kept.push({ tag, digest: currentDigest, catalogTime: theirs[0]! });
        continue;
      }
    }
    await client.putManifest(tag, manifest.mediaType, manifest.body);
    moved.push(tag);
  }
  return { moved, unchanged, ...(kept.length ? { kept } : {}) };
}
