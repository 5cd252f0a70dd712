// The summary of a rebuild at any size, pure: its parts assembled in name order with the epoch
// bumps applied, outcomes split into bounded parts, counts by status, a result told from a summary.
import { describe, expect, it } from 'vitest';
import {
  assembleSummary,
  countStatuses,
  isSummaryReference,
  splitIntoParts,
  statusWithEpochBump,
  withEpochBump,
  type SummaryHeader,
} from '../../../domain/run-summary.js';
import type { EpochBump, ImageOutcome, PackageOutcome, RebuildSummary } from '../../../domain/summary.js';

const pkg = (name: string, over: Partial<PackageOutcome> = {}): PackageOutcome => ({
  name,
  version: '1.0.0',
  epoch: 0,
  status: 'up-to-date',
  durationMs: 10,
  apks: { x86_64: [{ file: `${name}-1.0.0-r0.apk`, sha256: 'a'.repeat(64) }] },
  ...over,
});
const img = (name: string): ImageOutcome => ({ name, status: 'published', tags: ['latest'], durationMs: 5 });

const header: SummaryHeader = {
  workflowId: 'rebuild-1',
  runId: 'run-3',
  catalogDigest: 'c'.repeat(64),
  startedAt: '2026-01-01T00:00:00Z',
  finishedAt: '2026-01-01T01:00:00Z',
  ok: false,
  continuedFrom: ['run-1', 'run-2'],
};

const committed: EpochBump = {
  because: 'libz 2.0.0-r0 no longer provides libz.so.1',
  packages: [{ name: 'app', epoch: 0, newEpoch: 1 }],
  notInCatalog: [],
  branch: 'kiln/update/rebuild-libz-2.0.0-r0',
  commit: 'f'.repeat(40),
};
const notCommitted: EpochBump = {
  because: 'libq 3.0.0-r0 no longer provides libq.so.2',
  packages: [{ name: 'tool', epoch: 2, newEpoch: 3 }],
  notInCatalog: [],
  error: 'the catalog is not in a git repository: set package.epoch of tool to 3',
};

describe('withEpochBump', () => {
  it('names the epoch, branch and commit of a dependent whose bump was committed', () => {
    expect(withEpochBump(pkg('app'), [committed]).epochBump).toEqual({
      epoch: 1,
      branch: committed.branch,
      commit: committed.commit,
    });
  });

  it('fails a dependent whose bump could not be committed, with the reason, and drops its build details', () => {
    expect(withEpochBump(pkg('tool'), [notCommitted])).toEqual({
      name: 'tool',
      version: '1.0.0',
      epoch: 0,
      durationMs: 10,
      status: 'failed',
      error: notCommitted.error,
    });
    expect(statusWithEpochBump('tool', 'up-to-date', [notCommitted])).toBe('failed');
  });

  it('leaves a package no bump names, and one that failed or was blocked, as it is', () => {
    expect(withEpochBump(pkg('other'), [committed, notCommitted])).toEqual(pkg('other'));
    const blocked = pkg('tool', { status: 'blocked', blockedBy: 'libq' });
    expect(withEpochBump(blocked, [notCommitted])).toEqual(blocked);
    expect(statusWithEpochBump('tool', 'blocked', [notCommitted])).toBe('blocked');
  });
});

describe('assembleSummary', () => {
  it('joins every run’s parts in name order, with the header and the epoch bumps applied', () => {
    const summary = assembleSummary({ ...header, epochBumps: [committed] }, [
      { packages: [pkg('zlib'), pkg('app')], images: [] },
      { packages: [pkg('base')], images: [img('web')] },
      { packages: [], images: [img('api')] },
    ]);
    expect(summary.packages.map((p) => p.name)).toEqual(['app', 'base', 'zlib']);
    expect(summary.packages[0]!.epochBump?.epoch).toBe(1);
    expect(summary.images.map((i) => i.name)).toEqual(['api', 'web']);
    expect(summary).toMatchObject({ workflowId: 'rebuild-1', runId: 'run-3', continuedFrom: ['run-1', 'run-2'] });
  });
});

describe('splitIntoParts', () => {
  it('keeps every outcome once, in parts of at most the given size', () => {
    const packages = Array.from({ length: 450 }, (_, i) => pkg(`p${i}`));
    const images = Array.from({ length: 201 }, (_, i) => img(`i${i}`));
    const parts = splitIntoParts({ packages, images }, 200);
    expect(parts.map((p) => p.packages.length + p.images.length)).toEqual([200, 200, 50, 200, 1]);
    expect(parts.flatMap((p) => p.packages)).toEqual(packages);
    expect(parts.flatMap((p) => p.images)).toEqual(images);
  });

  it('makes no part of nothing', () => {
    expect(splitIntoParts({ packages: [], images: [] }, 200)).toEqual([]);
  });
});

describe('countStatuses', () => {
  it('counts each status present, and no other', () => {
    expect(countStatuses(['built', 'built', 'failed', 'up-to-date'])).toEqual({ built: 2, failed: 1, 'up-to-date': 1 });
    expect(countStatuses([])).toEqual({});
  });
});

describe('isSummaryReference', () => {
  it('tells a result naming a stored summary from a whole summary (a run from before summaries were stored)', () => {
    const whole: RebuildSummary = { ...header, packages: [], images: [] };
    expect(isSummaryReference(whole)).toBe(false);
    expect(
      isSummaryReference({
        workflowId: 'w',
        runId: 'r',
        ok: true,
        summary: `127.0.0.1:5000/kiln-artifacts:run-summary-${'0'.repeat(48)}@sha256:${'1'.repeat(64)}`,
        counts: { packages: {}, images: {} },
        runs: 1,
      }),
    ).toBe(true);
  });
});
