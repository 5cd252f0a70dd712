// pushImage and tagImage against the real registry. A push streams each blob from the checked
// layout, heartbeating. tagImage: a tag never moves away from an image whose provenance (signed
// by kiln) records a newer catalog than the run moving it, so a run that started earlier and
// finishes later cannot move `latest` back to an older catalog's image.
import { generateKeyPairSync } from 'node:crypto';
import { cp, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { assembleImage, type AssembledImage } from '../../../activities/image-assemble.js';
import { writeProvenance } from '../../../activities/image-provenance.js';
import { pushImage, tagImage } from '../../../activities/image-publish.js';
import { attestImage } from '../../../activities/image-sign.js';
import { snapshotCatalog, type CatalogSnapshot } from '../../../activities/snapshot.js';
import type { KilnConfig } from '../../../config/config.js';
import { kilnTestConfig, kilnTestEnv, registryGet, sha256 } from '../harness.js';
import { FIXTURES } from '../../fixtures/paths.js';

const env = kilnTestEnv();
const config = kilnTestConfig(env);
const activities = new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });
const run = <P extends unknown[], R>(fn: (...args: P) => Promise<R>, ...args: P): Promise<R> =>
  activities.run(fn, ...args) as Promise<R>;

const T1 = '2026-03-01T00:00:00.000Z';
const T2 = '2026-03-02T00:00:00.000Z';
const T3 = '2026-03-03T00:00:00.000Z';

let snapshot: CatalogSnapshot;
let older: AssembledImage;
let newer: AssembledImage;

beforeAll(async () => {
  snapshot = await run(snapshotCatalog, { ...config, catalogDir: join(FIXTURES, 'imgchk-pass') }, {});
  older = await run(assembleImage, config, { snapshotDir: snapshot.dir, name: 'base' });
  newer = await run(assembleImage, config, { snapshotDir: snapshot.dir, name: 'echo' });
});

/** Pushes an image and attests its provenance, recording `catalogTime`, signed per `signer`. */
async function publishByDigest(
  repository: string,
  img: AssembledImage,
  name: string,
  catalogTime: string,
  signer: KilnConfig = config,
): Promise<void> {
  await run(pushImage, config, { repository, layoutDir: img.layoutDir, digest: img.digest });
  const { predicateFile } = await run(writeProvenance, config, {
    snapshotDir: snapshot.dir,
    name,
    digest: img.digest,
    workflowId: `tag-order-${name}`,
    runId: catalogTime,
    startedOn: catalogTime,
    finishedOn: catalogTime,
    catalogTime,
    layoutDir: img.layoutDir,
  });
  await run(attestImage, signer, {
    repository,
    digest: img.digest,
    predicateType: 'slsaprovenance1',
    predicateFile,
    snapshotDir: snapshot.dir,
  });
}

async function tagged(repository: string, tag: string): Promise<string> {
  const res = await registryGet(env, `${repository.slice(env.KILN_REGISTRY.length + 1)}/manifests/${tag}`);
  expect(res.status).toBe(200);
  return sha256(res.body);
}

describe('tagImage', () => {
  it('records the catalog time in the provenance it reads', async () => {
    const { predicateFile } = await run(writeProvenance, config, {
      snapshotDir: snapshot.dir,
      name: 'echo',
      digest: newer.digest,
      workflowId: 'w',
      runId: 'r',
      startedOn: T2,
      finishedOn: T2,
      catalogTime: T2,
      layoutDir: newer.layoutDir,
    });
    const p = JSON.parse(await readFile(predicateFile, 'utf8'));
    expect(p.buildDefinition.externalParameters.catalog.takenAt).toBe(T2);
  });

  it('leaves a tag on an image built from a newer catalog, and moves it for a newer run', async () => {
    const repository = `${env.KILN_REGISTRY}/imgchk/tag-order-${Date.now()}`;
    await publishByDigest(repository, older, 'base', T1);
    await publishByDigest(repository, newer, 'echo', T2);
    const tags = ['latest', '1'];
    // The newer run (T2) tags first.
    expect(await run(tagImage, config, { repository, digest: newer.digest, tags, catalogTime: T2 })).toEqual({
      moved: tags,
      unchanged: [],
    });

    // The run that started earlier (T1) finishes later: the tags stay on the newer catalog's image.
    const late = await run(tagImage, config, { repository, digest: older.digest, tags, catalogTime: T1 });
    expect(late).toEqual({
      moved: [],
      unchanged: [],
      kept: tags.map((tag) => ({ tag, digest: newer.digest, catalogTime: T2 })),
    });
    for (const tag of tags) expect(await tagged(repository, tag)).toBe(newer.digest);

    // A run from a newer catalog still (T3) moves them, even to an image built before.
    const next = await run(tagImage, config, { repository, digest: older.digest, tags, catalogTime: T3 });
    expect(next).toEqual({ moved: tags, unchanged: [] });
    for (const tag of tags) expect(await tagged(repository, tag)).toBe(older.digest);
  });

  it('ignores provenance signed by any other key: a foreign attestation cannot pin a tag', async () => {
    const repository = `${env.KILN_REGISTRY}/imgchk/tag-foreign-${Date.now()}`;
    const dir = await mkdtemp(join(env.KILN_STATE, 'foreign-key-'));
    const foreignKey = join(dir, 'foreign.key');
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    await writeFile(foreignKey, privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const foreign = kilnTestConfig(env, { KILN_IMAGE_SIGNING_KEY: foreignKey });

    await publishByDigest(repository, older, 'base', T1);
    // Someone else's "provenance" claiming a catalog from far in the future.
    await publishByDigest(repository, newer, 'echo', '2099-01-01T00:00:00.000Z', foreign);
    await run(tagImage, config, { repository, digest: newer.digest, tags: ['latest'] });
    expect(
      await run(tagImage, config, { repository, digest: older.digest, tags: ['latest'], catalogTime: T1 }),
    ).toEqual({ moved: ['latest'], unchanged: [] });
    expect(await tagged(repository, 'latest')).toBe(older.digest);
  });
});

describe('pushImage', () => {
  it('streams every blob from the checked layout, heartbeating as it goes, and the registry serves the same bytes', async () => {
    const repository = `${env.KILN_REGISTRY}/push-stream/echo`;
    const beats: unknown[] = [];
    const watched = new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });
    watched.on('heartbeat', (d: unknown) => beats.push(d));
    await watched.run(pushImage, config, { repository, layoutDir: newer.layoutDir, digest: newer.digest });
    const index = JSON.parse(await readFile(join(newer.layoutDir, 'index.json'), 'utf8')) as {
      manifests: { digest: string }[];
    };
    const manifest = JSON.parse(
      (await readFile(join(newer.layoutDir, 'blobs', 'sha256', index.manifests[0]!.digest.slice(7)))).toString(),
    ) as { layers: { digest: string }[] };
    const layer = manifest.layers[0]!.digest;
    const served = await registryGet(env, `push-stream/echo/blobs/${layer}`);
    expect(served.status).toBe(200);
    expect(sha256(served.body)).toBe(layer);
    expect(beats).toContainEqual({ uploading: layer });
    expect(await tagged(repository, newer.digest)).toBe(newer.digest);
  });

  it('refuses a layout whose layer does not match its digest, before uploading it', async () => {
    const copy = await mkdtemp(join(env.KILN_STATE, 'damaged-layout-'));
    await cp(older.layoutDir, copy, { recursive: true });
    const index = JSON.parse(await readFile(join(copy, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    const manifest = JSON.parse(
      (await readFile(join(copy, 'blobs', 'sha256', index.manifests[0]!.digest.slice(7)))).toString(),
    ) as { layers: { digest: string }[] };
    const layer = manifest.layers[0]!.digest;
    const file = join(copy, 'blobs', 'sha256', layer.slice(7));
    const bytes = await readFile(file);
    bytes.writeUInt8(bytes.readUInt8(bytes.length - 1) ^ 0xff, bytes.length - 1);
    await writeFile(file, bytes);
    const repository = `${env.KILN_REGISTRY}/push-damaged/base`;
    await expect(run(pushImage, config, { repository, layoutDir: copy, digest: older.digest })).rejects.toMatchObject({
      type: 'CorruptArtifact',
      nonRetryable: true,
    });
    expect((await registryGet(env, `push-damaged/base/blobs/${layer}`)).status).toBe(404);
  });
});
