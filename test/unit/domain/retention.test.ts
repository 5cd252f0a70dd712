// The retention rules on listings and references written out by hand (pure logic: no disk, no
// Temporal; activities/state-cleanup.ts feeds the real ones, tested in
// test/pipeline/activities/state-cleanup.test.ts).
import { describe, expect, it } from 'vitest';
import {
  cleanupLine,
  decideRetention,
  formatBytes,
  type RetentionPolicy,
  type StateEntry,
  type StateReferences,
} from '../../../domain/retention.js';

const HOUR = 3_600_000;
const now = 1_000 * HOUR;
const policy: RetentionPolicy = { keepRuns: 2, minAgeMs: 0 };
const entry = (path: string, hoursAgo: number, extra: Partial<StateEntry> = {}): StateEntry => ({
  kind: 'build',
  path,
  lastUsed: now - hoursAgo * HOUR,
  bytes: 100,
  ...extra,
});
const refs = (r: Partial<StateReferences> = {}): StateReferences => ({
  now,
  closedRunStarts: [],
  runningStarts: [],
  runningPaths: [],
  snapshotDigests: [],
  ...r,
});
const removedPaths = (d: ReturnType<typeof decideRetention>) => d.remove.map((e) => e.path).sort();
const reasonOf = (d: ReturnType<typeof decideRetention>, path: string) =>
  d.keep.find((k) => k.entry.path === path)?.reason;

describe('decideRetention', () => {
  describe('the last runs', () => {
    it('keeps what was used since the N-th newest run started, and removes the rest', () => {
      const entries = [entry('/s/b/a', 50), entry('/s/b/b', 30), entry('/s/b/c', 20), entry('/s/b/d', 1)];
      // Runs started 40, 25 and 10 hours ago: the last two began 25 hours ago at the earliest.
      const d = decideRetention(
        entries,
        refs({ closedRunStarts: [now - 40 * HOUR, now - 10 * HOUR, now - 25 * HOUR] }),
        policy,
      );
      expect(removedPaths(d)).toEqual(['/s/b/a', '/s/b/b']);
      expect(reasonOf(d, '/s/b/c')).toBe('recent-runs');
      expect(d.runsJudged).toBe(2);
      expect(d.cutoff).toBe(now - 25 * HOUR);
    });

    it('keeps the snapshots the last runs recorded in their memo, however old', () => {
      const digest = 'a'.repeat(64);
      const snap = entry(`/s/snapshots/${digest}`, 90, { kind: 'snapshot', snapshotDigest: digest });
      const other = entry(`/s/snapshots/${'b'.repeat(64)}`, 90, { kind: 'snapshot', snapshotDigest: 'b'.repeat(64) });
      const d = decideRetention(
        [snap, other],
        refs({ closedRunStarts: [now - HOUR], snapshotDigests: [digest] }),
        policy,
      );
      expect(reasonOf(d, snap.path)).toBe('recent-runs');
      expect(removedPaths(d)).toEqual([other.path]);
    });

    it('with fewer runs known than N, counts those: a forgotten run cannot be rerun', () => {
      const d = decideRetention([entry('/s/b/a', 5), entry('/s/b/b', 1)], refs({ closedRunStarts: [now - 2 * HOUR] }), {
        keepRuns: 7,
        minAgeMs: 0,
      });
      expect(removedPaths(d)).toEqual(['/s/b/a']);
      expect(d.runsJudged).toBe(1);
    });

    it('with no run known and no minimum age, keeps nothing idle', () => {
      const d = decideRetention([entry('/s/b/a', 5)], refs(), policy);
      expect(removedPaths(d)).toEqual(['/s/b/a']);
    });

    it('with N = 0, the runs keep nothing', () => {
      const d = decideRetention([entry('/s/b/a', 1)], refs({ closedRunStarts: [now - 2 * HOUR] }), {
        keepRuns: 0,
        minAgeMs: 0,
      });
      expect(removedPaths(d)).toEqual(['/s/b/a']);
    });
  });

  describe('running workflows', () => {
    it('keep everything used since the oldest of them started, even past the last runs', () => {
      const entries = [entry('/s/b/old', 60), entry('/s/b/mid', 45), entry('/s/b/new', 1)];
      const d = decideRetention(
        entries,
        refs({ closedRunStarts: [now - 2 * HOUR], runningStarts: [now - 10 * HOUR, now - 50 * HOUR] }),
        policy,
      );
      expect(removedPaths(d)).toEqual(['/s/b/old']);
      expect(reasonOf(d, '/s/b/mid')).toBe('running');
    });

    it('keep what their input names, a file inside an entry included, however old', () => {
      const entries = [
        entry('/s/worktrees/cat-update-a', 80, { kind: 'worktree' }),
        entry('/s/worktrees/cat-update-b', 80, { kind: 'worktree' }),
        entry('/s/snapshots/x', 80, { kind: 'snapshot' }),
        entry('/s/snapshots/xy', 80, { kind: 'snapshot' }),
      ];
      const d = decideRetention(
        entries,
        refs({ runningStarts: [now - HOUR], runningPaths: ['/s/worktrees/cat-update-a/catalog', '/s/snapshots/x'] }),
        policy,
      );
      expect(reasonOf(d, '/s/worktrees/cat-update-a')).toBe('running');
      expect(reasonOf(d, '/s/snapshots/x')).toBe('running');
      // A path that merely starts with the same letters is another entry.
      expect(removedPaths(d)).toEqual(['/s/snapshots/xy', '/s/worktrees/cat-update-b']);
    });
  });

  it('keeps anything younger than the minimum age, whatever the runs say', () => {
    const d = decideRetention([entry('/s/b/a', 30), entry('/s/b/b', 5)], refs({ closedRunStarts: [now - HOUR] }), {
      keepRuns: 1,
      minAgeMs: 24 * HOUR,
    });
    expect(reasonOf(d, '/s/b/b')).toBe('min-age');
    expect(removedPaths(d)).toEqual(['/s/b/a']);
  });
});

describe('cleanupLine', () => {
  it('says what went, what it freed, what stayed and why, in one line', () => {
    const line = cleanupLine({
      removed: [
        { kind: 'build', path: '/s/b/a', bytes: 3 * 1024 * 1024 },
        { kind: 'build', path: '/s/b/b', bytes: 1024 * 1024 },
        { kind: 'worktree', path: '/s/w/a', bytes: 512 * 1024 },
      ],
      bytesFreed: 4.5 * 1024 * 1024,
      kept: { running: 1, 'recent-runs': 4, 'min-age': 0 },
      keptBytes: 2048,
      skipped: [],
      runsJudged: 3,
      policy: { keepRuns: 7, minAgeMs: 24 * HOUR },
    });
    expect(line).toBe(
      'removed 3 (2 builds, 1 worktree), freed 4.5 MiB; kept 5 (2.0 KiB): 1 reachable by a running workflow, 4 used by the last runs; policy: last 7 runs (3 known), minimum age 1440 min',
    );
  });

  it('formats sizes as a person reads them', () => {
    expect([formatBytes(0), formatBytes(1023), formatBytes(1536), formatBytes(5 * 1024 ** 3)]).toEqual([
      '0 B',
      '1023 B',
      '1.5 KiB',
      '5.0 GiB',
    ]);
  });
});
