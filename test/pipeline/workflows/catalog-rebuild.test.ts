// The walking skeleton, end to end on real parts: Temporal dev server, melange in bubblewrap,
// apko, the signed local repository and a real registry, driven by catalogRebuild.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { apkoBuild } from '../../../adapters/apko.js';
import { execa } from 'execa';
import { resolveTool } from '../../../adapters/toolchain.js';
import { configWith } from '../../../config/config.js';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { Worker } from '@temporalio/worker';
import { WorkflowFailedError } from '@temporalio/client';
import { catalogRebuild } from '../../../workflows/catalog-rebuild.js';
import type { RebuildSummary } from '../../../domain/summary.js';
import {
  installedPackages,
  kilnTestConfig,
  registryGet,
  sha256,
  kilnTestEnv,
  useTemporal,
  rebuildSummary,
} from '../harness.js';
import { FIXTURES } from '../../fixtures/paths.js';

const env = kilnTestEnv();
// The worker's configuration, for the tools this file runs itself.
const config = configWith({ ...env });
const temporal = useTemporal(env);

async function rebuild(taskQueue: string, workflowId: string, input: object): Promise<RebuildSummary> {
  const { catalogDir } = input as { catalogDir?: string };
  const worker = await temporal().worker(taskQueue, kilnTestConfig(env, { KILN_CATALOG: catalogDir }));
  return rebuildSummary(
    await worker.runUntil(temporal().client.workflow.execute(catalogRebuild, { taskQueue, workflowId, args: [input] })),
  );
}

describe('catalogRebuild of the tiny fixture catalog', () => {
  const catalogDir = join(FIXTURES, 'tiny');
  let first: RebuildSummary;
  const firstId = `e2e-first-${Date.now()}`;

  beforeAll(async () => {
    first = await rebuild('e2e', firstId, { catalogDir });
  });

  it('builds every package and publishes every image', () => {
    expect(first.ok, JSON.stringify(first, null, 2)).toBe(true);
    expect(first.packages.map((p) => p.status)).toEqual(first.packages.map(() => 'built'));
    expect(first.images.map((i) => i.status)).toEqual(first.images.map(() => 'published'));
    expect(first.packages.length).toBeGreaterThanOrEqual(2);
    expect(first.images.length).toBeGreaterThanOrEqual(1);
  });

  it('reports per package: tests run, signature, SBOM and ABI verdict', () => {
    for (const p of first.packages) {
      expect(p, p.name).toMatchObject({
        tested: true,
        signedBy: 'kiln.rsa.pub',
        sbom: true,
        abi: { verdict: 'first-build' },
      });
    }
  });

  it('publishes signed APKs and a signed index in the repository', async () => {
    const repo = join(env.KILN_STATE, 'repo', 'x86_64');
    const files = await readdir(repo);
    expect(files).toContain('APKINDEX.tar.gz');
    for (const p of first.packages) {
      for (const apk of p.apks!.x86_64!) expect(files).toContain(apk.file);
    }
  });

  it('leaves each image in the registry under its tag, at the digest the summary reports', async () => {
    for (const image of first.images) {
      const tagged = await registryGet(env, `kiln/${image.name}/manifests/${image.tags[0]}`);
      expect(tagged.status).toBe(200);
      expect(sha256(tagged.body)).toBe(image.digest);
      expect(image.reference).toBe(`${env.KILN_REGISTRY}/kiln/${image.name}@${image.digest}`);
    }
  });

  it('installs the catalog packages inside the image', async () => {
    const image = first.images.find((i) => i.name === 'tiny-app')!;
    const index = JSON.parse(
      (await registryGet(env, `kiln/${image.name}/manifests/${image.digest}`)).body.toString(),
    ) as {
      manifests: { digest: string; platform: { architecture: string } }[];
    };
    const amd64 = index.manifests.find((m) => m.platform.architecture === 'amd64')!;
    const installed = await installedPackages(env, `kiln/${image.name}`, amd64.digest);
    expect(installed).toEqual(expect.arrayContaining(['busybox', 'tiny-app', 'tiny-lib']));
  });

  it('rebuilds nothing on a second run and says so', async () => {
    const second = await rebuild('e2e', `e2e-second-${Date.now()}`, { catalogDir });
    expect(second.ok).toBe(true);
    expect(second.packages.map((p) => p.status)).toEqual(second.packages.map(() => 'up-to-date'));
    expect(second.images.map((i) => i.status)).toEqual(second.images.map(() => 'unchanged'));
    expect(second.images.map((i) => i.digest)).toEqual(first.images.map((i) => i.digest));
  });

  it('signs and attests each image so that real cosign verifies it offline', async () => {
    const cosign = resolveTool('cosign', config.tools);
    const key = join(env.KILN_STATE, 'keys', 'image-signing.pub');
    for (const image of first.images) {
      await execa(cosign, ['verify', '--key', key, '--insecure-ignore-tlog', image.reference!]);
      // The fixture has no vulnerability feed: nothing is scanned, so no vuln attestation exists.
      for (const type of ['spdxjson', 'slsaprovenance1']) {
        await execa(cosign, [
          'verify-attestation',
          '--key',
          key,
          '--insecure-ignore-tlog',
          '--type',
          type,
          image.reference!,
        ]);
      }
    }
  });

  it('keeps every key out of the workflow histories', async () => {
    const histories = [];
    for await (const h of temporal()
      .client.workflow.list({ query: `WorkflowId STARTS_WITH "${firstId}"` })
      .intoHistories())
      histories.push(h);
    const text = JSON.stringify(histories);
    expect(text.length).toBeGreaterThan(1000);
    expect(text).not.toMatch(/-----BEGIN [A-Z ]*PRIVATE KEY-----/);
    for (const file of ['kiln.rsa', 'image-signing.key']) {
      const pem = await readFile(join(env.KILN_STATE, 'keys', file), 'utf8');
      // any line of the key's base64 body, raw or as it would look inside a payload
      for (const line of pem.split('\n').filter((l) => l.length >= 40 && !l.startsWith('-----'))) {
        expect(text).not.toContain(line);
        expect(text).not.toContain(Buffer.from(line).toString('base64').slice(0, 40));
      }
    }
  });

  it('serves the repository over HTTP, and apko builds an image from that URL', async () => {
    const work = await mkdtemp(join(tmpdir(), 'kiln-http-repo-'));
    await writeFile(
      join(work, 'apko.yaml'),
      'contents:\n  packages: [tiny-app]\nentrypoint:\n  command: /usr/bin/tiny-app\narchs: [x86_64]\n',
    );
    await mkdir(join(work, 'layout'));
    await apkoBuild(config.tools, {
      config: join(work, 'apko.yaml'),
      tag: 'kiln.test/http-repo:1',
      layoutDir: join(work, 'layout'),
      sbomDir: work,
      arch: 'x86_64',
      repositories: [env.KILN_REPOSITORY_URL, join(env.KILN_STATE, 'bootstrap')],
      keyring: [join(env.KILN_STATE, 'keys', 'kiln.rsa.pub')],
      cacheDir: join(work, 'cache'),
      logFile: join(work, 'apko.log'),
    });
    const log = await readFile(join(work, 'apko.log'), 'utf8');
    expect(log).toMatch(/installing tiny-app \(0\.1\.0-r0\)/);
    expect(log).toContain(env.KILN_REPOSITORY_URL);
    const sbom = JSON.parse(await readFile(join(work, 'sbom-x86_64.spdx.json'), 'utf8')) as {
      packages: { name: string }[];
    };
    expect(sbom.packages.map((p) => p.name)).toEqual(expect.arrayContaining(['tiny-app', 'tiny-lib']));
  });

  it('replays its workflow histories deterministically', async () => {
    const histories = temporal()
      .client.workflow.list({ query: `WorkflowId STARTS_WITH "${firstId}"` })
      .intoHistories();
    const results = Worker.runReplayHistories({ workflowBundle: temporal().bundle }, histories);
    let replayed = 0;
    for await (const r of results) {
      expect(r.error, `${r.workflowId}: ${String(r.error)}`).toBeUndefined();
      replayed++;
    }
    // the parent plus one child per package and per image
    expect(replayed).toBe(1 + first.packages.length + first.images.length);
  });
});

describe('catalogRebuild of an invalid catalog', () => {
  it('fails before building anything, naming file, field and fix', async () => {
    const builds = join(env.KILN_STATE, 'builds', 'x86_64');
    const index = join(env.KILN_STATE, 'repo', 'x86_64', 'APKINDEX.tar.gz');
    const state = async () => ({
      builds: existsSync(builds) ? (await readdir(builds)).sort() : [],
      index: existsSync(index) ? (await stat(index)).mtimeMs : 0,
      images: (await registryGet(env, '_catalog')).body.toString(),
    });
    const before = await state();
    const catalogDir = join(FIXTURES, 'bad', 'missing-build-dep');
    const err = await rebuild('e2e', `e2e-bad-${Date.now()}`, { catalogDir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const message = (err as WorkflowFailedError).cause?.message ?? '';
    expect(message).toMatch(
      /packages\/tiny-app\.yaml: environment\.contents\.packages\[2\]: "libmissing" is provided by no catalog package/,
    );
    expect(message).toMatch(/\(fix: /);
    expect(await state()).toEqual(before);
  });

  it('rejects an input field it does not know, naming it', async () => {
    const err = await rebuild('e2e', `e2e-input-${Date.now()}`, { catalogdir: 'x' }).catch((e: unknown) => e);
    expect((err as WorkflowFailedError).cause?.message).toMatch(/catalogdir: unknown field/);
  });
});
