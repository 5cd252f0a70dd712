// I/O: a catalog rebuild's summary and its parts, stored outside the workflow's history so a run's
// payloads stay small at any catalog size (domain/run-summary.ts). In kiln's artifact store when
// the worker has one (KILN_ARTIFACTS), signed like every kiln artifact; otherwise (KILN_ARTIFACTS=none,
// where workers share KILN_STATE) a file under `<state>/summaries/`. A reference names the
// document and its digest; reading checks both.
import { readFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import type { KilnConfig } from '../config/config.js';
import { sha256digest, sha256hex } from '../domain/digest.js';
import { corruptArtifact, failure } from '../domain/failures.js';
import {
  assembleSummary,
  isSummaryReference,
  type CatalogRebuildResult,
  type SummaryHeader,
  type SummaryPart,
} from '../domain/run-summary.js';
import type { RebuildSummary } from '../domain/summary.js';
import { getArtifact, putArtifact } from './artifact-store.js';
import { writeFileAtomically } from './atomic-file.js';

const PART_TYPE = 'application/vnd.dev.kiln.run-summary-part.v1+json+gzip';
const SUMMARY_TYPE = 'application/vnd.dev.kiln.run-summary.v1+json+gzip';

/** A tag (and file name) per run and document: `run-summary-<digest>` / `run-summary-part-<digest>`. */
const tagOf = (kind: 'run-summary' | 'run-summary-part', ...names: (string | number)[]) =>
  `${kind}-${sha256hex(names.join('\n')).slice(0, 48)}`;

async function storeDocument(config: KilnConfig, tag: string, value: unknown, type: string): Promise<string> {
  const layer = gzipSync(JSON.stringify(value));
  if (config.artifacts) {
    const stored = await putArtifact(config, tag, layer, type);
    return `${config.artifacts}:${tag}@${stored.slice(stored.lastIndexOf('@') + 1)}`;
  }
  const dir = join(config.paths.state, 'summaries');
  const path = join(dir, `${tag}.json.gz`);
  await mkdir(dir, { recursive: true });
  // Written aside and renamed: a reader never sees half a document.
  await writeFileAtomically(path, layer, { mode: 0o644 });
  return `${path}@${sha256digest(layer)}`;
}

async function readDocument<T>(config: KilnConfig, reference: string): Promise<T> {
  const at = reference.lastIndexOf('@');
  const where = reference.slice(0, at);
  const digest = reference.slice(at + 1);
  if (at < 0 || !/^sha256:[0-9a-f]{64}$/.test(digest))
    throw failure('InvalidInput', `${reference} is not a kiln run summary reference (<where>@sha256:<hex>)`);
  let layer: Buffer | undefined;
  if (where.startsWith('/')) {
    layer = await readFile(where).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
    if (layer && sha256digest(layer) !== digest) throw corruptArtifact(`${where} does not match its digest ${digest}`);
  } else {
    const colon = where.lastIndexOf(':');
    const repository = where.slice(0, colon);
    if (repository !== config.artifacts)
      throw failure(
        'ConfigInvalid',
        `${reference} is in the artifact store ${repository}, but KILN_ARTIFACTS here is ${config.artifacts ?? 'none'} (fix: set KILN_ARTIFACTS=${repository})`,
      );
    layer = await getArtifact(config, where.slice(colon + 1), digest);
  }
  if (!layer) throw corruptArtifact(`${reference}: no such run summary (removed from the store?)`);
  return JSON.parse(gunzipSync(layer).toString('utf8')) as T;
}

/** Stores one part of a run's outcomes; returns its reference. */
export const storeSummaryPart = (
  config: KilnConfig,
  run: { workflowId: string; runId: string; index: number },
  part: SummaryPart,
): Promise<string> =>
  storeDocument(config, tagOf('run-summary-part', run.workflowId, run.runId, run.index), part, PART_TYPE);

export const readSummaryPart = (config: KilnConfig, reference: string): Promise<SummaryPart> =>
  readDocument<SummaryPart>(config, reference);

/** The whole summary from its header and stored parts (domain/run-summary.ts's assembly). */
export async function assembleStoredSummary(
  config: KilnConfig,
  header: SummaryHeader,
  parts: string[],
): Promise<RebuildSummary> {
  const read: SummaryPart[] = [];
  for (const ref of parts) read.push(await readSummaryPart(config, ref));
  return assembleSummary(header, read);
}

/** Stores a rebuild's whole summary; returns its reference (the workflow's result names it). */
export const storeRunSummary = (config: KilnConfig, summary: RebuildSummary): Promise<string> =>
  storeDocument(config, tagOf('run-summary', summary.workflowId, summary.runId), summary, SUMMARY_TYPE);

export const readRunSummary = (config: KilnConfig, reference: string): Promise<RebuildSummary> =>
  readDocument<RebuildSummary>(config, reference);

/**
 * The summary of a catalogRebuild from its result: read from the store the result names, or the
 * result itself for a run that returned the whole summary (an older history). The one reader for
 * the CLI, rerunFailedOf and the tests.
 */
export const summaryOfResult = (config: KilnConfig, result: CatalogRebuildResult): Promise<RebuildSummary> =>
  isSummaryReference(result) ? readRunSummary(config, result.summary) : Promise.resolve(result);
