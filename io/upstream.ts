// Upstream sources over HTTP, for the release watcher: a GitHub-shaped API's releases or tags, and
// the checksum of a release tarball. Git upstreams are asked through adapters/git.ts. Requests wait
// for their slot when catalog.yaml limits the host (io/host-pacer.ts).
import { checksumStream } from '../domain/digest.js';
import { failure } from '../domain/failures.js';
import { hostOf, retryAfterMs } from '../domain/host-limits.js';
import { githubListing, type UpstreamTag } from '../domain/upstream.js';
import { pace, throttled } from './host-pacer.js';

const API_TIMEOUT_MS = 60_000;
const TARBALL_TIMEOUT_MS = 10 * 60_000;

/** One request to an upstream, in its host's shared rate limit: a 429 holds the limit for every worker. */
async function upstreamFetch(url: string, init: RequestInit): Promise<Response> {
  const host = hostOf(url);
  await pace(host);
  const res = await fetch(url, init);
  if (res.status === 429) await throttled(host, retryAfterMs(res.headers.get('retry-after')));
  return res;
}

/** The releases (or, with `useTag`, the tags) a GitHub-shaped API lists at `url`. */
export async function githubTags(url: string, useTag: boolean): Promise<UpstreamTag[]> {
  const page = `${url}?per_page=100`;
  const res = await upstreamFetch(page, {
    headers: { accept: 'application/vnd.github+json' },
    signal: AbortSignal.timeout(API_TIMEOUT_MS),
  }).catch((err: Error) => {
    throw failure('UpstreamUnavailable', `${page} unreachable: ${err.message}`, { cause: err });
  });
  if (!res.ok) throw failure('UpstreamUnavailable', `${page} answered ${res.status}`);
  const answer = githubListing(await res.text().catch(() => ''), res.headers.get('content-type') ?? '', useTag);
  // Retried: an API that answers an error page (rate limit) now may answer a list later.
  if ('problem' in answer)
    throw failure(
      'UpstreamGarbage',
      `${page} did not answer a list of ${useTag ? 'tags' : 'releases'} (GitHub API shape): ${answer.problem}`,
      { retryable: true },
    );
  return answer.tags;
}

/**
 * The checksum of a release tarball, by downloading it; `where` names the config step for
 * messages. A 4xx is not retried: usually the release is tagged before its tarball is uploaded,
 * and the next poll tries again.
 */
export async function downloadDigest(uri: string, algorithm: 'sha256' | 'sha512', where: string): Promise<string> {
  const unresolved = /\$\{\{[^}]*\}\}/.exec(uri);
  if (unresolved)
    throw failure(
      'TarballUnavailable',
      `${where}: cannot refresh expected-${algorithm}: ${uri} uses ${unresolved[0]}, which kiln cannot resolve (fix: update the checksum by hand)`,
      { retryable: false },
    );
  const res = await upstreamFetch(uri, { signal: AbortSignal.timeout(TARBALL_TIMEOUT_MS) }).catch((err: Error) => {
    throw failure(
      'TarballUnavailable',
      `${where}: cannot refresh expected-${algorithm}: ${uri} unreachable (${err.message}); no branch was made, the next poll tries again`,
      { cause: err },
    );
  });
  if (!res.ok || !res.body) {
    const message = `${where}: cannot refresh expected-${algorithm}: ${uri} answered HTTP ${res.status}; no branch was made, the next poll tries again`;
    throw failure('TarballUnavailable', message, { retryable: res.status >= 500 });
  }
  const hash = checksumStream(algorithm);
  for await (const chunk of res.body) hash.update(chunk as Uint8Array);
  return hash.digest('hex');
}
