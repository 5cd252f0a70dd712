// A worker's own rate limits, read from its catalog's catalog.yaml at start (io/catalog-loader.ts
// loadRateLimits): real files in a temporary directory.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CatalogInvalid } from '../../../domain/catalog-rules.js';
import { loadRateLimits } from '../../../io/catalog-loader.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiln-limits-'));
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

const settings = (extra: string) =>
  `registry: "\${KILN_REGISTRY:-127.0.0.1:5000}/kiln"\npackageRepository: /tmp/repo\n${extra}`;

describe("a worker's rate limits", () => {
  it('are none without a catalog.yaml', async () => {
    expect(await loadRateLimits(join(dir, 'nowhere'), { env: {} })).toEqual([]);
  });

  it('are read with the worker environment catalog.yaml may see, whatever else the file holds', async () => {
    await writeFile(
      join(dir, 'catalog.yaml'),
      settings('archs: [sparc]\nrateLimits:\n  - { host: "${KILN_REGISTRY}", perSecond: 20 }\n'),
    );
    expect(await loadRateLimits(dir, { env: { KILN_REGISTRY: 'registry.internal:5443' } })).toEqual([
      { host: 'registry.internal:5443', perSecond: 20 },
    ]);
  });

  it('stop the worker when an entry does not validate, naming the file, the field and the fix', async () => {
    await writeFile(
      join(dir, 'catalog.yaml'),
      settings('rateLimits:\n  - { host: registry.internal, perSecond: -1 }\n'),
    );
    const err = await loadRateLimits(dir, { env: {} }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CatalogInvalid);
    expect((err as Error).message).toMatch(
      /catalog\.yaml.*rateLimits\[0\]\.perSecond.*above 0, got -1.*perSecond: 20/s,
    );
  });
});
