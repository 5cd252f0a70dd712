// A small OCI distribution client on fetch: push an OCI image layout by digest, then point tags at
// it. Registry 5xx/429 and network errors are retryable (honouring Retry-After); other 4xx are not.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { Agent, fetch, type RequestInit, type Response } from 'undici';
import { registryAuth, type RegistryAuth } from '../config/config.js';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { architecture: string; os: string };
}

export interface ImageRef {
  /** `host[:port]` */
  registry: string;
  /** Repository path, e.g. `kiln/hello`. */
  repository: string;
}

export function parseImageRef(ref: string): ImageRef {
  const slash = ref.indexOf('/');
  if (slash < 0) throw new Error(`image reference ${ref} has no registry host (expected host[:port]/path)`);
  return { registry: ref.slice(0, slash), repository: ref.slice(slash + 1) };
}

/** Node's TLS verification failures: the registry's certificate is not trusted (or not valid for it). */
const CERTIFICATE_ERRORS = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'CERT_SIGNATURE_FAILURE', 'CERT_UNTRUSTED', 'CERT_REJECTED', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);
const LOOPBACK = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])(:\d+)?$/;
const INDEX_TYPES = new Set(['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json']);
const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

export class RegistryClient {
  private readonly base: string;
  private readonly dispatcher?: Agent;
  private token?: string;

  constructor(private readonly ref: ImageRef, private readonly auth: RegistryAuth = registryAuth()) {
    // A configured CA means TLS, even on loopback; otherwise plain HTTP only for loopback hosts.
    const plain = auth.insecure ?? (LOOPBACK.test(ref.registry) && !auth.caFile);
    this.base = `${plain ? 'http' : 'https'}://${ref.registry}/v2/${ref.repository}`;
    if (auth.caFile) {
      let ca: Buffer;
      try {
        ca = readFileSync(auth.caFile);
      } catch (err) {
        throw ApplicationFailure.nonRetryable(`KILN_REGISTRY_CA ${auth.caFile} cannot be read on this worker: ${(err as Error).message}`, 'RegistryMisconfigured');
      }
      this.dispatcher = new Agent({ connect: { ca } });
    }
  }

  private authHeader(): Record<string, string> {
    if (this.token) return { authorization: `Bearer ${this.token}` };
    if (this.auth.username) {
      return { authorization: `Basic ${Buffer.from(`${this.auth.username}:${this.auth.password ?? ''}`).toString('base64')}` };
    }
    return {};
  }

  /** Answers a Bearer challenge (token servers); Basic credentials are sent up front. */
  private async login(challenge: string): Promise<boolean> {
    const m = /^Bearer\s+(.*)$/i.exec(challenge);
    if (!m) return false;
    const params = Object.fromEntries([...m[1]!.matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (!params.realm) return false;
    const url = new URL(params.realm);
    if (params.service) url.searchParams.set('service', params.service);
    url.searchParams.set('scope', params.scope ?? `repository:${this.ref.repository}:pull,push`);
    const res = await this.send(url.toString(), { method: 'GET', headers: this.auth.username ? { authorization: `Basic ${Buffer.from(`${this.auth.username}:${this.auth.password ?? ''}`).toString('base64')}` } : {} }, false);
    const body = (await res.json()) as { token?: string; access_token?: string };
    this.token = body.token ?? body.access_token;
    return Boolean(this.token);
  }

  private async send(url: string, init: RequestInit & { headers?: Record<string, string> }, retryAuth = true): Promise<Response> {
    let res: Response;
    try {
      res = await fetch(url, { ...init, headers: { ...this.authHeader(), ...init.headers }, redirect: 'follow', dispatcher: this.dispatcher });
    } catch (err) {
      const cause = (err as { cause?: Error & { code?: string } }).cause;
      // An untrusted certificate stays untrusted however often it is retried.
      if (cause?.code && CERTIFICATE_ERRORS.has(cause.code)) {
        const fix = cause.code === 'CERT_HAS_EXPIRED' || cause.code === 'CERT_NOT_YET_VALID' ? "renew the registry's certificate"
          : cause.code === 'ERR_TLS_CERT_ALTNAME_INVALID' ? `give the registry a certificate for ${this.ref.registry.replace(/:\d+$/, '')}`
          : this.auth.caFile ? `KILN_REGISTRY_CA ${this.auth.caFile} is not the CA that issued it; point KILN_REGISTRY_CA at the one that did`
          : 'set KILN_REGISTRY_CA to the PEM file of the CA that issued it';
        throw ApplicationFailure.nonRetryable(`registry ${this.ref.registry} presented a certificate this worker does not trust: ${cause.message} (${cause.code}) (fix: ${fix})`, 'RegistryUntrusted');
      }
      throw ApplicationFailure.retryable(`registry ${this.ref.registry} unreachable: ${(err as Error).message} (${cause?.message ?? ''})`, 'RegistryUnavailable');
    }
    if (res.status === 401 && retryAuth) {
      const challenge = res.headers.get('www-authenticate') ?? '';
      if (await this.login(challenge)) return this.send(url, init, false);
    }
    if (res.status === 429 || res.status >= 500) {
      const after = Number(res.headers.get('retry-after'));
      throw ApplicationFailure.create({
        message: `registry ${this.ref.registry} answered ${res.status} for ${init.method ?? 'GET'} ${url}`,
        type: 'RegistryUnavailable',
        nextRetryDelay: Number.isFinite(after) && after > 0 ? `${after}s` : undefined,
      });
    }
    return res;
  }

  private async expectOk(res: Response, what: string): Promise<Response> {
    if (res.ok) return res;
    const text = await res.text().catch(() => '');
    const denied = res.status === 401 || res.status === 403;
    const hint = !denied ? '' : this.auth.username
      ? ` (fix: check KILN_REGISTRY_USERNAME (${this.auth.username}) and KILN_REGISTRY_PASSWORD on the worker, and that this user may push to ${this.ref.repository})`
      : ' (fix: set KILN_REGISTRY_USERNAME and KILN_REGISTRY_PASSWORD on the worker)';
    throw ApplicationFailure.nonRetryable(`${what} on ${this.ref.registry}/${this.ref.repository}: ${res.status} ${text.slice(0, 300)}${hint}`, 'RegistryRejected');
  }

  async hasBlob(digest: string): Promise<boolean> {
    const res = await this.send(`${this.base}/blobs/${digest}`, { method: 'HEAD' });
    return res.status === 200;
  }

  async putBlob(digest: string, data: Buffer): Promise<void> {
    if (await this.hasBlob(digest)) return;
    const start = await this.expectOk(await this.send(`${this.base}/blobs/uploads/`, { method: 'POST' }), 'starting a blob upload');
    const location = new URL(start.headers.get('location') ?? '', `${this.base}/`);
    location.searchParams.set('digest', digest);
    await this.expectOk(
      await this.send(location.toString(), { method: 'PUT', body: data, headers: { 'content-type': 'application/octet-stream' } }),
      `uploading blob ${digest}`,
    );
  }

  async putManifest(reference: string, mediaType: string, body: Buffer): Promise<string> {
    const res = await this.expectOk(
      await this.send(`${this.base}/manifests/${reference}`, { method: 'PUT', body, headers: { 'content-type': mediaType } }),
      `putting manifest ${reference}`,
    );
    return res.headers.get('docker-content-digest') ?? reference;
  }

  /** The manifest bytes and media type, or undefined when the registry does not have it. */
  async getManifest(reference: string): Promise<{ mediaType: string; digest: string; body: Buffer } | undefined> {
    const res = await this.send(`${this.base}/manifests/${reference}`, { method: 'GET', headers: { accept: MANIFEST_ACCEPT } });
    if (res.status === 404) return undefined;
    await this.expectOk(res, `getting manifest ${reference}`);
    const body = Buffer.from(await res.arrayBuffer());
    return { mediaType: res.headers.get('content-type') ?? '', digest: res.headers.get('docker-content-digest') ?? '', body };
  }

  /** The `rel="next"` target of a paginated answer (tags list, referrers), resolved against the registry. */
  private nextPage(res: Response): string | undefined {
    const m = /<([^>]+)>\s*;\s*rel="?next"?/i.exec(res.headers.get('link') ?? '');
    return m ? new URL(m[1]!, this.base).toString() : undefined;
  }

  /** The repository's tags; empty when the repository does not exist yet. */
  async listTags(): Promise<string[]> {
    const tags: string[] = [];
    for (let url: string | undefined = `${this.base}/tags/list`; url; ) {
      const res = await this.send(url, { method: 'GET' });
      if (res.status === 404) return tags;
      await this.expectOk(res, 'listing tags');
      tags.push(...(((await res.json()) as { tags?: string[] | null }).tags ?? []));
      url = this.nextPage(res);
    }
    return tags;
  }

  /** A blob's bytes, checked against its digest (a proxy or cache must not hand back other bytes). */
  async getBlob(digest: string): Promise<Buffer> {
    const res = await this.expectOk(await this.send(`${this.base}/blobs/${digest}`, { method: 'GET' }), `getting blob ${digest}`);
    const body = Buffer.from(await res.arrayBuffer());
    const [alg, hex] = digest.split(':');
    if (alg !== 'sha256' || createHash('sha256').update(body).digest('hex') !== hex) {
      throw ApplicationFailure.nonRetryable(`blob ${digest} from ${this.ref.registry}/${this.ref.repository} does not match its digest`, 'CorruptArtifact');
    }
    return body;
  }

  /** Deletes a manifest by digest (Distribution cannot delete by tag); false when it was not there. */
  async deleteManifest(digest: string): Promise<boolean> {
    const res = await this.send(`${this.base}/manifests/${digest}`, { method: 'DELETE' });
    if (res.status === 404) return false;
    await this.expectOk(res, `deleting manifest ${digest}`);
    return true;
  }

  /**
   * Manifests whose `subject` is `digest`: from the referrers API when the registry has one (a 200
   * with an OCI index), otherwise from the referrers tag schema `sha256-<hex>` (distribution-spec
   * v1.1), which Distribution 2.8/3.x and cosign v3 use against such registries.
   */
  async referrers(digest: string): Promise<{ source: 'api' | 'tag'; manifests: ReferrerDescriptor[] }> {
    const first = `${this.base}/referrers/${digest}`;
    const manifests: ReferrerDescriptor[] = [];
    for (let url: string | undefined = first; url; ) {
      const res = await this.send(url, { method: 'GET', headers: { accept: OCI_INDEX } });
      const isIndex = res.status === 200 && (res.headers.get('content-type') ?? '').startsWith(OCI_INDEX);
      if (!isIndex && url === first) {
        // No referrers API (Distribution answers 404 text/plain): use the tag schema.
        await res.arrayBuffer().catch(() => undefined);
        return { source: 'tag', manifests: await this.referrersTagIndex(digest) };
      }
      await this.expectOk(res, `listing referrers of ${digest}`);
      manifests.push(...(((await res.json()) as { manifests?: ReferrerDescriptor[] }).manifests ?? []));
      url = this.nextPage(res);
    }
    return { source: 'api', manifests };
  }

  private async referrersTagIndex(digest: string): Promise<ReferrerDescriptor[]> {
    const tag = referrersTag(digest);
    const index = await this.getManifest(tag);
    if (!index) return [];
    if (!index.mediaType.startsWith(OCI_INDEX)) {
      throw ApplicationFailure.nonRetryable(`tag ${tag} on ${this.ref.registry}/${this.ref.repository} is a ${index.mediaType}, not a referrers index`, 'RegistryRejected');
    }
    return (JSON.parse(index.body.toString('utf8')) as { manifests?: ReferrerDescriptor[] }).manifests ?? [];
  }

  /**
   * Puts a manifest that has a `subject`, by digest. `indexed` is whether the registry said it
   * indexes referrers itself (`OCI-Subject`); when it did not, the caller updates the tag schema.
   */
  async putReferrer(mediaType: string, body: Buffer): Promise<{ digest: string; indexed: boolean }> {
    const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
    const res = await this.expectOk(
      await this.send(`${this.base}/manifests/${digest}`, { method: 'PUT', body, headers: { 'content-type': mediaType } }),
      `putting referrer manifest ${digest}`,
    );
    return { digest, indexed: res.headers.get('oci-subject') !== null };
  }

  /**
   * Adds and removes descriptors in the referrers tag index of `subject` in one PUT, so a replaced
   * artifact is never listed next to its successor. Distribution 2.8 has no conditional manifest
   * PUT, so concurrent writers (several attestations of one image at once) could overwrite each
   * other: writers in this process take turns, and a short pause then a read-back catches most
   * writers on other workers (cosign does neither).
   */
  async updateReferrersTag(subject: string, change: { add?: ReferrerDescriptor[]; remove?: string[] }): Promise<void> {
    const key = `${this.base} ${subject}`;
    const previous = indexWriters.get(key) ?? Promise.resolve();
    const turn = previous.then(() => this.mergeReferrersTag(subject, change));
    const settled = turn.catch(() => undefined);
    indexWriters.set(key, settled);
    try {
      return await turn;
    } finally {
      if (indexWriters.get(key) === settled) indexWriters.delete(key);
    }
  }

  private async mergeReferrersTag(subject: string, change: { add?: ReferrerDescriptor[]; remove?: string[] }): Promise<void> {
    const remove = new Set(change.remove ?? []);
    const add = change.add ?? [];
    for (let attempt = 0; attempt < 5; attempt++) {
      const current = await this.referrersTagIndex(subject);
      const kept = current.filter((d) => !remove.has(d.digest));
      const listed = new Set(kept.map((d) => d.digest));
      const manifests = [...kept, ...add.filter((d) => !listed.has(d.digest))];
      if (manifests.length === current.length && manifests.every((d, i) => d.digest === current[i]!.digest)) return;
      const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests }));
      await this.putManifest(referrersTag(subject), OCI_INDEX, body);
      await new Promise((r) => setTimeout(r, 50 + Math.random() * 100));
    }
    throw ApplicationFailure.retryable(`referrers index ${referrersTag(subject)} on ${this.ref.registry}/${this.ref.repository} keeps changing under concurrent writers`, 'RegistryConflict');
  }
}

/** Referrers-index writers in this process, one chain per registry repository and subject. */
const indexWriters = new Map<string, Promise<void>>();

/** A descriptor in a referrers list: which artifact it is, and its manifest's annotations. */
export interface ReferrerDescriptor extends Descriptor {
  artifactType?: string;
  annotations?: Record<string, string>;
}

const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

/** The referrers tag schema: `<alg>-<hex>`, cut to the 128 characters a tag may have. */
export function referrersTag(digest: string): string {
  return digest.replace(':', '-').slice(0, 128);
}

/** Reads a blob from an OCI image layout. */
export function layoutBlob(layoutDir: string, digest: string): Promise<Buffer> {
  const [alg, hex] = digest.split(':');
  return readFile(join(layoutDir, 'blobs', alg!, hex!));
}

/**
 * apko writes the image index itself as the layout's index.json (its manifests are the per-arch
 * images), so the index's bytes, and digest, are those of index.json.
 */
export async function layoutIndex(layoutDir: string): Promise<{ digest: string; body: Buffer; manifests: Descriptor[] }> {
  const body = await readFile(join(layoutDir, 'index.json'));
  const doc = JSON.parse(body.toString('utf8')) as { mediaType?: string; manifests?: Descriptor[] };
  return { digest: `sha256:${createHash('sha256').update(body).digest('hex')}`, body, manifests: doc.manifests ?? [] };
}

/** Pushes an apko layout by digest: every per-arch image first, then the index, so nothing dangles. */
export async function pushLayout(client: RegistryClient, layoutDir: string): Promise<string> {
  const index = await layoutIndex(layoutDir);
  for (const m of index.manifests) await pushFromLayout(client, layoutDir, m);
  return client.putManifest(index.digest, 'application/vnd.oci.image.index.v1+json', index.body).then(() => index.digest);
}

/** Pushes one descriptor and everything it references, children first, so nothing dangles. */
export async function pushFromLayout(client: RegistryClient, layoutDir: string, desc: Descriptor): Promise<void> {
  const body = await layoutBlob(layoutDir, desc.digest);
  const doc = JSON.parse(body.toString('utf8')) as { manifests?: Descriptor[]; config?: Descriptor; layers?: Descriptor[] };
  if (INDEX_TYPES.has(desc.mediaType)) {
    for (const child of doc.manifests ?? []) await pushFromLayout(client, layoutDir, child);
  } else {
    for (const blob of [doc.config, ...(doc.layers ?? [])]) {
      if (blob) await client.putBlob(blob.digest, await layoutBlob(layoutDir, blob.digest));
    }
  }
  await client.putManifest(desc.digest, desc.mediaType, body);
}
