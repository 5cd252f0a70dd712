// The run report's renderer: every value from a catalog, a feed or a tool is text on the page, never
// markup; links go only to the configured Web UI; and the page says what it could not show.
import { describe, expect, it } from 'vitest';
import { escapeHtml, renderRunReport, took, workflowUrl } from '../../../domain/report-html.js';
import type { RunTimeline } from '../../../domain/run-timeline.js';
import { formatSummary, type RebuildSummary } from '../../../domain/summary.js';

const DIGEST = `sha256:${'a'.repeat(64)}`;
const PREVIOUS = `sha256:${'b'.repeat(64)}`;
const EVIL = `<script>alert("x")</script>`;
const ATTR = `" onmouseover="alert(1)`;

function summary(over: Partial<RebuildSummary> = {}): RebuildSummary {
  return {
    workflowId: 'catalog-rebuild/1',
    runId: 'run-1',
    catalogDigest: 'c'.repeat(64),
    startedAt: '2026-01-01T00:00:00.000Z',
    finishedAt: '2026-01-01T00:01:00.000Z',
    packages: [
      {
        name: 'tiny-lib',
        version: '1.0.0',
        epoch: 0,
        status: 'built',
        durationMs: 20_000,
        tested: true,
        sbom: true,
        signedBy: 'kiln.rsa.pub',
        abi: { verdict: 'compatible', removed: [], rebuild: [] },
        apks: { x86_64: [{ file: 'tiny-lib-1.0.0-r0.apk', sha256: 'd'.repeat(64) }] },
        vulnerabilities: [{ id: 'CVE-2099-0001', fixedIn: '1.0.1-r0' }],
      },
    ],
    images: [
      {
        name: 'tiny-app',
        status: 'published',
        digest: DIGEST,
        reference: `registry.test/kiln/tiny-app@${DIGEST}`,
        tags: ['latest', '0.1'],
        scanned: true,
        vulnerabilities: [{ id: 'CVE-2099-7001', package: 'busybox', fixedIn: '1.36.1-r0', severity: 'critical' }],
        diff: { previous: PREVIOUS, sizeDelta: 2048, added: ['tiny-lib'], removed: [], changed: ['busybox'] },
        sizeBytes: 3 * 1024 * 1024,
        durationMs: 30_000,
      },
    ],
    ok: true,
    ...over,
  };
}

const render = (s: RebuildSummary, over: { webUi?: string; timeline?: RunTimeline; timelineNote?: string } = {}) =>
  renderRunReport({
    summary: s,
    webUi: 'http://127.0.0.1:8233',
    namespace: 'default',
    generatedAt: '2026-01-01T00:01:01.000Z',
    ...over,
  });

const ALLOWED_ATTRIBUTES = [
  'lang',
  'charset',
  'http-equiv',
  'content',
  'name',
  'id',
  'class',
  'href',
  'title',
  'style',
  'scope',
  'data-status',
];

/** Every `<tag` the page opens, by name. */
const tags = (page: string) => new Set([...page.matchAll(/<([a-zA-Z][a-zA-Z0-9-]*)/g)].map((m) => m[1]!.toLowerCase()));

describe('renderRunReport', () => {
  describe('when names, tags, CVE ids and errors carry markup', () => {
    const hostile = summary({
      workflowId: `wf-${EVIL}`,
      ok: false,
      packages: [
        {
          name: `pkg${EVIL}`,
          version: `1${ATTR}`,
          epoch: 0,
          status: 'failed',
          durationMs: 1000,
          error: `melange said ${EVIL}\nsecond line & more`,
          vulnerabilities: [{ id: `CVE${EVIL}`, fixedIn: ATTR }],
          abi: { verdict: `break${EVIL}`, removed: [`libx.so${EVIL}`], rebuild: [ATTR], reason: EVIL },
        },
      ],
      images: [
        {
          name: `img${ATTR}`,
          status: 'failed',
          tags: [`tag${EVIL}`],
          durationMs: 1000,
          error: EVIL,
          blockedBy: `x${EVIL}`,
          packages: [`p${EVIL}`],
          vulnerabilities: [{ id: `CVE-${ATTR}`, package: EVIL, origin: ATTR, fixedIn: EVIL, severity: EVIL }],
          scanned: true,
          tagsKept: [{ tag: EVIL, digest: ATTR }],
        },
      ],
      epochBumps: [{ because: EVIL, packages: [{ name: EVIL, epoch: 1 }], notInCatalog: [EVIL], error: EVIL }],
    });
    const page = render(hostile);

    it('shows them as text: no script element, no injected attribute', () => {
      expect(tags(page).has('script')).toBe(false);
      expect(page).not.toContain('<script');
      // Every tag has only quoted attributes kiln writes (a `"` in a value would end it early).
      for (const tag of page.match(/<[a-zA-Z][^>]*>/g) ?? []) {
        const names = [...tag.matchAll(/\s([a-zA-Z-]+)="[^"]*"/g)].map((m) => m[1]);
        expect(tag.replace(/\s([a-zA-Z-]+)="[^"]*"/g, ''), tag).toMatch(/^<[a-zA-Z0-9]+\s*\/?>$/);
        for (const name of names) expect(ALLOWED_ATTRIBUTES, `${name} in ${tag}`).toContain(name);
      }
      expect(page).toContain('&#60;script&#62;alert(&#34;x&#34;)&#60;/script&#62;');
      expect(page).toContain('&#34; onmouseover=&#34;alert(1)');
    });

    it('escapes the title and keeps the page free of scripts by its Content-Security-Policy', () => {
      expect(page).toMatch(/<title>kiln run wf-&#60;script&#62;/);
      expect(page).toContain(`content="default-src 'none'; style-src 'unsafe-inline'"`);
    });
  });

  it('escapes & < > " and \' as character references', () => {
    expect(escapeHtml(`a&b<c>d"e'f`)).toBe('a&#38;b&#60;c&#62;d&#34;e&#39;f');
  });

  it('says what the run waited on a shared rate limit, as the CLI summary does', () => {
    const s = summary({ limits: [{ host: '127.0.0.1:5000', perSecond: 6, waits: 12, seconds: 3.54 }] });
    const line = 'waited 3.5 s for 127.0.0.1:5000 (6/s, shared by all workers): 12 requests held';
    expect(render(s)).toContain(`<dt>rate limit</dt>`);
    expect(render(s)).toContain(line);
    expect(formatSummary(s)).toContain(`  limits  ${line}`);
    expect(render(summary())).not.toContain('rate limit');
  });

  it('links the run to the Web UI, encoding the workflow id', () => {
    const page = render(summary());
    expect(page).toContain('href="http://127.0.0.1:8233/namespaces/default/workflows/catalog-rebuild%2F1/run-1"');
  });

  it('links nothing when the Web UI address is not http(s)', () => {
    expect(workflowUrl('javascript:alert(1)', 'default', 'wf')).toBeUndefined();
    const page = render(summary(), { webUi: 'javascript:alert(1)' });
    expect(page).not.toContain('javascript:');
    expect(page).not.toContain('<a ');
  });

  it('shows statuses, the digest, tags, CVEs, the ABI verdict and the change from the previous image', () => {
    const page = render(summary());
    for (const text of [
      'data-status="built"',
      'data-status="published"',
      DIGEST,
      'CVE-2099-7001',
      'CVE-2099-0001',
      'compatible',
      '<span class="tag">latest</span>',
      '+2 KiB',
      '+tiny-lib ~busybox',
      `sha256:${'d'.repeat(64)}`,
    ])
      expect(page, text).toContain(text);
  });

  describe('the timeline', () => {
    it('says per-stage timings are missing and draws the durations when there is no history', () => {
      const page = render(summary(), { timelineNote: 'the run’s history could not be read (boom <b>)' });
      expect(page).toContain(
        "Per-stage timings are not in the run's summary and the run’s history could not be read (boom &#60;b&#62;)",
      );
      // tiny-lib took 20 s of the 60 s run.
      expect(page).toMatch(/class="lane" style="left:0\.00%;width:33\.33%"/);
    });

    it('draws each stage from the history, with its wait, and links each workflow', () => {
      const t0 = Date.parse('2026-01-01T00:00:00.000Z');
      const timeline: RunTimeline = {
        startedAt: t0,
        endedAt: t0 + 60_000,
        stages: [
          {
            stage: 'snapshotCatalog',
            kind: 'activity',
            scheduledAt: t0,
            startedAt: t0,
            endedAt: t0 + 1000,
            attempts: 1,
            outcome: 'ok',
          },
        ],
        children: [
          {
            workflowId: 'catalog-rebuild/1/package/tiny-lib',
            runId: 'child-run',
            workflowType: 'packageBuild',
            scheduledAt: t0 + 1000,
            startedAt: t0 + 1000,
            endedAt: t0 + 21_000,
            outcome: 'ok',
            stages: [
              {
                stage: 'buildPackage',
                kind: 'activity',
                scheduledAt: t0 + 1000,
                startedAt: t0 + 4000,
                endedAt: t0 + 15_000,
                attempts: 2,
                outcome: 'ok',
              },
            ],
          },
        ],
        childrenWithoutStages: 0,
      };
      const page = render(summary(), { timeline });
      expect(page).not.toContain('Per-stage timings are not');
      expect(page).toContain('title="buildPackage: 14.0s, from +1.0s, waited 3.0s, 2 attempts"');
      expect(page).toContain(
        'href="http://127.0.0.1:8233/namespaces/default/workflows/catalog-rebuild%2F1%2Fpackage%2Ftiny-lib/child-run"',
      );
      expect(page).toMatch(
        /<td><span class="swatch s\d+"><\/span>buildPackage<\/td>\s*<td>\+1\.0s<\/td>\s*<td>14\.0s<\/td>\s*<td>3\.0s<\/td>\s*<td>2<\/td>/,
      );
    });
  });
});

describe('took', () => {
  it('reads as a person writes durations', () => {
    expect([took(400), took(12_340), took(185_000), took(3_720_000)]).toEqual(['0.4s', '12.3s', '3m05s', '1h02m']);
  });
});
