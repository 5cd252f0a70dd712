import { describe, expect, it } from 'vitest';
import { formatSummary, type ImageOutcome, type RebuildSummary } from '../../../domain/summary.js';

const DIGEST = `sha256:${'a'.repeat(64)}`;
const NEWER = `sha256:${'b'.repeat(64)}`;

function summary(images: ImageOutcome[]): RebuildSummary {
  return {
    workflowId: 'catalog-rebuild-1',
    runId: 'run-1',
    catalogDigest: 'c'.repeat(64),
    startedAt: '2026-01-01T00:00:00Z',
    finishedAt: '2026-01-01T00:01:00Z',
    packages: [],
    images,
    ok: true,
  };
}

const published = (over: Partial<ImageOutcome>): ImageOutcome => ({
  name: 'hello',
  status: 'published',
  reference: `registry.test/kiln/hello@${DIGEST}`,
  digest: DIGEST,
  tags: ['latest'],
  durationMs: 1000,
  ...over,
});

/** The images table row of `name`. */
const row = (text: string, name: string) => text.split('\n').find((l) => l.startsWith(`  ${name} `));

describe('formatSummary, images', () => {
  it('says "not scanned" when the catalog configures no vulnerability feed, never a count', () => {
    const text = formatSummary(summary([published({ scanned: false, vulnerabilities: [] })]));
    expect(text).toMatch(/^ {2}NAME +STATUS +TIME +CVES +REFERENCE \/ DETAIL$/m);
    expect(row(text, 'hello')).toMatch(/^ {2}hello +published +1\.0s +not scanned +registry\.test\/kiln\/hello@/);
  });

  it('gives the number of known CVEs of a scanned image, 0 included', () => {
    const clean = formatSummary(summary([published({ scanned: true, vulnerabilities: [] })]));
    expect(row(clean, 'hello')).toMatch(/^ {2}hello +published +1\.0s +0 +registry/);
    const found = formatSummary(
      summary([
        published({
          scanned: true,
          vulnerabilities: [
            { id: 'CVE-2099-1', package: 'foo-dev', origin: 'foo', fixedIn: '1.1-r0', severity: 'high' },
          ],
        }),
      ]),
    );
    expect(row(found, 'hello')).toMatch(/^ {2}hello +published +1\.0s +1 +registry.*; CVEs: CVE-2099-1$/);
  });

  it('shows "-" for an image that failed before a scan result', () => {
    const text = formatSummary(
      summary([{ name: 'hello', status: 'failed', tags: ['latest'], durationMs: 0, error: 'boom' }]),
    );
    expect(row(text, 'hello')).toMatch(/^ {2}hello +failed +0\.0s +- +boom$/);
  });

  it('names the tags a run left on a newer catalog image', () => {
    const text = formatSummary(summary([published({ scanned: false, tagsKept: [{ tag: 'latest', digest: NEWER }] })]));
    expect(row(text, 'hello')).toContain(`kept latest at ${'b'.repeat(12)} (built from a newer catalog)`);
  });
});
