// Shared rate limits across workers (catalog.yaml rateLimits, workflows/host-limit.ts): a real run
// of a small catalog with four images on two worker processes, against the real registry behind
// the fault proxy, which records when every request arrived. The registry is limited to a few
// requests a second; the proxy must never see more in any second, the registry's 429 (answered for
// a while as the images are pushed) must stop every worker for its Retry-After, and the summary
// must say how long the run waited.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openLab, type FaultLab } from '../../../bench/faults/lab.js';
import { result, sleep, topPublished, trial, until } from '../../../bench/faults/trial.js';
import { formatSummary } from '../../../domain/summary.js';
import { kilnTestEnv } from '../harness.js';

const PER_SECOND = 6;
const RETRY_AFTER_S = 4;

let lab: FaultLab;
beforeAll(async () => {
  lab = await openLab(kilnTestEnv());
});
afterAll(async () => lab?.close());

/** The most requests that arrived within any one second (a window starting at each request). */
function busiestSecond(times: number[]): number {
  let most = 0;
  for (let i = 0, j = 0; i < times.length; i++) {
    while (times[i]! - times[j]! >= 1000) j++;
    most = Math.max(most, i - j + 1);
  }
  return most;
}

describe('a registry limited to a few requests a second, shared by two workers', () => {
  it('never gets more than its limit in any second; a 429 holds every worker for its Retry-After; the summary says what the run waited', async () => {
    const t = await trial(lab, 'limits');
    // Four images pushed at once, and the limit on the registry the workers reach (the proxy).
    for (const n of [1, 2, 3]) {
      const dir = join(t.catalog.dir, 'images', `${t.tag}-top`);
      const apko = readFileSync(join(dir, 'apko.yaml'), 'utf8');
      const copy = join(t.catalog.dir, 'images', `${t.tag}-more${n}`);
      mkdirSync(copy, { recursive: true });
      writeFileSync(join(copy, 'apko.yaml'), `${apko}environment:\n  COPY: "${n}"\n`);
    }
    const settings = join(t.catalog.dir, 'catalog.yaml');
    writeFileSync(
      settings,
      readFileSync(settings, 'utf8').replace('images: 1 }', 'images: 4 }') +
        `rateLimits:\n  - { host: "${lab.proxy.address}", perSecond: ${PER_SECOND} }\n`,
    );
    // Each worker reads the limit from its own catalog (KILN_CATALOG), as production workers do.
    lab.startWorker(t.queue, { KILN_CATALOG: t.catalog.dir });
    lab.startWorker(t.queue, { KILN_CATALOG: t.catalog.dir });
    const handle = await t.start();
    await until('the top package published', () => topPublished(lab, t.catalog));
    const from = lab.proxy.requests.length;
    await sleep(3000);
    await lab.proxy.throttle(2000, () => String(RETRY_AFTER_S));
    const done = await result(handle);
    // What reached the registry during the run (reading the summary afterwards goes through it too).
    const requests = [...lab.proxy.requests];
    const summary = await lab.summary(done);

    expect(summary.ok, formatSummary(summary)).toBe(true);
    expect(summary.images.map((i) => i.status)).toEqual(['published', 'published', 'published', 'published']);
    const times = requests.slice(from).map((r) => r.at);
    expect(times.length).toBeGreaterThan(PER_SECOND * 5);
    expect(busiestSecond(times)).toBeLessThanOrEqual(PER_SECOND);

    // From the first 429 until its Retry-After ends, nothing reaches the registry from either worker
    // (a request already granted its slot when the 429 came may arrive in the first moments).
    const first429 = lab.proxy.throttled[0]!;
    const during = times.filter((x) => x > first429 + 500 && x < first429 + RETRY_AFTER_S * 1000 - 200);
    expect(during, `requests during the hold: ${during.map((x) => x - first429).join(', ')} ms after the 429`).toEqual(
      [],
    );

    const waited = summary.limits?.find((l) => l.host === lab.proxy.address);
    expect(waited?.waits).toBeGreaterThan(0);
    expect(waited!.seconds).toBeGreaterThanOrEqual(RETRY_AFTER_S - 1);
    expect(formatSummary(summary)).toContain(`for ${lab.proxy.address} (${PER_SECOND}/s, shared by all workers)`);
  });
});
