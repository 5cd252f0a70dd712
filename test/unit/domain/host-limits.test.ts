// Shared rate limits, pure: the slots a gate hands out, holds, the waits it keeps per run, and
// catalog.yaml's `rateLimits:` rules. No Temporal here: test/pipeline/workers/rate-limits.test.ts
// runs the hostLimit workflow against a real registry with two workers.
import { describe, expect, it } from 'vitest';
import { FileCheck } from '../../../domain/catalog-rules.js';
import { validateSettings } from '../../../domain/catalog-settings.js';
import type { CatalogProblem } from '../../../domain/catalog.js';
import {
  LATE_MS,
  PACE,
  holdUntil,
  hostOf,
  newGate,
  pruned,
  rebuildOf,
  recordWait,
  reserve,
  spacingMs,
} from '../../../domain/host-limits.js';

describe('a host gate', () => {
  it('hands out slots 1/(perSecond × PACE) apart, from now when idle', () => {
    const gate = newGate('r.example:5000');
    const slots = Array.from({ length: 11 }, () => reserve(gate, 1000, 10));
    expect(slots[0]).toBe(1000);
    expect(slots[1]! - slots[0]!).toBeCloseTo(1000 / (10 * PACE));
    // Later than the last slot: the next begins at once.
    expect(reserve(gate, 10_000, 10)).toBe(10_000);
  });

  it('never lets more than perSecond requests into one second, even when each leaves up to LATE_MS late', () => {
    for (const perSecond of [1, 2, 6, 20, 33, 100]) {
      const gate = newGate('h');
      const slots = Array.from({ length: perSecond + 1 }, () => reserve(gate, 0, perSecond));
      // The worst case: the first of perSecond + 1 leaves LATE_MS late, the last on time.
      expect(slots.at(-1)! - (slots[0]! + LATE_MS), `at ${perSecond}/s`).toBeGreaterThanOrEqual(1000);
    }
  });

  it('holds every later slot until the hold ends, and counts holds', () => {
    const gate = newGate('h');
    reserve(gate, 0, 5);
    holdUntil(gate, 4000);
    expect(gate.holds).toBe(1);
    expect(reserve(gate, 100, 5)).toBe(4000);
    // A shorter hold never shortens a longer one.
    holdUntil(gate, 2000);
    expect(reserve(gate, 100, 5)).toBe(4000 + spacingMs(5));
  });

  it('keeps what each run waited, and forgets the oldest runs', () => {
    const gate = newGate('h');
    recordWait(gate, 'nightly-1', 300, 10);
    recordWait(gate, 'nightly-1', 0, 11);
    recordWait(gate, 'nightly-1', 200, 12);
    expect(gate.runs['nightly-1']).toEqual({ waits: 2, waitedMs: 500, lastAt: 12 });
    for (let i = 0; i < 250; i++) recordWait(gate, `run-${i}`, 1, 100 + i);
    const kept = pruned(gate, 1000);
    expect(Object.keys(kept.runs)).toHaveLength(200);
    expect(kept.runs['run-249']).toBeDefined();
    expect(kept.runs['nightly-1']).toBeUndefined();
    expect(Object.keys(pruned(gate, 8 * 24 * 3600_000).runs)).toEqual([]);
  });

  it("counts a child's requests for its rebuild", () => {
    expect(rebuildOf('nightly-2026-11-27')).toBe('nightly-2026-11-27');
    expect(rebuildOf('nightly-2026-11-27/image/hello')).toBe('nightly-2026-11-27');
    expect(rebuildOf('nightly-2026-11-27/package/libgreet')).toBe('nightly-2026-11-27');
    expect(rebuildOf('kiln-update-hello-2.0/rebuild/image/hello')).toBe('kiln-update-hello-2.0/rebuild');
  });

  it('names hosts as catalog.yaml writes them', () => {
    expect(hostOf('http://127.0.0.1:5000/v2/kiln/hello/blobs/uploads/')).toBe('127.0.0.1:5000');
    expect(hostOf('https://api.github.com/repos/a/b/releases?per_page=100')).toBe('api.github.com');
    expect(hostOf('not a url')).toBe('');
  });
});

describe("catalog.yaml's rateLimits", () => {
  const settings = (rateLimits: unknown, env: Record<string, string> = {}) => {
    const problems: CatalogProblem[] = [];
    const doc = { registry: '127.0.0.1:5000/kiln', packageRepository: '/tmp/repo', rateLimits };
    const parsed = validateSettings(doc, '/tmp', env, new FileCheck('catalog.yaml', problems));
    return { limits: parsed.rateLimits, problems: problems.map((p) => `${p.field}: ${p.message} (fix: ${p.fix})`) };
  };

  it('reads hosts (with ${VAR}) and requests per second; none when absent', () => {
    expect(settings(undefined)).toEqual({ limits: [], problems: [] });
    expect(
      settings(
        [
          { host: '${KILN_REGISTRY:-127.0.0.1:5000}', perSecond: 20 },
          { host: 'api.github.com', perSecond: 0.5 },
        ],
        { KILN_REGISTRY: 'registry.internal:5443' },
      ),
    ).toEqual({
      limits: [
        { host: 'registry.internal:5443', perSecond: 20 },
        { host: 'api.github.com', perSecond: 0.5 },
      ],
      problems: [],
    });
  });

  it('names the field and the fix for each mistake', () => {
    const { limits, problems } = settings([
      { host: 'https://api.github.com/repos', perSecond: 1 },
      { host: 'ok.example', perSecond: 0 },
      { host: 'twice.example', perSecond: 2 },
      { host: 'twice.example', perSecond: 3 },
      { host: 'extra.example', perSecond: 1, burst: 4 },
      'registry:5000',
    ]);
    expect(problems).toEqual([
      expect.stringMatching(
        /^rateLimits\[0\]\.host: "https:\/\/api.github.com\/repos" is not a host .*without a scheme or path/,
      ),
      expect.stringMatching(/^rateLimits\[1\]\.perSecond: must be a number of requests per second above 0, got 0/),
      expect.stringMatching(/^rateLimits\[3\]\.host: twice.example is limited twice \(fix: keep one entry per host\)/),
      expect.stringMatching(/^rateLimits\[4\]\.burst: /),
      expect.stringMatching(/^rateLimits\[5\]: must be a mapping/),
    ]);
    expect(limits).toEqual([
      { host: 'twice.example', perSecond: 2 },
      { host: 'extra.example', perSecond: 1 },
    ]);
  });

  it('is a list', () => {
    expect(settings({ 'registry:5000': 20 }).problems).toEqual([
      expect.stringMatching(/^rateLimits: must be a list \(fix: write rateLimits: \[\{ host: /),
    ]);
  });
});
