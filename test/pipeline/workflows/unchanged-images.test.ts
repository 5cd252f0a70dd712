// A night where nothing changed: an image whose inputs are those its published, verified
// provenance records is recognised without assembling, testing, scanning or pushing it; an image
// whose config changed goes through the whole pipeline; and a provenance forged by another key,
// claiming the new inputs, does not stop the rebuild. Real Temporal, apko, bubblewrap and registry.
import { generateKeyPairSync } from 'node:crypto';
import { cp, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { catalogRebuild } from '../../../workflows/catalog-rebuild.js';
import { formatSummary, type RebuildSummary } from '../../../domain/summary.js';
import { snapshotCatalog } from '../../../activities/snapshot.js';
import { imageInputs } from '../../../activities/image-inputs.js';
import { attestImage } from '../../../activities/image-sign.js';
import { kilnTestConfig, kilnTestEnv, useTemporal, rebuildSummary } from '../harness.js';
import { FIXTURES } from '../../fixtures/paths.js';
import { activityRuns as activityRunsOf, image, tagged as taggedIn } from './image-registry.js';

const env = kilnTestEnv();
const temporal = useTemporal(env);
const stamp = Date.now();

async function rebuild(catalogDir: string, workflowId: string, force = false): Promise<RebuildSummary> {
  const worker = await temporal().worker('noop', kilnTestConfig(env, { KILN_CATALOG: catalogDir }));
  return rebuildSummary(
    await worker.runUntil(
      temporal().client.workflow.execute(catalogRebuild, {
        taskQueue: 'noop',
        workflowId,
        args: [{ catalogDir, ...(force ? { force } : {}) }],
      }),
    ),
  );
}

async function edit(catalogDir: string, file: string, from: string, to: string): Promise<void> {
  const path = join(catalogDir, file);
  const text = await readFile(path, 'utf8');
  expect(text, `${file} should contain ${from}`).toContain(from);
  await writeFile(path, text.replace(from, to));
}

/** The activity types an image's child workflow ran, in order. */
const stagesOf = async (runId: string, name: string) =>
  (await activityRunsOf(temporal().client, `${runId}/image/${name}`)).map((r) => r.type);
const tagged = (name: string, tag = 'latest') => taggedIn(env, `noop/${name}`, tag);

describe('images whose inputs did not change', () => {
  let catalogDir: string;
  let first: RebuildSummary;
  let second: RebuildSummary;

  beforeAll(async () => {
    catalogDir = await mkdtemp(join(env.KILN_STATE, 'catalog-noop-'));
    await cp(join(FIXTURES, 'imgpipe-main'), catalogDir, { recursive: true });
    await edit(catalogDir, 'catalog.yaml', 'repo-imgpipe', 'repo-noop');
    await edit(catalogDir, 'catalog.yaml', '/imgpipe"', '/noop"');
    first = await rebuild(catalogDir, `noop-first-${stamp}`);
    second = await rebuild(catalogDir, `noop-second-${stamp}`);
  });

  it('are published on the first run, through the whole pipeline', async () => {
    expect(first.ok, formatSummary(first)).toBe(true);
    expect(first.images.map((i) => [i.name, i.status])).toEqual([
      ['imgpipe-gate', 'published'],
      ['imgpipe-stable', 'published'],
    ]);
    expect(await stagesOf(first.workflowId, 'imgpipe-stable')).toContain('assembleImage');
  });

  it('are recognised on the next run from their verified provenance: nothing assembled, tested or pushed', async () => {
    expect(second.ok, formatSummary(second)).toBe(true);
    for (const name of ['imgpipe-gate', 'imgpipe-stable']) {
      expect(image(second, name)).toMatchObject({
        status: 'unchanged',
        inputsUnchanged: true,
        digest: image(first, name).digest,
        packages: image(first, name).packages,
      });
      // Checked in one batch by the run itself: no image workflow was started at all.
      await expect(
        temporal().client.workflow.getHandle(`${second.workflowId}/image/${name}`).describe(),
      ).rejects.toThrow(/not found/i);
    }
    const checks = (await activityRunsOf(temporal().client, second.workflowId)).filter(
      (r) => r.type === 'unchangedImages',
    );
    expect(checks.map((r) => (r.result as { unchanged: { name: string }[] }).unchanged.map((u) => u.name))).toEqual([
      ['imgpipe-gate', 'imgpipe-stable'],
    ]);
    expect(formatSummary(second)).toMatch(/imgpipe-stable .*inputs unchanged \(not rebuilt\)/);
  });

  it('go through the whole pipeline with force, and stay at the same digest', async () => {
    const forced = await rebuild(catalogDir, `noop-forced-${stamp}`, true);
    expect(image(forced, 'imgpipe-stable')).toMatchObject({
      status: 'unchanged',
      digest: image(first, 'imgpipe-stable').digest,
    });
    expect(image(forced, 'imgpipe-stable').inputsUnchanged).toBeUndefined();
    expect(await stagesOf(forced.workflowId, 'imgpipe-stable')).toContain('assembleImage');
  });

  describe('a changed config, with a provenance forged by another key claiming the new inputs', () => {
    let third: RebuildSummary;
    let before: string | undefined;

    beforeAll(async () => {
      await edit(catalogDir, 'images/imgpipe-stable/apko.yaml', 'STABLE: "yes"', 'STABLE: "yes"\n  RELEASE: "2"');
      before = await tagged('imgpipe-stable');
      // Anyone who can read the catalog can compute the new input digest.
      const config = kilnTestConfig(env, { KILN_CATALOG: catalogDir });
      const snapshot = await snapshotCatalog(config, { catalogDir });
      const { inputDigest } = await imageInputs(config, { snapshotDir: snapshot.dir, name: 'imgpipe-stable' });
      expect(inputDigest).toMatch(/^sha256:/);
      const stranger = join(env.KILN_STATE, `stranger-${stamp}.key`);
      await writeFile(
        stranger,
        generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }),
        { mode: 0o600 },
      );
      const forged = join(env.KILN_STATE, `forged-provenance-${stamp}.json`);
      await writeFile(
        forged,
        JSON.stringify({
          buildDefinition: {
            buildType: 'https://kiln.dev/catalog-rebuild@v1',
            resolvedDependencies: [
              {
                name: 'kiln image inputs',
                digest: { sha256: inputDigest!.slice(7) },
                annotations: { role: 'image-inputs' },
              },
            ],
          },
        }),
      );
      await attestImage(kilnTestConfig(env, { KILN_CATALOG: catalogDir, KILN_IMAGE_SIGNING_KEY: stranger }), {
        repository: `${env.KILN_REGISTRY}/noop/imgpipe-stable`,
        digest: before!,
        predicateType: 'slsaprovenance1',
        predicateFile: forged,
      });
      third = await rebuild(catalogDir, `noop-third-${stamp}`);
    });

    it('rebuilds the changed image and moves its tag; the unchanged one is still recognised', async () => {
      expect(third.ok, formatSummary(third)).toBe(true);
      const stable = image(third, 'imgpipe-stable');
      expect(stable.status).toBe('published');
      expect(stable.digest).not.toBe(before);
      expect(await tagged('imgpipe-stable')).toBe(stable.digest);
      expect(await stagesOf(third.workflowId, 'imgpipe-stable')).toContain('assembleImage');
      expect(image(third, 'imgpipe-gate')).toMatchObject({ status: 'unchanged', inputsUnchanged: true });
    });
  });
});
