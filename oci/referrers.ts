// OCI 1.1 referrers: the artifacts (signatures, attestations) attached to an image by a manifest's
// `subject`, listed through the registry's referrers API or, where it has none (Distribution 2.8),
// through the referrers tag schema `sha256-<hex>` that cosign v3 also writes there.
import { sha256digest } from '../domain/digest.js';
import { failure } from '../domain/failures.js';
import type { Descriptor, RegistryClient } from './registry.js';

const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

/** A descriptor in a referrers list: which artifact it is, and its manifest's annotations. */
export interface ReferrerDescriptor extends Descriptor {
  artifactType?: string;
  annotations?: Record<string, string>;
}

/** The referrers tag schema: `<alg>-<hex>`, cut to the 128 characters a tag may have. */
export function referrersTag(digest: string): string {
  return digest.replace(':', '-').slice(0, 128);
}

/**
 * Manifests whose `subject` is `digest`: from the referrers API when the registry has one (a 200
 * with an OCI index), otherwise from the referrers tag schema `sha256-<hex>` (distribution-spec
 * v1.1), which Distribution 2.8/3.x and cosign v3 use against such registries.
 */
export async function listReferrers(
  client: RegistryClient,
  digest: string,
): Promise<{ source: 'api' | 'tag'; manifests: ReferrerDescriptor[] }> {
  const first = `${client.base}/referrers/${digest}`;
  const manifests: ReferrerDescriptor[] = [];
  for (let url: string | undefined = first; url;) {
    const res = await client.send(url, { method: 'GET', headers: { accept: OCI_INDEX } });
    const isIndex = res.status === 200 && (res.headers.get('content-type') ?? '').startsWith(OCI_INDEX);
    if (!isIndex && url === first) {
      // No referrers API (Distribution answers 404 text/plain): use the tag schema.
      await res.arrayBuffer().catch(() => undefined);
      return { source: 'tag', manifests: await referrersTagIndex(client, digest) };
    }
    await client.check(res, `listing referrers of ${digest}`);
    manifests.push(...(((await res.json()) as { manifests?: ReferrerDescriptor[] }).manifests ?? []));
    url = client.nextPage(res);
  }
  return { source: 'api', manifests };
}

async function referrersTagIndex(client: RegistryClient, digest: string): Promise<ReferrerDescriptor[]> {
  const tag = referrersTag(digest);
  const index = await client.getManifest(tag);
  if (!index) return [];
  if (!index.mediaType.startsWith(OCI_INDEX)) {
    throw failure('RegistryRejected', `tag ${tag} on ${client.where} is a ${index.mediaType}, not a referrers index`);
  }
  return (JSON.parse(index.body.toString('utf8')) as { manifests?: ReferrerDescriptor[] }).manifests ?? [];
}

/**
 * Puts a manifest that has a `subject`, by digest. `indexed` is whether the registry said it
 * indexes referrers itself (`OCI-Subject`); when it did not, the caller updates the tag schema.
 */
export async function putReferrer(
  client: RegistryClient,
  mediaType: string,
  body: Buffer,
): Promise<{ digest: string; indexed: boolean }> {
  const digest = sha256digest(body);
  const res = await client.check(
    await client.send(`${client.base}/manifests/${digest}`, {
      method: 'PUT',
      body,
      headers: { 'content-type': mediaType },
    }),
    `putting referrer manifest ${digest}`,
  );
  return { digest, indexed: res.headers.get('oci-subject') !== null };
}

/** Referrers-index writers in this process, one chain per registry repository and subject. */
const indexWriters = new Map<string, Promise<void>>();

/**
 * Adds and removes descriptors in the referrers tag index of `subject` in one PUT, so a replaced
 * artifact is never listed next to its successor. Distribution 2.8 has no conditional manifest
 * PUT, so concurrent writers (several attestations of one image at once) could overwrite each
 * other: writers in this process take turns, and a short pause then a read-back catches most
 * writers on other workers (cosign does neither).
 */
export async function updateReferrersTag(
  client: RegistryClient,
  subject: string,
  change: { add?: ReferrerDescriptor[]; remove?: string[] },
): Promise<void> {
  const key = `${client.base} ${subject}`;
  const previous = indexWriters.get(key) ?? Promise.resolve();
  const turn = previous.then(() => mergeReferrersTag(client, subject, change));
  const settled = turn.catch(() => undefined);
  indexWriters.set(key, settled);
  try {
    return await turn;
  } finally {
    if (indexWriters.get(key) === settled) indexWriters.delete(key);
  }
}

async function mergeReferrersTag(
  client: RegistryClient,
  subject: string,
  change: { add?: ReferrerDescriptor[]; remove?: string[] },
): Promise<void> {
  const remove = new Set(change.remove ?? []);
  const add = change.add ?? [];
  for (let attempt = 0; attempt < 5; attempt++) {
    const current = await referrersTagIndex(client, subject);
    const kept = current.filter((d) => !remove.has(d.digest));
    const listed = new Set(kept.map((d) => d.digest));
    const manifests = [...kept, ...add.filter((d) => !listed.has(d.digest))];
    if (manifests.length === current.length && manifests.every((d, i) => d.digest === current[i]!.digest)) return;
    const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests }));
    await client.putManifest(referrersTag(subject), OCI_INDEX, body);
    await new Promise((r) => setTimeout(r, 50 + Math.random() * 100));
  }
  // Another writer keeps winning: worth another attempt later.
  throw failure(
    'RegistryConflict',
    `referrers index ${referrersTag(subject)} on ${client.where} keeps changing under concurrent writers`,
    { retryable: true },
  );
}
