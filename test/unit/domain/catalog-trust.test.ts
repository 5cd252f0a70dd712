// What a catalog may trust, tried the way a hostile catalog would: a melange or apko config that
// brings its own repository, key, base image or include is rejected with file, field, line and fix
// unless catalog.yaml allows the repository; `${VAR}` sees only KILN_STATE, KILN_REGISTRY and the
// names catalog.yaml declares, and a credential is never expanded (declared or not).
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CatalogInvalid, formatProblems, loadCatalog } from '../../../io/catalog-loader.js';
import type { CatalogProblem } from '../../../domain/catalog.js';
import { isCredentialName } from '../../../domain/catalog-trust.js';
import { loadConfig, toolEnvironment } from '../../../config/config.js';
import { apkIndexFixture } from '../../fixtures/apkindex-fixture.js';
import { useScratchCatalogs } from '../../fixtures/scratch-catalogs.js';
import { FIXTURES } from '../../fixtures/paths.js';

const catalogs = useScratchCatalogs('kiln-trust-');
const tinyCopy = () => catalogs.copy('tiny');
async function edit(path: string, change: (text: string) => string): Promise<void> {
  const text = await readFile(path, 'utf8');
  const next = change(text);
  expect(next, `${path} unchanged`).not.toBe(text);
  await writeFile(path, next);
}

async function problemsOf(
  dir: string,
  env: Record<string, string> = { KILN_STATE: catalogs.state },
): Promise<CatalogProblem[]> {
  const err = await loadCatalog(dir, { env }).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (err === undefined) throw new Error(`${dir} validated, but it should not`);
  if (!(err instanceof CatalogInvalid)) throw err;
  return err.problems;
}
const where = (p: CatalogProblem) => `${p.file}:${p.line ?? '?'}: ${p.field}`;

describe('repositories and keys inside configs', () => {
  it('rejects an apko config that adds its own repository and key, naming file, field, line and fix', async () => {
    const dir = await tinyCopy();
    const apko = join(dir, 'images', 'tiny-app', 'apko.yaml');
    await edit(apko, (t) =>
      t.replace(
        'contents:\n  packages: [busybox, tiny-app]\n',
        'contents:\n  packages: [busybox, tiny-app]\n  repositories:\n    - https://evil.example/os\n  keyring:\n    - https://evil.example/evil.rsa.pub\n',
      ),
    );
    const problems = await problemsOf(dir);
    expect(problems.map(where)).toEqual([
      'images/tiny-app/apko.yaml:4: contents.repositories[0]',
      'images/tiny-app/apko.yaml:6: contents.keyring',
    ]);
    expect(problems[0]!.message).toMatch(/names its own repository "https:\/\/evil\.example\/os"/);
    expect(problems[0]!.fix).toMatch(/catalog\.yaml allowRepositories/);
    expect(problems[1]!.message).toMatch(/only catalog\.yaml keyring is trusted/);
    expect(problems[1]!.fix).toMatch(/add the public key to catalog\.yaml keyring/);
    expect(formatProblems(problems).split('\n')[0]).toMatch(
      /^images\/tiny-app\/apko\.yaml:4: contents\.repositories\[0\]: names its own repository/,
    );
  });

  it('rejects repositories and keys in melange build and test environments, and apko build/runtime variants', async () => {
    const dir = await tinyCopy();
    await edit(join(dir, 'packages', 'tiny-lib.yaml'), (t) =>
      t
        .replace(
          'environment:\n  contents:\n    packages: [busybox]\npipeline:',
          'environment:\n  contents:\n    repositories: [/srv/other-repo]\n    keyring: [/srv/other.rsa.pub]\n    packages: [busybox]\npipeline:',
        )
        .replace(
          'test:\n  environment:\n    contents:\n',
          'test:\n  environment:\n    contents:\n      repositories: ["@edge https://edge.example/os"]\n',
        ),
    );
    await edit(join(dir, 'images', 'tiny-app', 'apko.yaml'), (t) =>
      t.replace(
        'contents:\n',
        'include: ../base.yaml\ncontents:\n  build_repositories: [https://b.example]\n  runtime_repositories: [https://r.example]\n  baseimage: { image: /tmp/layout, apkindex: /tmp/idx }\n',
      ),
    );
    const problems = await problemsOf(dir);
    expect(problems.map(where)).toEqual([
      'packages/tiny-lib.yaml:10: environment.contents.repositories[0]',
      'packages/tiny-lib.yaml:11: environment.contents.keyring',
      'packages/tiny-lib.yaml:20: test.environment.contents.repositories[0]',
      'images/tiny-app/apko.yaml:3: contents.build_repositories[0]',
      'images/tiny-app/apko.yaml:4: contents.runtime_repositories[0]',
      'images/tiny-app/apko.yaml:5: contents.baseimage',
      'images/tiny-app/apko.yaml:1: include',
    ]);
    for (const p of problems) expect(p.fix).not.toBe('');
  });

  it('accepts a repository catalog.yaml allows (and reads what it provides); its key still comes from keyring', async () => {
    const dir = await tinyCopy();
    await mkdir(join(dir, 'vendor', 'x86_64'), { recursive: true });
    await writeFile(
      join(dir, 'vendor', 'x86_64', 'APKINDEX.tar.gz'),
      apkIndexFixture([{ P: 'vendor-tool', V: '2.0-r0' }]),
    );
    await edit(join(dir, 'catalog.yaml'), (t) => `${t}allowRepositories: [vendor]\n`);
    await edit(join(dir, 'images', 'tiny-app', 'apko.yaml'), (t) =>
      t.replace(
        'contents:\n  packages: [busybox, tiny-app]\n',
        `contents:\n  repositories: [${join(dir, 'vendor')}]\n  packages: [busybox, tiny-app, vendor-tool]\n`,
      ),
    );
    const catalog = await loadCatalog(dir, { env: { KILN_STATE: catalogs.state } });
    expect(catalog.settings.allowRepositories).toEqual([join(dir, 'vendor')]);
    expect(catalog.images[0]!.packages).toContain('vendor-tool');

    // The same config with a key of its own is still rejected.
    await edit(join(dir, 'images', 'tiny-app', 'apko.yaml'), (t) =>
      t.replace('  repositories:', '  keyring: [vendor.rsa.pub]\n  repositories:'),
    );
    expect((await problemsOf(dir)).map(where)).toEqual(['images/tiny-app/apko.yaml:2: contents.keyring']);
  });

  it('the example catalog and the fixtures name no repository or key of their own', async () => {
    for (const fixture of ['tiny', 'imgchk-pass', 'checks-pkg', 'isolation', 'imgpipe-main'])
      await expect(
        loadCatalog(join(FIXTURES, fixture), { env: { KILN_STATE: catalogs.state } }),
      ).resolves.toBeDefined();
  });
});

describe('${VAR} in catalog.yaml', () => {
  const withSettings = async (lines: string[]) => {
    const dir = await tinyCopy();
    await writeFile(
      join(dir, 'catalog.yaml'),
      ['repositories: ["${KILN_STATE}/bootstrap"]', 'packageRepository: /r', ...lines, ''].join('\n'),
    );
    return dir;
  };
  const secret = { KILN_STATE: '', KILN_REGISTRY_PASSWORD: 'hunter2', GITHUB_TOKEN: 'ghp_x', MIRROR_HOST: 'm.example' };

  it('rejects a catalog that declares a credential variable, even one the worker has', async () => {
    for (const name of [
      'KILN_REGISTRY_PASSWORD',
      'KILN_OIDC_TOKEN_FILE',
      'TEMPORAL_API_KEY',
      'GITHUB_TOKEN',
      'AWS_SECRET',
    ]) {
      const dir = await withSettings([`environment: [${name}]`, `registry: "\${${name}}/kiln"`]);
      const problems = await problemsOf(dir, { ...secret, KILN_STATE: catalogs.state });
      expect(problems.map((p) => `${p.file}: ${p.field}`)).toEqual([
        'catalog.yaml: environment[0]',
        'catalog.yaml: registry',
      ]);
      expect(problems[0]!.message).toMatch(new RegExp(`${name} looks like a credential`));
      expect(problems[0]!.fix).toMatch(/remove it/);
      expect(problems[1]!.message).toMatch(/a credential: kiln never expands credentials/);
      expect(JSON.stringify(problems)).not.toContain('hunter2');
    }
  });

  it('never expands an undeclared variable, even when the worker sets it', async () => {
    const dir = await withSettings(['registry: "${MIRROR_HOST}/kiln"']);
    const problems = await problemsOf(dir, { ...secret, KILN_STATE: catalogs.state });
    expect(problems.map((p) => `${p.field}: ${p.message}`)).toEqual([
      expect.stringMatching(/^registry: uses \$\{MIRROR_HOST\}, which catalog\.yaml does not declare/),
    ]);
    expect(problems[0]!.fix).toBe('add MIRROR_HOST to catalog.yaml environment: [MIRROR_HOST]');
    // A default does not make an undeclared variable visible either.
    const withDefault = await withSettings(['registry: "${HOME:-localhost}/kiln"']);
    expect((await problemsOf(withDefault)).map((p) => p.field)).toEqual(['registry']);
  });

  it('expands KILN_STATE, KILN_REGISTRY and declared names', async () => {
    const dir = await withSettings(['environment: [MIRROR_HOST]', 'registry: "${MIRROR_HOST}/${KILN_REGISTRY:-x}"']);
    const catalog = await loadCatalog(dir, { env: { ...secret, KILN_STATE: catalogs.state, KILN_REGISTRY: 'reg' } });
    expect(catalog.settings.registry).toBe('m.example/reg');
    expect(catalog.settings.repositories).toEqual([join(catalogs.state, 'bootstrap')]);
  });

  it('names credentials as the worker does', () => {
    for (const name of ['KILN_REGISTRY_PASSWORD', 'KILN_REGISTRY_USERNAME', 'KILN_OIDC_TOKEN', 'KILN_OIDC_TOKEN_FILE'])
      expect(isCredentialName(name), name).toBe(true);
    for (const name of ['TEMPORAL_API_KEY', 'NPM_TOKEN', 'DB_PASSWORD', 'APP_SECRET', 'SIGNING_KEY'])
      expect(isCredentialName(name), name).toBe(true);
    for (const name of ['KILN_STATE', 'KILN_REGISTRY', 'MIRROR_URL', 'KEYRING_DIR', 'TOKENS_DIR'])
      expect(isCredentialName(name), name).toBe(false);
  });
});

describe('what the worker hands on', () => {
  const worker = {
    PATH: '/opt/bin:/usr/bin',
    HOME: '/home/kiln',
    TMPDIR: '/var/tmp/kiln',
    HTTPS_PROXY: 'http://proxy:3128',
    KILN_REGISTRY_PASSWORD: 'hunter2',
    KILN_REGISTRY_USERNAME: 'kiln',
    KILN_OIDC_TOKEN: 'eyJ',
    TEMPORAL_API_KEY: 'tk',
    AWS_SECRET_ACCESS_KEY: 'aws',
    GITHUB_TOKEN: 'ghp',
  };

  it('catalogEnv, what catalog.yaml could ever see, holds no credential', () => {
    const { catalogEnv } = loadConfig(worker);
    expect(Object.keys(catalogEnv).sort()).toEqual(['HOME', 'HTTPS_PROXY', 'KILN_STATE', 'PATH', 'TMPDIR']);
  });

  it('tools get PATH, HOME, TMPDIR and proxies, nothing else', () => {
    expect(toolEnvironment(worker)).toEqual({
      PATH: '/opt/bin:/usr/bin',
      HOME: '/home/kiln',
      TMPDIR: '/var/tmp/kiln',
      HTTPS_PROXY: 'http://proxy:3128',
    });
    expect(loadConfig(worker).tools.environment).toEqual(toolEnvironment(worker));
    expect(toolEnvironment({}).PATH).toMatch(/\/usr\/bin/);
  });
});
