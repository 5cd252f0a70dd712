// Where the run report goes and what it says without a history: a file per run under the state
// directory, whatever characters the workflow id holds, written whole.
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileName, reportPath, writeRunReport } from '../../../activities/run-report.js';
import { loadConfig, type KilnConfig } from '../../../config/config.js';
import type { RebuildSummary } from '../../../domain/summary.js';

let state: string;
let config: KilnConfig;
beforeAll(async () => {
  state = await mkdtemp(join(tmpdir(), 'kiln-report-'));
  config = loadConfig({ KILN_STATE: state, KILN_WEB_UI: 'http://127.0.0.1:8233' });
});
afterAll(async () => {
  await rm(state, { recursive: true, force: true });
});

const summary: RebuildSummary = {
  workflowId: 'nightly-rebuild-2026-01-01T02:17:00Z/../x',
  runId: 'run-1',
  catalogDigest: 'c'.repeat(64),
  startedAt: '2026-01-01T00:00:00.000Z',
  finishedAt: '2026-01-01T00:00:10.000Z',
  packages: [{ name: 'tiny-lib', version: '1.0.0', epoch: 0, status: 'built', durationMs: 5000 }],
  images: [],
  ok: true,
};

describe('fileName', () => {
  it('keeps an id in one path component that cannot climb', () => {
    expect(fileName('a/b')).toBe('a%2Fb');
    expect(fileName('..')).toBe('%2E.');
    expect(fileName('.')).toBe('%2E');
    expect(fileName('x'.repeat(400)).length).toBeLessThanOrEqual(180);
    expect(fileName('x'.repeat(400))).not.toBe(fileName(`${'x'.repeat(399)}y`));
  });
});

describe('writeRunReport', () => {
  it('writes <state>/reports/<workflowId>/<runId>.html, and without a history draws the durations', async () => {
    const report = await writeRunReport(config, { summary });
    expect(report.path).toBe(reportPath(config, summary));
    expect(report.path.startsWith(join(state, 'reports', 'nightly-rebuild-2026-01-01T02%3A17%3A00Z%2F..%2Fx'))).toBe(
      true,
    );
    expect(report.timeline).toBe('durations');
    const page = await readFile(report.path, 'utf8');
    expect(page).toContain('Per-stage timings are not in the run');
    expect(page).toContain('tiny-lib');
    // Written aside and renamed: no temporary file is left.
    expect(await readdir(join(report.path, '..'))).toEqual(['run-1.html']);
  });
});
