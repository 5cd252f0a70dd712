// OCI: registry client, image layout reader, referrers, image and layer readers, root filesystems.
// This module: a small OCI distribution client on fetch: push an OCI image layout by digest, then
// point tags at it. Registry 5xx/429 and network errors are retryable (honouring Retry-After, in
// seconds or as an HTTP-date); other 4xx are not. Every request first waits for its slot when
// catalog.yaml limits the host (io/host-pacer.ts), and a 429 holds that limit for every worker.
import { createReadStream, readFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { asyncLocalStorage } from '@temporalio/activity';
import { Agent, fetch, type RequestInit, type Response } from 'undici';
import type { RegistryAuth } from '../config/config.js';
import { sha256digest } from '../domain/digest.js';
import { failure } from '../domain/failures.js';
import { hostOf, retryAfterMs } from '../domain/host-limits.js';
import { pace, throttled } from '../io/host-pacer.js';
import { blobPath, readBlob, readLayoutIndex, streamBlob } from './layout.js';

/** Progress for the activity running this (pushImage), if any: long uploads keep heartbeating. */
const heartbeat = (details: unknown) => asyncLocalStorage.getStore()?.heartbeat(details);

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

/** `host[:port]/path`; anything else is a misconfigured catalog or input, never retried. */
export function parseImageRef(ref: string): ImageRef {
  const slash = ref.indexOf('/');
  if (slash <= 0 || slash === ref.length - 1) {
    throw failure('RegistryMisconfigured', `image reference ${ref} has no registry host (expected host[:port]/path)`);
  }
  return { registry: ref.slice(0, slash), repository: ref.slice(slash + 1) };
}

/** Node's TLS verification failures: the registry's certificate is not trusted (or not valid for it). */
const CERTIFICATE_ERRORS = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);
const LOOPBACK = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])(:\d+)?$/;
export const INDEX_TYPES = new Set([
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
]);
const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

/** One repository on one registry, with the worker's credentials and CA (config.registryAuth). */
export class RegistryClient {
  /** `<scheme>://<host>/v2/<repository>`: the repository's API base. */
  readonly base: string;
  private readonly dispatcher?: Agent;
  private token?: string;

  constructor(
    readonly ref: ImageRef,
    private readonly auth: RegistryAuth,
  ) {
    // A configured CA means TLS, even on loopback; otherwise plain HTTP only for loopback hosts.
    const plain = auth.insecure ?? (LOOPBACK.test(ref.registry) && !auth.caFile);
    this.base = `${plain ? 'http' : 'https'}://${ref.registry}/v2/${ref.repository}`;
    if (auth.caFile) {
      let ca: Buffer;
      try {
        ca = readFileSync(auth.caFile);
      } catch (err) {
        throw failure(
          'RegistryMisconfigured',
          `KILN_REGISTRY_CA ${auth.caFile} cannot be read on this worker: ${(err as Error).message}`,
        );
      }
      this.dispatcher = new Agent({ connect: { ca } });
    }
  }

  private authHeader(): Record<string, string> {
    if (this.token) return { authorization: `Bearer ${this.token}` };
    if (this.auth.username) {
      return {
        authorization: `Basic ${Buffer.from(`${this.auth.username}:${this.auth.password ?? ''}`).toString('base64')}`,
      };
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
    const res = await this.send(
      url.toString(),
      {
        method: 'GET',
        headers: this.auth.username
          ? {
              authorization: `Basic ${Buffer.from(`${this.auth.username}:${this.auth.password ?? ''}`).toString('base64')}`,
            }
          : {},
      },
      false,
    );
    const body = (await res.json()) as { token?: string; access_token?: string };
    this.token = body.token ?? body.access_token;
    return Boolean(this.token);
  }

  /** `registry/repository`, for messages. */
  get where(): string {
    return `${this.ref.registry}/${this.ref.repository}`;
  }

  /**
   * One request to the registry, logging in on a Bearer challenge. Network errors and 5xx/429 are
   * RegistryUnavailable (retried), an untrusted certificate RegistryUntrusted; other answers are
   * returned for the caller to judge (`check`).
   */
  async send(
    url: string,
    init: RequestInit & { headers?: Record<string, string> },
    retryAuth = true,
  ): Promise<Response> {
    const host = hostOf(url);
    await pace(host);
    let res: Response;
    try {
      res = await fetch(url, {
        ...init,
        headers: { ...this.authHeader(), ...init.headers },
        redirect: 'follow',
        dispatcher: this.dispatcher,
      });
    } catch (err) {
      const cause = (err as { cause?: Error & { code?: string } }).cause;
      // An untrusted certificate stays untrusted however often it is retried.
      if (cause?.code && CERTIFICATE_ERRORS.has(cause.code)) {
        const fix =
          cause.code === 'CERT_HAS_EXPIRED' || cause.code === 'CERT_NOT_YET_VALID'
            ? "renew the registry's certificate"
            : cause.code === 'ERR_TLS_CERT_ALTNAME_INVALID'
              ? `give the registry a certificate for ${this.ref.registry.replace(/:\d+$/, '')}`
              : this.auth.caFile
                ? `KILN_REGISTRY_CA ${this.auth.caFile} is not the CA that issued it; point KILN_REGISTRY_CA at the one that did`
                : 'set KILN_REGISTRY_CA to the PEM file of the CA that issued it';
        throw failure(
          'RegistryUntrusted',
          `registry ${this.ref.registry} presented a certificate this worker does not trust: ${cause.message} (${cause.code}) (fix: ${fix})`,
        );
      }
      throw failure(
        'RegistryUnavailable',
        `registry ${this.ref.registry} unreachable: ${(err as Error).message} (${cause?.message ?? ''})`,
        { cause: err },
      );
    }
    if (res.status === 401 && retryAuth) {
      const challenge = res.headers.get('www-authenticate') ?? '';
      if (await this.login(challenge)) return this.send(url, init, false);
    }
    if (res.status === 429 || res.status >= 500) {
      const after = retryAfterMs(res.headers.get('retry-after'));
      if (res.status === 429) await throttled(host, after);
      throw failure(
        'RegistryUnavailable',
        `registry ${this.ref.registry} answered ${res.status} for ${init.method ?? 'GET'} ${url}`,
        after !== undefined ? { retryAfterMs: after } : {},
      );
    }
    return res;
  }

  /** The answer when it is a success; otherwise RegistryRejected, saying which credentials to fix. */
  async check(res: Response, what: string): Promise<Response> {
    if (res.ok) return res;
    const text = await res.text().catch(() => '');
    const denied = res.status === 401 || res.status === 403;
    const hint = !denied
      ? ''
      : this.auth.username
        ? ` (fix: check KILN_REGISTRY_USERNAME (${this.auth.username}) and KILN_REGISTRY_PASSWORD on the worker, and that this user may push to ${this.ref.repository})`
        : ' (fix: set KILN_REGISTRY_USERNAME and KILN_REGISTRY_PASSWORD on the worker)';
    throw failure('RegistryRejected', `${what} on ${this.where}: ${res.status} ${text.slice(0, 300)}${hint}`);
  }

  async hasBlob(digest: string): Promise<boolean> {
    const res = await this.send(`${this.base}/blobs/${digest}`, { method: 'HEAD' });
    return res.status === 200;
  }

  async putBlob(digest: string, data: Buffer): Promise<void> {
    await this.putBlobFrom(digest, data.length, () => data);
  }

  /**
   * Uploads a blob in one monolithic PUT from `body()`: bytes, or a stream (a layer is sent as it
   * is read, never held whole in memory). Nothing is sent when the registry already has it.
   */
  async putBlobFrom(digest: string, size: number, body: () => Buffer | AsyncIterable<Buffer>): Promise<void> {
    if (await this.hasBlob(digest)) return;
    const start = await this.check(
      await this.send(`${this.base}/blobs/uploads/`, { method: 'POST' }),
      'starting a blob upload',
    );
    const location = new URL(start.headers.get('location') ?? '', `${this.base}/`);
    location.searchParams.set('digest', digest);
    const data = body();
    await this.check(
      await this.send(location.toString(), {
        method: 'PUT',
        ...(Buffer.isBuffer(data) ? { body: data } : { body: data, duplex: 'half' as const }),
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
      }),
      `uploading blob ${digest}`,
    );
  }

  /**
   * Puts a manifest whose blobs the caller has uploaded. The registry answering that one of them is
   * unknown is retryable: another writer uploading the same blob at that moment rewrites the
   * repository's link to it (seen with two identical runs at once); a retry finds it in place.
   */
  async putManifest(reference: string, mediaType: string, body: Buffer): Promise<string> {
    const res = await this.send(`${this.base}/manifests/${reference}`, {
      method: 'PUT',
      body,
      headers: { 'content-type': mediaType },
    });
    if (res.status === 400) {
      const text = await res.clone().text();
      if (text.includes('MANIFEST_BLOB_UNKNOWN'))
        throw failure(
          'RegistryRejected',
          `putting manifest ${reference} on ${this.where}: a blob it names is not in place yet (retried): ${text.slice(0, 300)}`,
          { retryable: true },
        );
    }
    await this.check(res, `putting manifest ${reference}`);
    return res.headers.get('docker-content-digest') ?? reference;
  }

  /** The manifest bytes and media type, or undefined when the registry does not have it. */
  async getManifest(reference: string): Promise<{ mediaType: string; digest: string; body: Buffer } | undefined> {
    const res = await this.send(`${this.base}/manifests/${reference}`, {
      method: 'GET',
      headers: { accept: MANIFEST_ACCEPT },
    });
    if (res.status === 404) return undefined;
    await this.check(res, `getting manifest ${reference}`);
    const body = Buffer.from(await res.arrayBuffer());
    return {
      mediaType: res.headers.get('content-type') ?? '',
      digest: res.headers.get('docker-content-digest') ?? '',
      body,
    };
  }

  /** The `rel="next"` target of a paginated answer (tags list, referrers), resolved against the registry. */
  nextPage(res: Response): string | undefined {
    const m = /<([^>]+)>\s*;\s*rel="?next"?/i.exec(res.headers.get('link') ?? '');
    return m ? new URL(m[1]!, this.base).toString() : undefined;
  }

  /** The repository's tags; empty when the repository does not exist yet. */
  async listTags(): Promise<string[]> {
    const tags: string[] = [];
    for (let url: string | undefined = `${this.base}/tags/list`; url;) {
      const res = await this.send(url, { method: 'GET' });
      if (res.status === 404) return tags;
      await this.check(res, 'listing tags');
      tags.push(...(((await res.json()) as { tags?: string[] | null }).tags ?? []));
      url = this.nextPage(res);
    }
    return tags;
  }

  /** A blob's bytes, checked against its digest (a proxy or cache must not hand back other bytes). */
  async getBlob(digest: string): Promise<Buffer> {
    const res = await this.check(
      await this.send(`${this.base}/blobs/${digest}`, { method: 'GET' }),
      `getting blob ${digest}`,
    );
    const body = Buffer.from(await res.arrayBuffer());
    if (!digest.startsWith('sha256:') || sha256digest(body) !== digest) {
      throw failure('CorruptArtifact', `blob ${digest} from ${this.where} does not match its digest`);
    }
    return body;
  }

  /** Deletes a manifest by digest (Distribution cannot delete by tag); false when it was not there. */
  async deleteManifest(digest: string): Promise<boolean> {
    const res = await this.send(`${this.base}/manifests/${digest}`, { method: 'DELETE' });
    if (res.status === 404) return false;
    await this.check(res, `deleting manifest ${digest}`);
    return true;
  }
}

/**
 * Pushes an apko layout by digest: every per-arch image first, then the index, so nothing dangles.
 * Every blob goes through the checked layout reader: a damaged layout is never pushed.
 */
export async function pushLayout(client: RegistryClient, layoutDir: string): Promise<string> {
  const index = await readLayoutIndex(layoutDir);
  for (const m of index.manifests) await pushFromLayout(client, layoutDir, m);
  return client
    .putManifest(index.digest, 'application/vnd.oci.image.index.v1+json', index.body)
    .then(() => index.digest);
}

/** Pushes one descriptor and everything it references, children first, so nothing dangles. */
async function pushFromLayout(client: RegistryClient, layoutDir: string, desc: Descriptor): Promise<void> {
  const body = await readBlob(layoutDir, desc.digest);
  const doc = JSON.parse(body.toString('utf8')) as {
    manifests?: Descriptor[];
    config?: Descriptor;
    layers?: Descriptor[];
  };
  if (INDEX_TYPES.has(desc.mediaType)) {
    for (const child of doc.manifests ?? []) await pushFromLayout(client, layoutDir, child);
  } else {
    for (const blob of [doc.config, ...(doc.layers ?? [])]) {
      if (!blob) continue;
      // The layout reader checks the bytes first (a damaged layout is never pushed), then they are
      // streamed from the file, with a heartbeat per MiB so a long upload is never taken for dead.
      for await (const chunk of streamBlob(layoutDir, blob.digest))
        heartbeat({ checking: blob.digest, bytes: chunk.length });
      const path = await blobPath(layoutDir, blob.digest);
      await client.putBlobFrom(blob.digest, (await stat(path)).size, () =>
        (async function* () {
          for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
            heartbeat({ uploading: blob.digest });
            yield chunk as Buffer;
          }
        })(),
      );
    }
  }
  await client.putManifest(desc.digest, desc.mediaType, body);
}
