// Failures are classified by cause, on a real run (Temporal, melange in bubblewrap): a package whose
// source server answers 503 twice and then 200 is retried with backoff and built; one whose source
// answers 404 fails at once, never retried, with wget's own words.
import { cp, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { catalogRebuild } from '../../../workflows/catalog-rebuild.js';
import type { RebuildSummary } from '../../../domain/summary.js';
import { FIXTURES } from '../../fixtures/paths.js';
import { connectTemporal, kilnTestConfig, kilnTestEnv, type TemporalHarness, rebuildSummary } from '../harness.js';

const env = kilnTestEnv();
let temporal: TemporalHarness;
let server: Server;
let catalogDir: string;
const requests: Record<string, number> = { flaky: 0, missing: 0 };

beforeAll(async () => {
  server = createServer((req, res) => {
    const which = req.url?.split('/')[1] ?? '';
    requests[which] = (requests[which] ?? 0) + 1;
    if (which === 'flaky' && requests.flaky! <= 2) res.writeHead(503).end('busy');
    else if (which === 'flaky') res.writeHead(200, { 'content-type': 'text/plain' }).end('source\n');
    else res.writeHead(404).end('no such file');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  catalogDir = await mkdtemp(join(tmpdir(), 'kiln-netretry-'));
  await cp(join(FIXTURES, 'netretry'), catalogDir, { recursive: true });
  for (const f of await readdir(join(catalogDir, 'packages'))) {
    const file = join(catalogDir, 'packages', f);
    await writeFile(file, (await readFile(file, 'utf8')).replaceAll('@SOURCE_URL@', url));
  }
  temporal = await connectTemporal(env);
});
afterAll(async () => {
  await temporal?.close();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await rm(catalogDir, { recursive: true, force: true });
});

describe('a source server that fails', () => {
  let summary: RebuildSummary;
  beforeAll(async () => {
    const worker = await temporal.worker('netretry', kilnTestConfig(env, { KILN_CATALOG: catalogDir }));
    summary = await rebuildSummary(
      await worker.runUntil(
        temporal.client.workflow.execute(catalogRebuild, {
          taskQueue: 'netretry',
          workflowId: `netretry-${Date.now()}`,
          args: [{ catalogDir }],
        }),
      ),
    );
  });

  it('503 twice, then 200: the build is retried with backoff and succeeds', () => {
    const flaky = summary.packages.find((p) => p.name === 'net-flaky')!;
    expect(flaky.status).toBe('built');
    expect(requests.flaky).toBe(3);
  });

  it('404: the build fails once, not retried, with the tool’s own words', () => {
    const missing = summary.packages.find((p) => p.name === 'net-missing')!;
    expect(missing.status).toBe('failed');
    expect(missing.error).toMatch(/melange build failed with exit code 1; log: /);
    expect(missing.error).toMatch(/404 Not Found/);
    expect(requests.missing).toBe(1);
  });
});
