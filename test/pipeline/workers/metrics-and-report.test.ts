// What an operator sees of a real run: the worker's Prometheus endpoint (KILN_METRICS_ADDRESS),
// scraped while the run goes and after it, with Temporal's own metrics and kiln's; and the run's
// HTML report, opened in real Chromium and read as a person would. The catalog is the tiny fixture
// with a vulnerability feed, so the run has a CVE to show.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type BrowserContext } from 'playwright-core';
import type { RunReport } from '../../../activities/index.js';
import type { RebuildSummary } from '../../../domain/summary.js';
import { freePort } from '../global-setup.js';
import { connectTemporal, isolatedFixture, kilnTestEnv, rebuildSummary, type TemporalHarness } from '../harness.js';

const CVE = 'CVE-2099-7001';

const env = kilnTestEnv();
let temporal: TemporalHarness;
let metricsUrl: string;
let work: string;
let workflowId: string;
let summary: RebuildSummary;
let duringRun: Sample[];
let report: RunReport;

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a Prometheus text exposition (comments skipped). */
function parseMetrics(text: string): Sample[] {
  return text
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((line) => {
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
      if (!m) throw new Error(`not a Prometheus sample: ${line}`);
      const labels = Object.fromEntries(
        [...(m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1]!, l[2]!]),
      );
      return { name: m[1]!, labels, value: Number(m[3]) };
    });
}

async function scrape(): Promise<Sample[]> {
  const res = await fetch(metricsUrl);
  expect(res.status).toBe(200);
  return parseMetrics(await res.text());
}

/** The sum of a metric's samples whose labels include `labels`. */
const total = (samples: Sample[], name: string, labels: Record<string, string> = {}) =>
  samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);

beforeAll(async () => {
  metricsUrl = `http://127.0.0.1:${await freePort()}/metrics`;
  temporal = await connectTemporal(env, { metricsAddress: new URL(metricsUrl).host });
  work = await mkdtemp(join(tmpdir(), 'kiln-metrics-'));
  const catalogDir = await isolatedFixture('tiny', join(work, 'catalog'), 'metrics');
  // A feed that knows a CVE in busybox (in the image), fixed in a version nobody has yet.
  await writeFile(
    join(catalogDir, 'security.json'),
    JSON.stringify({
      apkurl: '{{urlprefix}}/{{reponame}}/{{arch}}/{{pkg.name}}-{{pkg.ver}}.apk',
      archs: ['x86_64'],
      reponame: 'metrics',
      urlprefix: 'https://example.invalid',
      packages: [{ pkg: { name: 'busybox', secfixes: { '99.0.0-r0': [CVE] } } }],
      severities: { [CVE]: 'critical' },
    }),
  );
  const settings = join(catalogDir, 'catalog.yaml');
  await writeFile(
    settings,
    `${await readFile(settings, 'utf8')}vulnerabilities: { feed: security.json, policy: report }\n`,
  );

  const taskQueue = `metrics-${Date.now()}`;
  workflowId = `metrics-${Date.now()}`;
  const worker = await temporal.worker(taskQueue);
  ({ summary, duringRun } = await worker.runUntil(async () => {
    const handle = await temporal.client.workflow.start('catalogRebuild', {
      taskQueue,
      workflowId,
      args: [{ catalogDir }],
    });
    // Scrape while the run goes, until a finished stage shows (the snapshot comes first).
    let during: Sample[] = [];
    for (const deadline = Date.now() + 300_000; Date.now() < deadline;) {
      const samples = await scrape();
      const running = (await handle.describe()).status.name === 'RUNNING';
      if (running && total(samples, 'kiln_stage_duration_seconds_count', { stage: 'snapshotCatalog' }) > 0) {
        during = samples;
        break;
      }
      if (!running) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    return { summary: await rebuildSummary(await handle.result()), duringRun: during };
  }));

  // catalogRebuild wrote it at its end and names it in the summary.
  report = summary.report!;
});

afterAll(async () => {
  await temporal?.close();
  if (work && !process.env.KILN_KEEP_TEST_STATE) await rm(work, { recursive: true, force: true });
});

describe('a real run', () => {
  it('built the tiny catalog and found the CVE the feed knows', () => {
    expect(summary.ok).toBe(true);
    expect(summary.packages.map((p) => [p.name, p.status])).toEqual([
      ['tiny-app', 'built'],
      ['tiny-lib', 'built'],
    ]);
    expect(summary.images.map((i) => [i.name, i.status, i.scanned])).toEqual([['tiny-app', 'published', true]]);
    expect(summary.images[0]!.vulnerabilities?.map((v) => v.id)).toContain(CVE);
  });
});

describe('the metrics endpoint', () => {
  it("serves Temporal's and kiln's metrics while the run goes", () => {
    expect(duringRun.length, 'no scrape while the run was running showed a finished stage').toBeGreaterThan(0);
    // The SDK's own: this worker's pollers and the activity it just ran.
    expect(duringRun.some((s) => s.name.startsWith('temporal_'))).toBe(true);
    expect(
      total(duringRun, 'temporal_activity_execution_latency_count', { activity_type: 'snapshotCatalog' }),
    ).toBeGreaterThan(0);
    expect(total(duringRun, 'kiln_stage_duration_seconds_count', { stage: 'snapshotCatalog', outcome: 'ok' })).toBe(1);
  });

  it('times every stage of the run, in seconds, beside the SDK’s latencies of the same activities', async () => {
    const after = await scrape();
    if (process.env.KILN_KEEP_TEST_STATE)
      await writeFile(join(work, 'metrics.txt'), await (await fetch(metricsUrl)).text());
    const count = (stage: string) => total(after, 'kiln_stage_duration_seconds_count', { stage, outcome: 'ok' });
    // Two packages built, tested, checked and published; one image through every stage.
    for (const stage of ['buildPackage', 'testPackage', 'checkPackage', 'publishPackage'])
      expect(count(stage), stage).toBe(2);
    for (const stage of [
      'assembleImage',
      'testImage',
      'scanImage',
      'pushImage',
      'signImage',
      'verifyImage',
      'tagImage',
    ])
      expect(count(stage), stage).toBe(1);
    // melange test runs in its sandbox every time, for seconds, not milliseconds (the unit is
    // seconds) and not hours. (A build may be this worker's cached one of the same inputs.)
    const testSeconds = total(after, 'kiln_stage_duration_seconds_sum', { stage: 'testPackage' });
    expect(testSeconds).toBeGreaterThan(0.1);
    expect(testSeconds).toBeLessThan(600);
    expect(total(after, 'temporal_activity_execution_latency_count', { activity_type: 'buildPackage' })).toBe(2);
    expect(total(after, 'temporal_workflow_completed', { workflow_type: 'catalogRebuild' })).toBe(1);
  });

  it("counts the run's packages, images and CVEs from its summary", async () => {
    const after = await scrape();
    // Recorded by catalogRebuild at its end (the SDK labels it with its type).
    const by = { workflowType: 'catalogRebuild' };
    expect(total(after, 'kiln_runs_total', { ...by, outcome: 'success', target: 'staging' })).toBe(1);
    expect(total(after, 'kiln_run_duration_seconds_count', by)).toBe(1);
    expect(total(after, 'kiln_packages_total', { ...by, status: 'built' })).toBe(2);
    expect(total(after, 'kiln_packages_total', { ...by, status: 'failed' })).toBe(0);
    expect(total(after, 'kiln_images_total', { ...by, status: 'published' })).toBe(1);
    expect(total(after, 'kiln_package_duration_seconds_count', by)).toBe(2);
    expect(total(after, 'kiln_image_cves', { ...by, image: 'tiny-app', severity: 'critical' })).toBe(
      summary.images[0]!.vulnerabilities!.filter((v) => v.severity === 'critical').length,
    );
    expect(total(after, 'kiln_image_cves', { ...by, image: 'tiny-app', severity: 'high' })).toBe(0);
    const finished = total(after, 'kiln_run_finished_timestamp_seconds', { ...by, outcome: 'success' });
    expect(finished).toBe(Math.floor(Date.parse(summary.finishedAt) / 1000));
  });
});

describe('the run report, in Chromium', () => {
  let browser: BrowserContext;
  beforeAll(async () => {
    browser = await chromium.launchPersistentContext(join(work, 'chromium-profile'), {
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
    });
  });
  afterAll(async () => browser?.close());

  it('is a file under the state directory, with the stages from the run’s history', () => {
    expect(report.path).toBe(
      join(env.KILN_STATE, 'reports', encodeURIComponent(workflowId), `${encodeURIComponent(summary.runId)}.html`),
    );
    expect(report.timeline).toBe('stages');
  });

  it('shows statuses, the CVE, the digest and tags, a timeline of stages, and links to the run in the Web UI', async () => {
    const page = await browser.newPage();
    page.setDefaultTimeout(60_000);
    try {
      await page.goto(pathToFileURL(report.path).href);
      if (process.env.KILN_KEEP_TEST_STATE) await page.screenshot({ path: join(work, 'report.png'), fullPage: true });
      await expect(page.title()).resolves.toBe(`kiln run ${workflowId}: succeeded`);
      const packages = page.locator('#packages');
      expect(await packages.locator('#package-tiny-lib').innerText()).toMatch(/tiny-lib\s+1\.0\.0-r0\s+built/);
      expect(await packages.locator('#package-tiny-app').innerText()).toMatch(/tiny-app\s+.*built/);
      const image = page.locator('#image-tiny-app');
      expect(await image.innerText()).toMatch(/published/);
      expect(await image.innerText()).toContain(summary.images[0]!.digest!);
      expect(await image.locator('.tag').allInnerTexts()).toEqual(['latest', '0.1']);
      expect(await page.locator('#vulnerabilities').innerText()).toMatch(
        new RegExp(`${CVE}\\s+critical\\s+image tiny-app`),
      );
      // A first build in this test's own repository: nothing published to compare sonames with.
      expect(summary.packages.map((p) => p.abi?.verdict)).toEqual(['first-build', 'first-build']);
      expect(await packages.locator('#package-tiny-lib').innerText()).toContain('first-build');

      // The timeline: a row per package and image, each with stage bars a person can see.
      const timeline = page.locator('#timeline');
      await expect(timeline.innerText()).resolves.not.toMatch(/Per-stage timings are not/);
      const row = timeline.locator('.tl-row', { hasText: 'package tiny-lib' });
      const bars = row.locator('.seg');
      expect(await bars.count()).toBeGreaterThanOrEqual(4);
      expect((await bars.first().boundingBox())?.width).toBeGreaterThan(0);
      await row.getByText(/\d+ stages/).click();
      expect(await row.locator('table.stage-list').innerText()).toMatch(
        /buildPackage[\s\S]*testPackage[\s\S]*publishPackage/,
      );

      // The run's link opens the run in the Web UI.
      const runLink = page.locator('a.run-link');
      const href = `${env.KILN_WEB_UI}/namespaces/default/workflows/${encodeURIComponent(workflowId)}/${summary.runId}`;
      expect(await runLink.getAttribute('href')).toBe(href);
      await runLink.click();
      await page.waitForURL(new RegExp(`^${env.KILN_WEB_UI}/namespaces/default/workflows/`));
      await page.getByText(workflowId).first().waitFor({ state: 'visible' });
    } catch (err) {
      await page.screenshot({ path: join(work, 'failure.png'), fullPage: true });
      throw new Error(`${(err as Error).message}\n(screenshot: ${join(work, 'failure.png')})`);
    }
  });
});
