// kiln's own Prometheus metrics, recorded through Temporal's MetricMeter so they come out of the
// same endpoint as the SDK's (workers/telemetry.ts installs it). Pure and sandbox-safe: workflows
// pass `metricMeter` from @temporalio/workflow (silent during replay, so a replayed run never counts
// twice), activities the one of their context (io/activity-metrics.ts). The names, labels and
// buckets are listed once here; docs/observability.md and docs/grafana-dashboard.json use the same names.
import type { MetricMeter } from '@temporalio/common';
import type { Severity } from './catalog.js';
import type { ImageStatus, PackageStatus, RebuildSummary } from './summary.js';

/** Every kiln metric: Prometheus name, kind, labels (besides the SDK's) and what it counts. */
export const KILN_METRICS = {
  runs: {
    name: 'kiln_runs_total',
    kind: 'counter',
    labels: ['outcome', 'target'],
    help: 'catalogRebuild runs that finished, by outcome (success or failures) and target (production or staging)',
  },
  runDuration: {
    name: 'kiln_run_duration_seconds',
    kind: 'histogram',
    labels: ['outcome', 'target'],
    help: 'wall time of a catalogRebuild run, from its start to its summary',
  },
  runFinished: {
    name: 'kiln_run_finished_timestamp_seconds',
    kind: 'gauge',
    labels: ['outcome', 'target'],
    help: 'when the last catalogRebuild run with this outcome finished (Unix seconds), for "no successful nightly" alerts',
  },
  packages: {
    name: 'kiln_packages_total',
    kind: 'counter',
    labels: ['status', 'target'],
    help: 'packages reported by finished runs, by status (built, up-to-date, reproduced, not-reproducible, failed, blocked)',
  },
  packageDuration: {
    name: 'kiln_package_duration_seconds',
    kind: 'histogram',
    labels: ['status', 'target'],
    help: 'time of one packageBuild (every arch: build, test, check, publish); blocked packages are not recorded',
  },
  images: {
    name: 'kiln_images_total',
    kind: 'counter',
    labels: ['status', 'target'],
    help: 'images reported by finished runs, by status (published, unchanged, failed, blocked)',
  },
  imageDuration: {
    name: 'kiln_image_duration_seconds',
    kind: 'histogram',
    labels: ['status', 'target'],
    help: 'time of one imageBuild (assemble to tag, waiting for the publish turn included); blocked images are not recorded',
  },
  imageCves: {
    name: 'kiln_image_cves',
    kind: 'gauge',
    labels: ['image', 'severity', 'target'],
    help: 'known CVEs in the image as its last run on this worker scanned it, by severity (scanned images only)',
  },
  packageCves: {
    name: 'kiln_package_cves',
    kind: 'gauge',
    labels: ['package', 'target'],
    help: 'known CVEs of the package as its last run on this worker checked it (catalogs with a vulnerability feed only)',
  },
  stageDuration: {
    name: 'kiln_stage_duration_seconds',
    kind: 'histogram',
    labels: ['stage', 'outcome'],
    help: 'time of one attempt of a stage (an activity: buildPackage, assembleImage, pushImage...), by outcome (ok, failed, cancelled)',
  },
  rateLimitWaits: {
    name: 'kiln_rate_limit_waits_total',
    kind: 'counter',
    labels: ['host'],
    help: 'times kiln waited because a registry or upstream host limited its rate (429, Retry-After, a shared limit)',
  },
  rateLimitWait: {
    name: 'kiln_rate_limit_wait_seconds',
    kind: 'histogram',
    labels: ['host'],
    help: 'how long each of those waits lasted',
  },
} as const satisfies Record<
  string,
  { name: string; kind: 'counter' | 'histogram' | 'gauge'; labels: readonly string[]; help: string }
>;

/**
 * Histogram buckets in seconds, by metric name (the runtime's defaults are milliseconds-shaped).
 * workers/telemetry.ts hands them to the Prometheus exporter.
 */
export const HISTOGRAM_BUCKETS: Record<string, number[]> = {
  [KILN_METRICS.stageDuration.name]: [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600],
  [KILN_METRICS.packageDuration.name]: [1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200],
  [KILN_METRICS.imageDuration.name]: [1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200],
  [KILN_METRICS.runDuration.name]: [10, 30, 60, 300, 600, 1800, 3600, 7200, 14400, 28800, 57600],
  [KILN_METRICS.rateLimitWait.name]: [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300],
};

/** Every severity a scan reports, so that a CVE fixed since the last run sets its gauge back to 0. */
const SEVERITIES: readonly Severity[] = ['critical', 'high', 'medium', 'low', 'unknown'];

const counter = (meter: MetricMeter, m: { name: string; help: string }) => meter.createCounter(m.name, '', m.help);
const histogram = (meter: MetricMeter, m: { name: string; help: string }) =>
  meter.createHistogram(m.name, 'float', 's', m.help);
const gauge = (meter: MetricMeter, m: { name: string; help: string }) => meter.createGauge(m.name, 'int', '', m.help);

/** Seconds from milliseconds, never negative (the SDK refuses negative histogram values). */
const seconds = (ms: number) => Math.max(0, ms) / 1000;

/**
 * A finished run, from its summary: the run, every package and image by status and duration, and
 * the CVEs found. Call once per run, at its end (catalogRebuild, with the workflow's metricMeter).
 */
export function recordRunMetrics(meter: MetricMeter, summary: RebuildSummary): void {
  recordRunEnd(meter, summary);
  recordOutcomeMetrics(meter, summary.target?.kind ?? 'unknown', summary);
}

/** The run itself: its outcome and duration (once, at the end of its last run). */
export function recordRunEnd(
  meter: MetricMeter,
  summary: Pick<RebuildSummary, 'target' | 'ok' | 'startedAt' | 'finishedAt'>,
): void {
  const target = summary.target?.kind ?? 'unknown';
  const outcome = summary.ok ? 'success' : 'failures';
  counter(meter, KILN_METRICS.runs).add(1, { outcome, target });
  histogram(meter, KILN_METRICS.runDuration).record(
    seconds(Date.parse(summary.finishedAt) - Date.parse(summary.startedAt)),
    { outcome, target },
  );
  const finished = Date.parse(summary.finishedAt);
  if (Number.isFinite(finished))
    gauge(meter, KILN_METRICS.runFinished).set(Math.floor(finished / 1000), { outcome, target });
}

/**
 * Packages and images by status and duration, and their CVEs: for a rebuild that continued-as-new,
 * each run records the outcomes it finished (the last one records the run with recordRunEnd).
 */
export function recordOutcomeMetrics(
  meter: MetricMeter,
  target: string,
  outcomes: Pick<RebuildSummary, 'packages' | 'images'>,
): void {
  const byStatus = <S extends string>(items: { status: S }[]) => {
    const counts = new Map<S, number>();
    for (const i of items) counts.set(i.status, (counts.get(i.status) ?? 0) + 1);
    return counts;
  };
  const packages = counter(meter, KILN_METRICS.packages);
  for (const [status, n] of byStatus<PackageStatus>(outcomes.packages)) packages.add(n, { status, target });
  const images = counter(meter, KILN_METRICS.images);
  for (const [status, n] of byStatus<ImageStatus>(outcomes.images)) images.add(n, { status, target });

  const packageDuration = histogram(meter, KILN_METRICS.packageDuration);
  for (const p of outcomes.packages)
    if (p.status !== 'blocked') packageDuration.record(seconds(p.durationMs), { status: p.status, target });
  const imageDuration = histogram(meter, KILN_METRICS.imageDuration);
  for (const i of outcomes.images)
    if (i.status !== 'blocked') imageDuration.record(seconds(i.durationMs), { status: i.status, target });

  const imageCves = gauge(meter, KILN_METRICS.imageCves);
  for (const i of outcomes.images) {
    // Only a scan says how many there are: an image that failed before its scan keeps its last value.
    if (!i.scanned) continue;
    for (const severity of SEVERITIES)
      imageCves.set((i.vulnerabilities ?? []).filter((v) => v.severity === severity).length, {
        image: i.name,
        severity,
        target,
      });
  }
  const packageCves = gauge(meter, KILN_METRICS.packageCves);
  for (const p of outcomes.packages)
    if (p.vulnerabilities) packageCves.set(p.vulnerabilities.length, { package: p.name, target });
}

/** One attempt of a stage: workers/telemetry.ts records every activity this way. */
export function recordStageDuration(
  meter: MetricMeter,
  stage: { stage: string; seconds: number; outcome: 'ok' | 'failed' | 'cancelled' },
): void {
  histogram(meter, KILN_METRICS.stageDuration).record(Math.max(0, stage.seconds), {
    stage: stage.stage,
    outcome: stage.outcome,
  });
}

/**
 * kiln waited `seconds` because `host` limited its rate (a 429 and its Retry-After, or a shared
 * limit): one count and the wait's length. `host` is a registry or upstream host name, never a URL
 * with a path (one series per host).
 */
export function recordRateLimitWait(meter: MetricMeter, wait: { host: string; seconds: number }): void {
  counter(meter, KILN_METRICS.rateLimitWaits).add(1, { host: wait.host });
  histogram(meter, KILN_METRICS.rateLimitWait).record(Math.max(0, wait.seconds), { host: wait.host });
}
