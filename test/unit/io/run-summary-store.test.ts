// A rebuild's summary stored where workers share KILN_STATE (KILN_ARTIFACTS=none): a file named by
// the run, referenced with its digest. Read back whole; a changed file or a reference into another
// artifact store is refused by name. (The artifact store in the registry: test/pipeline.)
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configWith, type KilnConfig } from '../../../config/config.js';
import type { RebuildResult } from '../../../domain/run-summary.js';
import type { RebuildSummary } from '../../../domain/summary.js';
import {
  assembleStoredSummary,
  readRunSummary,
  storeRunSummary,
  storeSummaryPart,
  summaryOfResult,
} from '../../../io/run-summary-store.js';

let state: string;
let config: KilnConfig;
beforeAll(async () => {
  state = await mkdtemp(join(tmpdir(), 'kiln-summary-'));
  config = configWith({ KILN_STATE: state, KILN_ARTIFACTS: 'none' }, {});
});
afterAll(async () => rm(state, { recursive: true, force: true }));

const summary: RebuildSummary = {
  workflowId: 'rebuild-1',
  runId: 'run-2',
  catalogDigest: 'c'.repeat(64),
  startedAt: '2026-01-01T00:00:00Z',
  finishedAt: '2026-01-01T00:10:00Z',
  packages: [{ name: 'lib', version: '1.0.0', epoch: 0, status: 'built', durationMs: 1 }],
  images: [{ name: 'web', status: 'published', tags: ['latest'], durationMs: 2 }],
  ok: true,
  continuedFrom: ['run-1'],
};

describe('the run summary store without an artifact store', () => {
  it('stores a summary as a file under the state directory and reads it back whole', async () => {
    const reference = await storeRunSummary(config, summary);
    expect(reference).toMatch(
      new RegExp(`^${state}/summaries/run-summary-[0-9a-f]{48}\\.json\\.gz@sha256:[0-9a-f]{64}$`),
    );
    expect(await readRunSummary(config, reference)).toEqual(summary);
  });

  it('reads the summary a result names, and takes a whole summary (an older run’s result) as it is', async () => {
    const reference = await storeRunSummary(config, summary);
    const result: RebuildResult = {
      workflowId: 'rebuild-1',
      runId: 'run-2',
      ok: true,
      summary: reference,
      counts: { packages: { built: 1 }, images: { published: 1 } },
      runs: 2,
    };
    expect(await summaryOfResult(config, result)).toEqual(summary);
    expect(await summaryOfResult(config, summary)).toBe(summary);
  });

  it('assembles a summary from parts stored by several runs', async () => {
    const a = await storeSummaryPart(
      config,
      { workflowId: 'w', runId: 'r1', index: 0 },
      {
        packages: [summary.packages[0]!],
        images: [],
      },
    );
    const b = await storeSummaryPart(
      config,
      { workflowId: 'w', runId: 'r2', index: 0 },
      {
        packages: [],
        images: [summary.images[0]!],
      },
    );
    const { packages, images, ...header } = summary;
    expect(await assembleStoredSummary(config, header, [a, b])).toEqual({ ...header, packages, images });
  });

  it('refuses a file that changed since it was stored (CorruptArtifact)', async () => {
    const reference = await storeRunSummary(config, { ...summary, runId: 'run-changed' });
    await writeFile(
      reference.slice(0, reference.lastIndexOf('@')),
      gzipSync(JSON.stringify({ ...summary, ok: false })),
    );
    await expect(readRunSummary(config, reference)).rejects.toMatchObject({
      type: 'CorruptArtifact',
      message: expect.stringMatching(/does not match its digest/),
    });
  });

  it('refuses a reference into an artifact store this process does not use, naming the fix', async () => {
    await expect(
      readRunSummary(config, `127.0.0.1:5000/kiln-artifacts:run-summary-x@sha256:${'0'.repeat(64)}`),
    ).rejects.toMatchObject({
      type: 'ConfigInvalid',
      message: expect.stringMatching(
        /KILN_ARTIFACTS here is none \(fix: set KILN_ARTIFACTS=127\.0\.0\.1:5000\/kiln-artifacts\)/,
      ),
    });
  });
});
