// What a catalogRebuild run carries into the next (workflows/rebuild-state.ts), pure: input digests
// only while something unfinished builds against them, the runs and parts so far, and whether the
// rebuild succeeded. Plain data, no Temporal (the workflow itself is tested in continue-as-new.test.ts).
import { describe, expect, it } from 'vitest';
import { continuation, freshState, progressOf, rebuildOk } from '../../../workflows/rebuild-state.js';
import { fakeSnapshot } from './fakes.js';

// base <- lib <- app; solo stands alone.
const snapshot = fakeSnapshot({
  packages: { base: [], lib: ['base'], app: ['lib'], solo: [] },
  images: { web: ['app'] },
});
const digests = (name: string) => ({ x86_64: `sha256:${name}` });

function state() {
  const s = freshState(snapshot, { packages: ['app', 'base', 'lib', 'solo'], images: ['web'] }, [], {
    startedAt: '2026-01-01T00:00:00Z',
    catalogTime: '2026-01-01T00:00:00Z',
  });
  s.packages.base = { status: 'built', inputDigests: digests('base') };
  s.packages.lib = { status: 'up-to-date', inputDigests: digests('lib') };
  s.packages.solo = { status: 'built', inputDigests: digests('solo') };
  return s;
}

describe('continuation', () => {
  it('keeps the input digests an unfinished package builds against, and drops the rest', () => {
    const next = continuation(state(), 'run-1', ['part-a']);
    expect(next.packages.lib).toEqual({ status: 'up-to-date', inputDigests: digests('lib') });
    expect(next.packages.base).toEqual({ status: 'built' });
    expect(next.packages.solo).toEqual({ status: 'built' });
  });

  it('adds this run to the runs and its parts to the parts, leaving the state it came from alone', () => {
    const first = state();
    const second = continuation(first, 'run-1', ['part-a', 'part-b']);
    const third = continuation(second, 'run-2', ['part-c']);
    expect(third.runs).toEqual(['run-1', 'run-2']);
    expect(third.parts).toEqual(['part-a', 'part-b', 'part-c']);
    expect(first.runs).toEqual([]);
    expect(first.packages.base!.inputDigests).toEqual(digests('base'));
  });

  it('keeps a blocked package’s cause', () => {
    const s = state();
    s.packages.app = { status: 'blocked', blockedBy: 'base' };
    expect(continuation(s, 'run-1', []).packages.app).toEqual({ status: 'blocked', blockedBy: 'base' });
  });
});

describe('rebuildOk', () => {
  it('is true only when every package and image succeeded and every epoch bump was committed', () => {
    const s = state();
    s.packages.app = { status: 'built' };
    s.images.web = 'published';
    expect(rebuildOk(s)).toBe(true);
    expect(rebuildOk({ ...s, images: { web: 'blocked' } })).toBe(false);
    expect(rebuildOk({ ...s, packages: { ...s.packages, app: { status: 'not-reproducible' } } })).toBe(false);
    expect(
      rebuildOk({ ...s, epochBumps: [{ because: 'x', packages: [], notInCatalog: [], error: 'no git repository' }] }),
    ).toBe(false);
  });
});

describe('progressOf', () => {
  it('shows a finished child as done (a not-reproducible build too) unless it failed or was blocked', () => {
    expect(
      ['built', 'up-to-date', 'not-reproducible', 'published', 'unchanged'].map((s) => progressOf(s as never)),
    ).toEqual(['done', 'done', 'done', 'done', 'done']);
    expect(progressOf('failed')).toBe('failed');
    expect(progressOf('blocked')).toBe('blocked');
  });
});
