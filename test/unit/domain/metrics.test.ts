// kiln's own metrics from a run's summary, recorded on a meter that keeps what it is given.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { MetricMeter, MetricTags } from '@temporalio/common';
import { KILN_METRICS, recordRateLimitWait, recordRunMetrics, recordStageDuration } from '../../../domain/metrics.js';
import type { RebuildSummary } from '../../../domain/summary.js';
import { REPO_ROOT } from '../../../config/config.js';

interface Point {
  name: string;
  kind: string;
  value: number;
  tags: MetricTags;
}

/** A MetricMeter that records every value with its name and tags. */
function recordingMeter(): { meter: MetricMeter; points: Point[] } {
  const points: Point[] = [];
  const metric = (kind: string, name: string, unit?: string, description?: string) => {
    const m = {
      name,
      unit,
      description,
      kind,
      valueType: 'int' as const,
      add: (value: number, tags: MetricTags = {}) => points.push({ name, kind, value, tags }),
      record: (value: number, tags: MetricTags = {}) => points.push({ name, kind, value, tags }),
      set: (value: number, tags: MetricTags = {}) => points.push({ name, kind, value, tags }),
      withTags: () => m,
    };
    return m;
  };
  const meter = {
    createCounter: (n: string, u?: string, d?: string) => metric('counter', n, u, d),
    createHistogram: (n: string, _t?: string, u?: string, d?: string) => metric('histogram', n, u, d),
    createGauge: (n: string, _t?: string, u?: string, d?: string) => metric('gauge', n, u, d),
    withTags: () => meter,
  } as unknown as MetricMeter;
  return { meter, points };
}

const summary: RebuildSummary = {
  workflowId: 'wf',
  runId: 'run',
  catalogDigest: 'c'.repeat(64),
  target: { kind: 'production', packageRepository: '/repo', registry: 'registry.test/kiln' },
  startedAt: '2026-01-01T00:00:00.000Z',
  finishedAt: '2026-01-01T00:02:00.000Z',
  packages: [
    {
      name: 'a',
      version: '1',
      epoch: 0,
      status: 'built',
      durationMs: 30_000,
      vulnerabilities: [{ id: 'CVE-1', fixedIn: '2' }],
    },
    { name: 'b', version: '1', epoch: 0, status: 'built', durationMs: 10_000 },
    { name: 'c', version: '1', epoch: 0, status: 'up-to-date', durationMs: 500 },
    { name: 'd', version: '1', epoch: 0, status: 'failed', durationMs: 2000, error: 'boom' },
    { name: 'e', version: '1', epoch: 0, status: 'blocked', durationMs: 0, blockedBy: 'd' },
  ],
  images: [
    {
      name: 'hello',
      status: 'published',
      tags: ['latest'],
      durationMs: 40_000,
      scanned: true,
      vulnerabilities: [
        { id: 'CVE-7', package: 'busybox', fixedIn: '2', severity: 'critical' },
        { id: 'CVE-8', package: 'busybox', fixedIn: '2', severity: 'critical' },
      ],
    },
    { name: 'plain', status: 'unchanged', tags: ['latest'], durationMs: 1000, scanned: false },
    { name: 'stuck', status: 'blocked', tags: ['latest'], durationMs: 0, blockedBy: 'd' },
  ],
  ok: false,
};

const of = (points: Point[], name: string) => points.filter((p) => p.name === name);

describe('recordRunMetrics', () => {
  const { meter, points } = recordingMeter();
  recordRunMetrics(meter, summary);

  it('counts the run by outcome and target, with its duration and finishing time', () => {
    expect(of(points, KILN_METRICS.runs.name)).toEqual([
      { name: 'kiln_runs_total', kind: 'counter', value: 1, tags: { outcome: 'failures', target: 'production' } },
    ]);
    expect(of(points, KILN_METRICS.runDuration.name).map((p) => p.value)).toEqual([120]);
    expect(of(points, KILN_METRICS.runFinished.name).map((p) => p.value)).toEqual([
      Date.parse('2026-01-01T00:02:00Z') / 1000,
    ]);
  });

  it('counts packages and images by status', () => {
    expect(of(points, 'kiln_packages_total').map((p) => [p.tags.status, p.value])).toEqual([
      ['built', 2],
      ['up-to-date', 1],
      ['failed', 1],
      ['blocked', 1],
    ]);
    expect(of(points, 'kiln_images_total').map((p) => [p.tags.status, p.value])).toEqual([
      ['published', 1],
      ['unchanged', 1],
      ['blocked', 1],
    ]);
  });

  it('records durations in seconds of what ran, never of what was blocked', () => {
    expect(of(points, 'kiln_package_duration_seconds').map((p) => [p.tags.status, p.value])).toEqual([
      ['built', 30],
      ['built', 10],
      ['up-to-date', 0.5],
      ['failed', 2],
    ]);
    expect(of(points, 'kiln_image_duration_seconds').map((p) => p.value)).toEqual([40, 1]);
  });

  it('sets every severity of a scanned image, zeros included, and nothing for an image not scanned', () => {
    expect(of(points, 'kiln_image_cves').map((p) => [p.tags.image, p.tags.severity, p.value])).toEqual([
      ['hello', 'critical', 2],
      ['hello', 'high', 0],
      ['hello', 'medium', 0],
      ['hello', 'low', 0],
      ['hello', 'unknown', 0],
    ]);
    expect(of(points, 'kiln_package_cves').map((p) => [p.tags.package, p.value])).toEqual([['a', 1]]);
  });

  it('records only metrics listed in KILN_METRICS, with their listed labels', () => {
    const listed = new Map<string, readonly string[]>(Object.values(KILN_METRICS).map((m) => [m.name, m.labels]));
    for (const p of points) {
      expect(listed.has(p.name), p.name).toBe(true);
      expect(Object.keys(p.tags).sort(), p.name).toEqual([...listed.get(p.name)!].sort());
    }
  });
});

describe('stage durations and rate-limit waits', () => {
  it('records a stage attempt and a wait with their labels', () => {
    const { meter, points } = recordingMeter();
    recordStageDuration(meter, { stage: 'buildPackage', seconds: 12.5, outcome: 'ok' });
    recordRateLimitWait(meter, { host: 'ghcr.io', seconds: 7 });
    expect(points).toEqual([
      {
        name: 'kiln_stage_duration_seconds',
        kind: 'histogram',
        value: 12.5,
        tags: { stage: 'buildPackage', outcome: 'ok' },
      },
      { name: 'kiln_rate_limit_waits_total', kind: 'counter', value: 1, tags: { host: 'ghcr.io' } },
      { name: 'kiln_rate_limit_wait_seconds', kind: 'histogram', value: 7, tags: { host: 'ghcr.io' } },
    ]);
  });
});

describe('the metrics documentation and dashboard', () => {
  const names = Object.values(KILN_METRICS).map((m) => m.name as string);

  it('docs/observability.md lists exactly the metrics kiln records', () => {
    const doc = readFileSync(join(REPO_ROOT, 'docs', 'observability.md'), 'utf8');
    const listed = [...doc.matchAll(/^\| `(kiln_[a-z_]+)` \|/gm)].map((m) => m[1]);
    expect(listed.sort()).toEqual([...names].sort());
  });

  it('docs/grafana-dashboard.json queries only metrics kiln records', () => {
    const dashboard = JSON.parse(readFileSync(join(REPO_ROOT, 'docs', 'grafana-dashboard.json'), 'utf8')) as {
      panels: { targets?: { expr: string }[] }[];
    };
    const used = dashboard.panels
      .flatMap((p) => p.targets ?? [])
      .flatMap((t) => [...t.expr.matchAll(/kiln_[a-z_]+/g)].map((m) => m[0]))
      .map((n) => (names.includes(n) ? n : n.replace(/_(bucket|sum|count)$/, '')));
    expect(used.length).toBeGreaterThan(0);
    for (const n of used) expect(names, n).toContain(n);
  });
});
