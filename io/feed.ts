// The one vulnerability-feed loader: a Wolfi-style secdb `security.json` from a path or an http(s)
// URL, fetched once per worker every few minutes (every package and image of a run checks against
// the same feed), validated, and digested so a report can say exactly which feed it used.
import { readFile } from 'node:fs/promises';
import { secdbProblems, type Secdb } from '../domain/secdb.js';
import { sha256digest } from '../domain/digest.js';
import { failure } from '../domain/failures.js';

/** A feed as kiln reads it: secdb, plus optional severities by advisory id. */
export type Feed = Secdb & { severities?: Record<string, string> };

export interface LoadedFeed {
  feed: Feed;
  /** `sha256:` of the feed's bytes. */
  digest: string;
}

const FEED_TTL_MS = 10 * 60_000;
const FETCH_TIMEOUT_MS = 60_000;
const cache = new Map<string, { at: number; loaded: Promise<LoadedFeed> }>();

/**
 * Loads a feed; what is wrong with it names catalog.yaml's `vulnerabilities.feed` and the feed as
 * `shown` (the catalog-relative path a person wrote, rather than the snapshot's copy).
 */
export function loadFeed(location: string, shown = location): Promise<LoadedFeed> {
  const hit = cache.get(location);
  if (hit && Date.now() - hit.at < FEED_TTL_MS) return hit.loaded;
  const loaded = readFeed(location, shown);
  cache.set(location, { at: Date.now(), loaded });
  // A failure is not remembered: the next package asks again.
  loaded.catch(() => {
    if (cache.get(location)?.loaded === loaded) cache.delete(location);
  });
  return loaded;
}

async function readFeed(location: string, shown: string): Promise<LoadedFeed> {
  const where = `catalog.yaml: vulnerabilities.feed: ${shown}`;
  const invalid = (what: string) =>
    failure(
      'FeedInvalid',
      `${where} ${what} (fix: point vulnerabilities.feed at a security.json in Wolfi's secdb shape)`,
    );
  let bytes: Buffer;
  if (/^https?:\/\//.test(location)) {
    // Unreachable or overloaded is worth retrying; any other answer is the URL's fault.
    const res = await fetch(location, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) }).catch((err: Error) => {
      throw failure('FeedUnavailable', `${where} is unreachable: ${err.message}`, { cause: err });
    });
    if (res.status >= 500 || res.status === 429) throw failure('FeedUnavailable', `${where} answered ${res.status}`);
    if (!res.ok) throw invalid(`answered ${res.status}`);
    bytes = Buffer.from(await res.arrayBuffer());
  } else {
    bytes = await readFile(location).catch((err: NodeJS.ErrnoException) => {
      throw invalid(err.code === 'ENOENT' ? 'does not exist' : `cannot be read: ${err.message}`);
    });
  }
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw invalid(`is not JSON: ${(err as Error).message}`);
  }
  const problems = secdbProblems(doc);
  if (problems.length) {
    const more = problems.length > 5 ? ` (and ${problems.length - 5} more)` : '';
    throw invalid(`is not a secdb feed: ${problems.slice(0, 5).join('; ')}${more}`);
  }
  return { feed: doc as Feed, digest: sha256digest(bytes) };
}
