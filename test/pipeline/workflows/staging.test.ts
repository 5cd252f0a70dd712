// Parameterless builds on real Temporal, tools and registry: a run's input chooses what to rebuild,
// never what to build from. The worker's configured catalog (KILN_CATALOG) at a signed commit on its
// main branch builds production; a run naming another directory (what `{"catalogDir": "/any/path"}`
// from the Web UI does) and a commit off the main branch build into staging, and production's
// package repository, index, tags and manifests stay byte for byte as they were.
import { existsSync } from 'node:fs';
import { cp, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KilnWorker } from '../../../workers/worker.js';
import { snapshotCatalog, type CatalogSnapshot } from '../../../activities/snapshot.js';
import { formatSummary, type RebuildSummary } from '../../../domain/summary.js';
import { readSnapshot } from '../../../io/catalog-snapshot.js';
import { catalogRebuild, type RebuildInput } from '../../../workflows/catalog-rebuild.js';
import { commitAll, gitIn, initRepo, makeKey, withSource, type SigningKey } from '../../fixtures/signed-repo.js';
import {
  connectTemporal,
  isolatedFixture,
  kilnTestConfig,
  kilnTestEnv,
  rebuildSummary,
  type TemporalHarness,
} from '../harness.js';
import { installedVersions, productionRegistry, repositoryFiles } from './published-state.js';

const env = kilnTestEnv();
const taskQueue = `staging-${Date.now()}`;
let temporal: TemporalHarness;
let worker: KilnWorker;
let workerDone: Promise<void>;
let scratch: string;
let catalogDir: string;
let release: SigningKey;
let production: RebuildSummary;
const config = () => kilnTestConfig(env, { KILN_CATALOG: catalogDir });
const productionRepo = join(env.KILN_STATE, 'repo-staging');
const published = async () => ({
  repo: await repositoryFiles(productionRepo),
  registry: await productionRegistry(env, 'staging'),
});

const rebuild = async (workflowId: string, input: RebuildInput) =>
  rebuildSummary(await temporal.client.workflow.execute(catalogRebuild, { taskQueue, workflowId, args: [input] }));

beforeAll(async () => {
  temporal = await connectTemporal(env);
  scratch = await mkdtemp(join(tmpdir(), 'kiln-staging-'));
  release = await makeKey(scratch, 'release');
  catalogDir = join(scratch, 'catalog');
  await isolatedFixture('tiny', catalogDir, 'staging');
  const yaml = join(catalogDir, 'catalog.yaml');
  await writeFile(
    yaml,
    withSource(await readFile(yaml, 'utf8'), { branch: 'main', allowedSigners: [release.signerLine('kiln-release')] }),
  );
  await initRepo(catalogDir);
  await commitAll(catalogDir, 'the catalog, signed', release);
  worker = await temporal.worker(taskQueue, config());
  workerDone = worker.run();
  production = await rebuild(`staging-production-${Date.now()}`, {});
});

afterAll(async () => {
  worker?.shutdown();
  await workerDone;
  await temporal?.close();
});

describe('the configured catalog at a signed commit on main', () => {
  it('builds production, and the summary says so', () => {
    expect(production.ok).toBe(true);
    expect(production.target).toMatchObject({
      kind: 'production',
      packageRepository: productionRepo,
      registry: `${env.KILN_REGISTRY}/staging`,
    });
    expect(production.source).toMatchObject({ status: 'verified', production: true, signer: 'kiln-release' });
    const text = formatSummary(production);
    expect(text).toContain(`  target  production (packages ${productionRepo}`);
    expect(text).toMatch(/ {2}source {2}commit [0-9a-f]{40} signed by kiln-release \(SHA256:.+\) on main/);
  });
});

describe('a run that names another catalog directory (the Web UI input {"catalogDir": "/any/path"})', () => {
  let other: string;
  let adhoc: RebuildSummary;
  let before: Awaited<ReturnType<typeof published>>;

  beforeAll(async () => {
    before = await published();
    // Someone's own directory: the same repository and registry settings, no source:, a new tiny-lib.
    other = join(scratch, 'elsewhere');
    await cp(join(catalogDir), other, { recursive: true, filter: (f) => !f.split('/').includes('.git') });
    const yaml = join(other, 'catalog.yaml');
    await writeFile(yaml, (await readFile(yaml, 'utf8')).replace(/\nsource: .*\n/, '\n'));
    const lib = join(other, 'packages', 'tiny-lib.yaml');
    await writeFile(lib, (await readFile(lib, 'utf8')).replace(/version: 1\.0\.0/, 'version: 1.0.1'));
    adhoc = await rebuild(`staging-adhoc-${Date.now()}`, { catalogDir: other });
  });

  it('builds into a staging repository and registry namespace, named ad hoc', () => {
    expect(adhoc.ok).toBe(true);
    const name = `adhoc-${adhoc.catalogDigest.slice(0, 12)}`;
    expect(adhoc.target).toEqual({
      kind: 'staging',
      name,
      reason: `${other} is not the worker's configured catalog ${catalogDir}`,
      packageRepository: join(env.KILN_STATE, 'staging', 'repo-staging', name),
      registry: `${env.KILN_REGISTRY}/staging/staging/${name}`,
    });
    expect(formatSummary(adhoc)).toContain(`  target  staging ${name} (unreviewed: ${other} is not the worker's`);
    expect(existsSync(join(adhoc.target!.packageRepository, 'x86_64', 'tiny-lib-1.0.1-r0.apk'))).toBe(true);
    expect(adhoc.images.map((i) => [i.name, i.status])).toEqual([['tiny-app', 'published']]);
    expect(adhoc.images[0]!.reference).toContain(`/staging/staging/${name}/tiny-app@sha256:`);
  });

  it('installs its own build in the staging image', async () => {
    const name = adhoc.target!.name!;
    expect(await installedVersions(env, `staging/staging/${name}/tiny-app`, adhoc.images[0]!.digest!)).toContain(
      'tiny-lib 1.0.1-r0',
    );
  });

  it('leaves production byte for byte unchanged: package files, index, tags and manifests', async () => {
    expect(existsSync(join(productionRepo, 'x86_64', 'tiny-lib-1.0.1-r0.apk'))).toBe(false);
    expect(await published()).toEqual(before);
  });
});

describe('the configured catalog at a commit that is not on main', () => {
  it('snapshots as staging named after its branch: every activity reads the staging repository and registry', async () => {
    await gitIn(catalogDir, 'checkout', '-q', '-b', 'feature/Try_This');
    await writeFile(join(catalogDir, 'NOTES'), 'a reviewed-later change\n');
    const commit = await commitAll(catalogDir, 'signed, but not on main', release);
    try {
      const snapshot = (await new MockActivityEnvironment().run(snapshotCatalog, config(), {})) as CatalogSnapshot;
      expect(snapshot.source).toMatchObject({ status: 'verified', production: false, commit });
      const stagingRepo = join(env.KILN_STATE, 'staging', 'repo-staging', 'feature/try_this');
      expect(snapshot.target).toEqual({
        kind: 'staging',
        name: 'feature/try_this',
        reason: `commit ${commit} is not on main`,
        packageRepository: stagingRepo,
        registry: `${env.KILN_REGISTRY}/staging/staging/feature/try_this`,
      });
      expect(snapshot.registry).toBe(snapshot.target!.registry);
      const recorded = await readSnapshot(snapshot.dir);
      expect(recorded.settings.packageRepository).toBe(stagingRepo);
      expect(recorded.settings.registry).toBe(snapshot.target!.registry);
      // production is read (an extra input repository, for unchanged dependencies), never written
      expect(recorded.settings.repositories).toContain(productionRepo);
    } finally {
      await gitIn(catalogDir, 'checkout', '-q', 'main');
    }
  });
});
