// Where runs meet the registry, end to end on a real worker: a tag moves only after the pushed
// digest verified (a failed verification leaves every tag where it was); two runs started together
// attach each signature and attestation once and neither fails; and a run that started earlier
// never moves a tag back to its older image. Real Temporal, apko, bubblewrap and registry.
import { cp, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { assembleImage } from '../../../activities/image-assemble.js';
import { pushImage } from '../../../activities/image-publish.js';
import { snapshotCatalog } from '../../../activities/snapshot.js';
import { formatSummary, type RebuildSummary } from '../../../domain/summary.js';
import { putReferrer, updateReferrersTag } from '../../../oci/referrers.js';
import { RegistryClient, parseImageRef } from '../../../oci/registry.js';
import { PREDICATE_TYPES, SIGNATURE_PREDICATE } from '../../../signing/statements.js';
import { catalogRebuild } from '../../../workflows/catalog-rebuild.js';
import {
  imageBuild,
  type ImageBuildWorkflowInput,
  type ImageBuildWorkflowResult,
} from '../../../workflows/image-build.js';
import { kilnTestConfig, kilnTestEnv, registryGet, useTemporal, rebuildSummary } from '../harness.js';
import { FIXTURES } from '../../fixtures/paths.js';
import { activityRuns, image, referrersOf, tagged, workflowInput } from './image-registry.js';

const env = kilnTestEnv();
const config = kilnTestConfig(env);
const temporal = useTemporal(env);
const TASK_QUEUE = 'imgruns';
const activities = new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });
const run = <P extends unknown[], R>(fn: (...args: P) => Promise<R>, ...args: P): Promise<R> =>
  activities.run(fn, ...args) as Promise<R>;

async function copyFixture(name: string): Promise<string> {
  // Under the test state directory, which global teardown removes.
  const dir = await mkdtemp(join(env.KILN_STATE, `catalog-${name}-`));
  await cp(join(FIXTURES, name), dir, { recursive: true });
  return dir;
}

async function edit(catalogDir: string, file: string, from: string, to: string): Promise<void> {
  const path = join(catalogDir, file);
  const text = await readFile(path, 'utf8');
  expect(text, `${file} should contain ${from}`).toContain(from);
  await writeFile(path, text.replace(from, to));
}

/** The worker's configuration for production runs of `catalogDir` (its configured catalog). */
const productionOf = (catalogDir: string) => kilnTestConfig(env, { KILN_CATALOG: catalogDir });

/**
 * Production runs of `catalogDir`, one per workflow id, all started (in this order) before the
 * worker polls, so that they run side by side on one worker.
 */
async function rebuildTogether(catalogDir: string, workflowIds: string[]): Promise<RebuildSummary[]> {
  const handles = [];
  for (const workflowId of workflowIds)
    handles.push(
      await temporal().client.workflow.start(catalogRebuild, { taskQueue: TASK_QUEUE, workflowId, args: [{}] }),
    );
  const worker = await temporal().worker(TASK_QUEUE, productionOf(catalogDir));
  return Promise.all(
    (await worker.runUntil(Promise.all(handles.map((h) => h.result())))).map((r) => rebuildSummary(r)),
  );
}

/** The predicate types attached to a digest, sorted (one entry per referrer). */
async function attachedTypes(repository: string, digest: string): Promise<string[]> {
  return (await referrersOf(env, repository, digest)).map((r) => r.predicateType).sort();
}

/**
 * What someone with push access could do: copy the signature kiln made for `from` onto `onto`, as a
 * referrer of `onto` (the signed statement inside still names `from`). Returns the copy's digest.
 */
async function copySignature(repository: string, from: string, onto: string): Promise<string> {
  const client = new RegistryClient(parseImageRef(`${env.KILN_REGISTRY}/${repository}`), config.registryAuth);
  const signature = (await referrersOf(env, repository, from)).find((r) => r.predicateType === SIGNATURE_PREDICATE);
  expect(signature, `${from} has a signature`).toBeDefined();
  const doc = JSON.parse((await client.getManifest(signature!.digest))!.body.toString()) as {
    mediaType: string;
    artifactType: string;
    annotations: Record<string, string>;
    subject: unknown;
  };
  const target = (await client.getManifest(onto))!;
  doc.subject = { mediaType: target.mediaType, digest: onto, size: target.body.length };
  const body = Buffer.from(JSON.stringify(doc));
  const put = await putReferrer(client, doc.mediaType, body);
  if (!put.indexed) {
    const { mediaType, artifactType, annotations } = doc;
    await updateReferrersTag(client, onto, {
      add: [{ mediaType, digest: put.digest, size: body.length, artifactType, annotations }],
    });
  }
  return put.digest;
}

describe('a pushed digest whose verification fails', () => {
  const stamp = Date.now();
  const repository = 'imgruns/imgruns-verify';
  const secondId = `imgruns-verify-2-${stamp}`;
  let first: RebuildSummary;
  let second: RebuildSummary;
  let published: string;
  let next: string;

  beforeAll(async () => {
    const catalogDir = await copyFixture('imgruns-verify');
    first = (await rebuildTogether(catalogDir, [`imgruns-verify-1-${stamp}`]))[0]!;
    published = image(first, 'imgruns-verify').digest!;

    // The next release is a new digest. It is in the registry by digest (as a run leaves it before
    // signing), and carries a signature kiln's key made for the published image, copied onto it.
    await edit(catalogDir, 'images/imgruns-verify/apko.yaml', 'VERIFY_RELEASE: "1"', 'VERIFY_RELEASE: "2"');
    const production = productionOf(catalogDir);
    const snapshot = await run(snapshotCatalog, production, {});
    const built = await run(assembleImage, production, { snapshotDir: snapshot.dir, name: 'imgruns-verify' });
    next = built.digest;
    expect(next).not.toBe(published);
    await run(pushImage, config, {
      repository: `${env.KILN_REGISTRY}/${repository}`,
      layoutDir: built.layoutDir,
      digest: next,
    });
    await copySignature(repository, published, next);

    second = (await rebuildTogether(catalogDir, [secondId]))[0]!;
  });

  it('publishes the first release', () => {
    expect(first.ok, formatSummary(first)).toBe(true);
  });

  it('fails the image, naming the statement that is about another image', () => {
    const failed = image(second, 'imgruns-verify');
    expect(second.ok).toBe(false);
    expect(failed.status).toBe('failed');
    expect(failed.error).toContain(`${env.KILN_REGISTRY}/${repository}@${next} does not verify`);
    expect(failed.error).toContain(`is about ${published}, not ${next}`);
  });

  it('leaves every tag on the image published before', async () => {
    expect(await tagged(env, repository, 'latest')).toBe(published);
    expect(await tagged(env, repository, '1')).toBe(published);
  });

  it('verifies before any tag moves: verification failed for good and tagImage never ran', async () => {
    const runs = await activityRuns(temporal().client, `${secondId}/image/imgruns-verify`);
    const types = runs.map((r) => r.type);
    expect(types).toContain('attestImage');
    expect(types).not.toContain('tagImage');
    expect(runs.filter((r) => r.type === 'verifyImage').map((r) => [r.attempt, r.retryState])).toEqual([
      [1, 'NON_RETRYABLE_FAILURE'],
    ]);
  });
});

describe('two runs started together on the same catalog', () => {
  const stamp = Date.now();
  const names = ['imgruns-race-a', 'imgruns-race-b'];
  const ids = [`imgruns-race-1-${stamp}`, `imgruns-race-2-${stamp}`];
  let catalogDir: string;
  let together: RebuildSummary[];

  beforeAll(async () => {
    catalogDir = await copyFixture('imgruns-race');
    together = await rebuildTogether(catalogDir, ids);
  });

  it('neither run fails, and both report the same images', () => {
    for (const s of together) expect(s.ok, formatSummary(s)).toBe(true);
    const [a, b] = together as [RebuildSummary, RebuildSummary];
    for (const name of names) expect(image(a, name).digest).toBe(image(b, name).digest);
  });

  it('publishes one run at a time per repository: the second finds the first one’s work and adds nothing', async () => {
    for (const name of names) {
      expect(together.map((s) => image(s, name).status).sort(), name).toEqual(['published', 'unchanged']);
      // From push to tag, the two runs' stages never overlap.
      const windows = [];
      for (const id of ids) {
        const runs = await activityRuns(temporal().client, `${id}/image/${name}`);
        const push = runs.find((r) => r.type === 'pushImage')!;
        const tag = runs.find((r) => r.type === 'tagImage')!;
        windows.push([push.scheduledAt!, tag.closedAt!] as const);
      }
      const [first, second] = windows.sort((x, y) => x[0] - y[0]) as [
        readonly [number, number],
        readonly [number, number],
      ];
      expect(first[1], name).toBeLessThanOrEqual(second[0]);
    }
  });

  it('attaches each signature and attestation once', async () => {
    for (const name of names) {
      const { digest } = image(together[0]!, name);
      expect(await attachedTypes(`imgruns/${name}`, digest!), name).toEqual(
        [SIGNATURE_PREDICATE, PREDICATE_TYPES.spdxjson, PREDICATE_TYPES.vuln, PREDICATE_TYPES.slsaprovenance1].sort(),
      );
      const index = JSON.parse((await registryGet(env, `imgruns/${name}/manifests/${digest}`)).body.toString()) as {
        manifests: { digest: string }[];
      };
      for (const m of index.manifests)
        expect(await attachedTypes(`imgruns/${name}`, m.digest)).toEqual([PREDICATE_TYPES.spdxjson]);
    }
  });

  it('leaves each tag at the image both built', async () => {
    for (const name of names)
      expect(await tagged(env, `imgruns/${name}`, 'latest')).toBe(image(together[0]!, name).digest);
  });

  describe('then a newer catalog is published, and a run that started earlier finishes', () => {
    let newer: RebuildSummary;
    let taggedAfterNewer: string | undefined;
    let late: ImageBuildWorkflowResult;

    beforeAll(async () => {
      await edit(catalogDir, 'images/imgruns-race-a/apko.yaml', 'RACE_RELEASE: "1"', 'RACE_RELEASE: "2"');
      newer = (await rebuildTogether(catalogDir, [`imgruns-race-3-${stamp}`]))[0]!;
      taggedAfterNewer = await tagged(env, 'imgruns/imgruns-race-a', 'latest');
      // The first run's image build, as it would finish if it had been held up until now.
      const held = await workflowInput<ImageBuildWorkflowInput>(temporal().client, `${ids[0]}/image/imgruns-race-a`);
      const worker = await temporal().worker(TASK_QUEUE, productionOf(catalogDir));
      late = await worker.runUntil(
        temporal().client.workflow.execute(imageBuild, {
          taskQueue: TASK_QUEUE,
          workflowId: `${ids[0]}-late/image/imgruns-race-a`,
          args: [held],
        }),
      );
    });

    it('the newer catalog moves the tag', async () => {
      expect(newer.ok, formatSummary(newer)).toBe(true);
      const a = image(newer, 'imgruns-race-a');
      expect(a.status).toBe('published');
      expect(a.digest).not.toBe(image(together[0]!, 'imgruns-race-a').digest);
      expect(taggedAfterNewer).toBe(a.digest);
    });

    it('the earlier run succeeds but leaves the tag on the newer catalog’s image', async () => {
      const newest = image(newer, 'imgruns-race-a').digest!;
      expect(late.digest).toBe(image(together[0]!, 'imgruns-race-a').digest);
      expect(late.tagsKept).toEqual([{ tag: 'latest', digest: newest }]);
      expect(await tagged(env, 'imgruns/imgruns-race-a', 'latest')).toBe(newest);
    });
  });
});
