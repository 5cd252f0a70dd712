// Upstream releases on real git and a loopback GitHub-shaped API: a new tag becomes a commit on a
// branch and a real rebuild of the package, its reverse dependencies and their images, into a
// staging package repository and registry namespace named after the branch: production (built
// first from the worker's configured catalog) stays byte for byte as it was.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KilnWorker } from '../../../workers/worker.js';
import type { RebuildSummary } from '../../../domain/summary.js';
import { proposeUpdate } from '../../../activities/upstream.js';
import { configWith, type KilnConfig } from '../../../config/config.js';
import { upstreamWatch, type UpstreamWatchResult } from '../../../workflows/upstream-watch.js';
import { catalogRebuild } from '../../../workflows/catalog-rebuild.js';
import {
  connectTemporal,
  isolatedFixture,
  kilnTestConfig,
  kilnTestEnv,
  registryGet,
  type TemporalHarness,
  rebuildSummary,
} from '../harness.js';
import { installedVersions, productionRegistry, repositoryFiles } from './published-state.js';

const env = kilnTestEnv();
// The worker's configuration, for the activity this file calls directly.
const config: KilnConfig = configWith({ ...env });
let temporal: TemporalHarness;
/** A finished run's summary, read from the store its result names. */
const summaryOf = async (id: string) => rebuildSummary(await temporal.client.workflow.getHandle(id).result());
let worker: KilnWorker;
let workerDone: Promise<void>;
let root: string;
let upstream: string;
let catalogDir: string;
let api: Server;
const releases: Record<string, unknown> = {};
let apiUrl: string;
const taskQueue = `upstream-${Date.now()}`;

const sh = (cwd: string, ...args: string[]) =>
  execa('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { cwd });

async function tag(version: string): Promise<void> {
  await writeFile(join(upstream, 'VERSION'), version);
  await sh(upstream, 'add', '.');
  await sh(upstream, 'commit', '-m', version);
  await sh(upstream, 'tag', '-a', `v${version}`, '-m', version);
}

function pkgYaml(name: string, version: string, update: string, deps = ''): string {
  return [
    'package:',
    `  name: ${name}`,
    `  version: ${version}`,
    '  epoch: 0',
    `  description: watched upstream ${name}`,
    '  copyright:',
    '    - license: Apache-2.0',
    'environment:',
    '  contents:',
    `    packages: [busybox${deps}]`,
    'pipeline:',
    '  - runs: |',
    `      mkdir -p "\${{targets.destdir}}/usr/share/${name}"`,
    `      echo ${name} > "\${{targets.destdir}}/usr/share/${name}/id"`,
    'update:',
    '  enabled: true',
    ...update.split('\n').map((l) => `  ${l}`),
    '',
  ].join('\n');
}

async function poll(): Promise<UpstreamWatchResult> {
  return temporal.client.workflow.execute(upstreamWatch, {
    taskQueue,
    workflowId: `watch-${Date.now()}`,
    args: [{ catalogDir }],
  });
}
const byName = (r: UpstreamWatchResult) => Object.fromEntries(r.packages.map((p) => [p.name, p]));

const productionRepo = () => join(env.KILN_STATE, 'repo-upstream');
const stagingRepo = (branch: string) => join(env.KILN_STATE, 'staging', 'repo-upstream', branch);

let production: {
  build: RebuildSummary;
  repo: Record<string, string>;
  registry: Record<string, Record<string, string>>;
};

beforeAll(async () => {
  temporal = await connectTemporal(env);
  root = await mkdtemp(join(tmpdir(), 'kiln-upstream-'));
  // The upstream project: a plain git repository with annotated tags.
  upstream = join(root, 'upstream');
  await execa('git', ['init', '-q', '-b', 'main', upstream]);
  await tag('1.0.0');
  // A loopback server in GitHub's releases API shape.
  api = createServer((req, res) => {
    const body = releases[req.url!.split('?')[0]!];
    res.writeHead(body === undefined ? 404 : 200, { 'content-type': 'application/json' });
    res.end(typeof body === 'string' ? body : JSON.stringify(body ?? { message: 'Not Found' }));
  });
  await new Promise<void>((r) => api.listen(0, '127.0.0.1', () => r()));
  apiUrl = `http://127.0.0.1:${(api.address() as { port: number }).port}`;
  releases['/repos/acme/widget/releases'] = [{ tag_name: 'v0.1.0', prerelease: false }];
  releases['/repos/acme/broken/releases'] = '<html>rate limited</html>';

  // The catalog: a git repository of its own; tiny-lib follows the git upstream.
  const repo = join(root, 'catalog-repo');
  catalogDir = join(repo, 'catalog');
  await isolatedFixture('tiny', catalogDir, 'upstream');
  const settings = join(catalogDir, 'catalog.yaml');
  await writeFile(
    settings,
    (await readFile(settings, 'utf8')) +
      `updates:\n  githubApi: ${apiUrl}\n  repositories:\n    tiny-lib: ${upstream}\n`,
  );
  const lib = join(catalogDir, 'packages', 'tiny-lib.yaml');
  await writeFile(lib, `${await readFile(lib, 'utf8')}update:\n  enabled: true\n  git:\n    strip-prefix: v\n`);
  await writeFile(
    join(catalogDir, 'packages', 'up-widget.yaml'),
    pkgYaml('up-widget', '0.1.0', 'github:\n  identifier: acme/widget\n  strip-prefix: v'),
  );
  await writeFile(
    join(catalogDir, 'packages', 'up-broken.yaml'),
    pkgYaml('up-broken', '1.0.0', 'github:\n  identifier: acme/broken\n  strip-prefix: v'),
  );
  await execa('git', ['init', '-q', '-b', 'main', repo]);
  await sh(repo, 'add', '.');
  await sh(repo, 'commit', '-q', '-m', 'catalog');

  // The worker's configured catalog is this one: only it, at its main branch, builds production.
  worker = await temporal.worker(taskQueue, kilnTestConfig(env, { KILN_CATALOG: catalogDir }));
  workerDone = worker.run();
  // Production first, from the configured catalog (an empty input: nothing chosen but the default).
  const build = await rebuildSummary(
    await temporal.client.workflow.execute(catalogRebuild, {
      taskQueue,
      workflowId: `upstream-production-${Date.now()}`,
      args: [{}],
    }),
  );
  production = {
    build,
    repo: await repositoryFiles(productionRepo()),
    registry: await productionRegistry(env, 'upstream'),
  };
});

afterAll(async () => {
  worker?.shutdown();
  await workerDone;
  api?.close();
  await temporal?.close();
});

describe('upstreamWatch', () => {
  let second: UpstreamWatchResult;

  it('builds production from the configured catalog at its main branch', () => {
    expect(production.build.target).toMatchObject({ kind: 'production' });
    expect(production.build.images.map((i) => [i.name, i.status])).toEqual([['tiny-app', 'published']]);
    expect(production.repo['/x86_64/tiny-lib-1.0.0-r0.apk']).toBeDefined();
    expect(Object.keys(production.registry['upstream/tiny-app'] ?? {})).toContain('latest');
  });

  it('finds nothing to do while upstream has no newer release, and reports a source that answers garbage', async () => {
    const first = byName(await poll());
    expect(first['tiny-lib']).toMatchObject({
      action: 'up-to-date',
      checked: true,
      current: '1.0.0',
      latest: '1.0.0',
      source: `git ${upstream}`,
    });
    expect(first['up-widget']).toMatchObject({ action: 'up-to-date', latest: '0.1.0' });
    expect(first['up-broken']).toMatchObject({
      action: 'error',
      checked: false,
      source: `github ${apiUrl}/repos/acme/broken/releases`,
    });
    expect(first['up-broken']!.error).toMatch(/acme\/broken\/releases\?per_page=100 did not answer a list of releases/);
  });

  it('turns a new tag and a new release into branch commits and package updates', async () => {
    await tag('1.1.0');
    releases['/repos/acme/widget/releases'] = [
      { tag_name: 'v0.3.0-rc1', prerelease: true },
      { tag_name: 'v0.2.0', prerelease: false },
      { tag_name: 'v0.1.0', prerelease: false },
    ];
    second = await poll();
    const r = byName(second);
    expect(r['tiny-lib']).toMatchObject({
      action: 'updated',
      latest: '1.1.0',
      branch: 'kiln/update/tiny-lib-1.1.0',
      workflowId: 'package-update/tiny-lib/1.1.0',
    });
    // the pre-release is skipped
    expect(r['up-widget']).toMatchObject({
      action: 'updated',
      latest: '0.2.0',
      branch: 'kiln/update/up-widget-0.2.0',
      workflowId: 'package-update/up-widget/0.2.0',
    });
    expect(r['up-broken']!.action).toBe('error');

    const repo = join(root, 'catalog-repo');
    const onBranch = (await sh(repo, 'show', 'kiln/update/tiny-lib-1.1.0:catalog/packages/tiny-lib.yaml')).stdout;
    expect(onBranch).toMatch(/version: 1\.1\.0/);
    expect(onBranch).toMatch(/epoch: 0/);
    expect((await sh(repo, 'log', '-1', '--format=%s', 'kiln/update/tiny-lib-1.1.0')).stdout).toBe(
      'tiny-lib: update to 1.1.0',
    );
    // the main branch and its checkout are untouched
    expect(await readFile(join(catalogDir, 'packages', 'tiny-lib.yaml'), 'utf8')).toMatch(/version: 1\.0\.0/);
    expect((await sh(repo, 'log', '-1', '--format=%s', 'main')).stdout).toBe('catalog');
    expect((await sh(repo, 'status', '--porcelain')).stdout).toBe('');
  });

  it('rebuilds the package, its reverse dependencies and the images that include them', async () => {
    const update = await summaryOf('package-update/tiny-lib/1.1.0');
    expect(update.ok).toBe(true);
    expect(Object.fromEntries(update.packages.map((p) => [p.name, `${p.version} ${p.status}`]))).toEqual({
      'tiny-lib': '1.1.0 built',
      'tiny-app': '0.1.0 built',
    });
    expect(update.images.map((i) => [i.name, i.status])).toEqual([['tiny-app', 'published']]);
    const widget = await summaryOf('package-update/up-widget/0.2.0');
    expect(widget.packages.map((p) => `${p.name} ${p.version} ${p.status}`)).toEqual(['up-widget 0.2.0 built']);
  });

  it('builds the unmerged branch into staging named after it, and leaves production byte for byte unchanged', async () => {
    const branch = 'kiln/update/tiny-lib-1.1.0';
    const update = await summaryOf('package-update/tiny-lib/1.1.0');
    expect(update.target).toMatchObject({
      kind: 'staging',
      name: branch,
      packageRepository: stagingRepo(branch),
      registry: `${env.KILN_REGISTRY}/upstream/staging/${branch}`,
    });
    expect(update.target!.reason).toMatch(/is not the worker's configured catalog/);
    const handle = temporal.client.workflow.getHandle('package-update/tiny-lib/1.1.0/rebuild');
    expect((await handle.describe()).memo?.target).toBe(`staging ${branch} (unreviewed)`);
    // the new build is in staging: its APK, its index, its image and tags
    expect(existsSync(join(stagingRepo(branch), 'x86_64', 'tiny-lib-1.1.0-r0.apk'))).toBe(true);
    expect(existsSync(join(stagingRepo(branch), 'x86_64', 'APKINDEX.tar.gz'))).toBe(true);
    const image = update.images[0]!;
    expect(image.reference).toContain(`/upstream/staging/${branch}/tiny-app@sha256:`);
    const latest = await registryGet(env, `upstream/staging/${branch}/tiny-app/manifests/latest`);
    expect(latest.status).toBe(200);
    expect(await installedVersions(env, `upstream/staging/${branch}/tiny-app`, image.digest!)).toContain(
      'tiny-lib 1.1.0-r0',
    );
    // production: the same files with the same bytes, the same names, tags and manifests
    expect(existsSync(join(productionRepo(), 'x86_64', 'tiny-lib-1.1.0-r0.apk'))).toBe(false);
    expect(await repositoryFiles(productionRepo())).toEqual(production.repo);
    expect(await productionRegistry(env, 'upstream')).toEqual(production.registry);
  });

  it('does nothing on a second poll with no new release', async () => {
    const third = byName(await poll());
    expect(third['tiny-lib']).toMatchObject({ action: 'update-pending', workflowId: 'package-update/tiny-lib/1.1.0' });
    expect(third['up-widget']).toMatchObject({ action: 'update-pending' });
    const runs = [];
    for await (const w of temporal.client.workflow.list({ query: `WorkflowId = "package-update/tiny-lib/1.1.0"` }))
      runs.push(w.runId);
    expect(runs).toHaveLength(1);
    // and no second commit on the branch
    expect(
      (await sh(join(root, 'catalog-repo'), 'rev-list', '--count', 'main..kiln/update/tiny-lib-1.1.0')).stdout,
    ).toBe('1');
  });
});

describe('proposeUpdate refreshes the pins a config has', () => {
  let repo: string;
  let dir: string;

  beforeAll(async () => {
    repo = join(root, 'pins-repo');
    dir = join(repo, 'catalog');
    await isolatedFixture('tiny', dir, 'upstream-pins');
    await writeFile(
      join(dir, 'catalog.yaml'),
      `${await readFile(join(dir, 'catalog.yaml'), 'utf8')}updates:\n  githubApi: ${apiUrl}\n`,
    );
    // Only the configs matter here: these packages are never built. melange's git-checkout and
    // fetch pipelines need git and wget in the build guest: stand-in configs provide the names.
    for (const tool of ['git', 'wget'])
      await writeFile(
        join(dir, 'packages', `${tool}.yaml`),
        `package:\n  name: ${tool}\n  version: 1.0.0\n  epoch: 0\n  description: provides ${tool} to the configs below\n` +
          `  copyright:\n    - license: MIT\nenvironment:\n  contents:\n    packages: [busybox]\npipeline:\n  - runs: true\n`,
      );
    await writeFile(
      join(dir, 'packages', 'src-pkg.yaml'),
      [
        'package:',
        '  name: src-pkg',
        '  version: 1.0.0',
        '  epoch: 2',
        '  description: checked out from git',
        '  copyright:',
        '    - license: MIT',
        'environment:',
        '  contents:',
        '    packages: [busybox]',
        'pipeline:',
        '  - uses: git-checkout',
        '    with:',
        `      repository: ${upstream}`,
        '      tag: v${{package.version}}',
        `      expected-commit: ${'0'.repeat(40)}`,
        '  - runs: echo ok',
        'update:',
        '  enabled: true',
        '  github:',
        '    identifier: acme/src-pkg',
        '    strip-prefix: v',
        '',
      ].join('\n'),
    );
    await writeFile(
      join(dir, 'packages', 'tarball.yaml'),
      [
        'package:',
        '  name: tarball',
        '  version: 1.0.0',
        '  epoch: 1',
        '  description: fetched as a tarball',
        '  copyright:',
        '    - license: MIT',
        'environment:',
        '  contents:',
        '    packages: [busybox]',
        'var-transforms:',
        '  - from: ${{package.version}}',
        '    match: \\.',
        '    replace: _',
        '    to: under-version',
        'pipeline:',
        '  - uses: fetch',
        '    with:',
        `      uri: ${apiUrl}/dl/tarball-\${{vars.under-version}}.tar.gz`,
        `      expected-sha256: ${'0'.repeat(64)}`,
        '  - runs: echo ok',
        'update:',
        '  enabled: true',
        '  github:',
        '    identifier: acme/tarball',
        '    strip-prefix: v',
        '',
      ].join('\n'),
    );
    await execa('git', ['init', '-q', '-b', 'main', repo]);
    await sh(repo, 'add', '.');
    await sh(repo, 'commit', '-q', '-m', 'catalog');
  });

  // v1.1.0 was tagged upstream by the watcher tests above.
  it('sets expected-commit to the commit the release tag points at', async () => {
    const proposed = await proposeUpdate(config, { catalogDir: dir, name: 'src-pkg', version: '1.1.0' });
    expect(proposed).toMatchObject({ branch: 'kiln/update/src-pkg-1.1.0', created: true });
    const tagged = (await sh(upstream, 'rev-parse', 'v1.1.0^{commit}')).stdout;
    const text = (await sh(repo, 'show', 'kiln/update/src-pkg-1.1.0:catalog/packages/src-pkg.yaml')).stdout;
    expect(text).toContain(`expected-commit: ${tagged}`);
    expect(text).toMatch(/version: 1\.1\.0\n\s+epoch: 0/);
  });

  it('leaves a clear error and no branch while the tarball is not published, then pins its sha256', async () => {
    await expect(proposeUpdate(config, { catalogDir: dir, name: 'tarball', version: '2.0.1' })).rejects.toThrow(
      /tarball\.yaml pipeline\[0\] \(fetch\): cannot refresh expected-sha256: http:\/\/127\.0\.0\.1:\d+\/dl\/tarball-2_0_1\.tar\.gz answered HTTP 404/,
    );
    expect((await sh(repo, 'branch', '--list', 'kiln/update/*')).stdout).not.toContain('tarball');

    const bytes = Buffer.from('pretend this is a release tarball');
    releases['/dl/tarball-2_0_1.tar.gz'] = bytes.toString();
    const proposed = await proposeUpdate(config, { catalogDir: dir, name: 'tarball', version: '2.0.1' });
    expect(proposed.created).toBe(true);
    const text = (await sh(repo, 'show', 'kiln/update/tarball-2.0.1:catalog/packages/tarball.yaml')).stdout;
    expect(text).toContain(`expected-sha256: ${createHash('sha256').update(bytes).digest('hex')}`);
    expect(text).toContain(`uri: ${apiUrl}/dl/tarball-\${{vars.under-version}}.tar.gz`);
    // asking again is a no-op: no download, no commit
    delete releases['/dl/tarball-2_0_1.tar.gz'];
    expect(await proposeUpdate(config, { catalogDir: dir, name: 'tarball', version: '2.0.1' })).toMatchObject({
      created: false,
      commit: proposed.commit,
    });
  });
});
