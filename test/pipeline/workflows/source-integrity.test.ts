// Source integrity through catalogRebuild on real Temporal, tools and registry: a catalog whose
// catalog.yaml sets `source:` builds from a commit signed by an allowed signer (the provenance
// records the commit and the signer); an unsigned commit and one signed by a key outside the list
// are refused before anything is built or published. Keys and commits are made here.
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { catalogRebuild } from '../../../workflows/catalog-rebuild.js';
import type { RebuildSummary } from '../../../domain/summary.js';
import { hexOf } from '../../../domain/digest.js';
import { commitAll, initRepo, makeKey, withSource, type SigningKey } from '../../fixtures/signed-repo.js';
import {
  connectTemporal,
  isolatedFixture,
  kilnTestConfig,
  kilnTestEnv,
  registryGet,
  type TemporalHarness,
  rebuildSummary,
} from '../harness.js';

const env = kilnTestEnv();
const taskQueue = `source-integrity-${Date.now()}`;
let temporal: TemporalHarness;
let scratch: string;
let catalogDir: string;
let release: SigningKey;
let stranger: SigningKey;
let signed: string;
let first: RebuildSummary;

beforeAll(async () => {
  temporal = await connectTemporal(env);
  scratch = await mkdtemp(join(tmpdir(), 'kiln-source-pipeline-'));
  release = await makeKey(scratch, 'release');
  stranger = await makeKey(scratch, 'stranger');
  catalogDir = join(scratch, 'catalog');
  await isolatedFixture('tiny', catalogDir, 'source');
  const yaml = join(catalogDir, 'catalog.yaml');
  await writeFile(
    yaml,
    withSource(await readFile(yaml, 'utf8'), {
      branch: 'main',
      allowedSigners: [release.signerLine('kiln-release')],
    }),
  );
  await initRepo(catalogDir);
  signed = await commitAll(catalogDir, 'the catalog, signed', release);
  first = await rebuild(`source-signed-${Date.now()}`);
});
afterAll(async () => temporal?.close());

async function rebuild(workflowId: string): Promise<RebuildSummary> {
  const worker = await temporal.worker(taskQueue, kilnTestConfig(env, { KILN_CATALOG: catalogDir }));
  return rebuildSummary(
    await worker.runUntil(
      temporal.client.workflow.execute(catalogRebuild, { taskQueue, workflowId, args: [{ catalogDir }] }),
    ),
  );
}

/** What a refused run must leave alone: the package index, the builds and the image's tags. */
async function published() {
  const index = join(env.KILN_STATE, 'repo-source', 'x86_64', 'APKINDEX.tar.gz');
  const builds = join(env.KILN_STATE, 'builds', 'x86_64');
  return {
    index: existsSync(index) ? (await readFile(index)).toString('base64') : '',
    builds: existsSync(builds) ? (await readdir(builds)).sort() : [],
    tags: (await registryGet(env, 'source/tiny-app/tags/list')).body.toString(),
    latest: (await registryGet(env, 'source/tiny-app/manifests/latest')).headers.get('docker-content-digest'),
  };
}

async function refusedMessage(workflowId: string): Promise<string> {
  const err = await rebuild(workflowId).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(WorkflowFailedError);
  return (err as WorkflowFailedError).cause?.message ?? '';
}

describe('a catalog with source:', () => {
  it('builds and publishes a commit on main signed by an allowed signer', () => {
    expect(first.ok).toBe(true);
    expect(first.gitCommit).toBe(signed);
    expect(first.images.map((i) => i.status)).toEqual(['published']);
  });

  it("records the commit and its signer in the image's SLSA provenance", async () => {
    const digest = first.images[0]!.digest!;
    const file = join(env.KILN_STATE, 'images', 'predicates', `${hexOf(digest)}.slsa-provenance.json`);
    const provenance = JSON.parse(await readFile(file, 'utf8')) as {
      buildDefinition: { externalParameters: { catalog: { gitCommit?: string; source?: unknown } } };
    };
    const catalog = provenance.buildDefinition.externalParameters.catalog;
    expect(catalog.gitCommit).toBe(signed);
    expect(catalog.source).toEqual({
      verified: true,
      commit: signed,
      signer: 'kiln-release',
      signingKey: release.fingerprint,
      mainBranch: 'main',
      onMainBranch: true,
    });
  });

  it('refuses an unsigned commit, naming the commit, the branch and the fix, and publishes nothing', async () => {
    const before = await published();
    await writeFile(join(catalogDir, 'NOTES'), 'an unsigned change\n');
    const unsigned = await commitAll(catalogDir, 'unsigned');
    const message = await refusedMessage(`source-unsigned-${Date.now()}`);
    expect(message).toContain(`commit ${unsigned} (branch main) is on main, and it is not signed`);
    expect(message).toContain('fix: sign the commit with a key listed in catalog.yaml source.allowedSigners');
    expect(await published()).toEqual(before);
  });

  it('refuses a commit signed by a key that is not in the list', async () => {
    const before = await published();
    await writeFile(join(catalogDir, 'NOTES'), 'a change signed by a stranger\n');
    const foreign = await commitAll(catalogDir, 'signed by a stranger', stranger);
    const message = await refusedMessage(`source-stranger-${Date.now()}`);
    expect(message).toContain(
      `commit ${foreign} (branch main) is on main, and it is signed by a key that is not in catalog.yaml source.allowedSigners (${stranger.fingerprint})`,
    );
    expect(message).toContain('fix:');
    expect(await published()).toEqual(before);
  });
});
