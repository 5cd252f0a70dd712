// The catalog is validated before anything runs: each bad case is rejected with its file, field
// and fix, and every problem of a catalog is reported at once.
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CatalogInvalid, formatProblems, loadCatalog } from '../../../io/catalog-loader.js';
import type { CatalogProblem } from '../../../domain/catalog.js';
import { apkIndexFixture, BOOTSTRAP_STANZAS, bootstrapStateFixture } from '../../fixtures/apkindex-fixture.js';
import { FIXTURES } from '../../fixtures/paths.js';
import { REPO_ROOT } from '../../../config/config.js';

let state: string;
let env: Record<string, string>;
const scratch: string[] = [];
/** A temp dir removed after the file's tests. */
async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  scratch.push(dir);
  return dir;
}

beforeAll(async () => {
  state = await bootstrapStateFixture();
  // Only what a worker would set: nothing from this machine's environment leaks in.
  env = { KILN_STATE: state };
});
afterAll(async () => {
  for (const dir of [state, ...scratch]) await rm(dir, { recursive: true, force: true });
});

async function problemsOf(dir: string, withEnv: Record<string, string> = env): Promise<CatalogProblem[]> {
  const err = await loadCatalog(dir, { env: withEnv }).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (err === undefined) throw new Error(`${dir} validated, but it should not`);
  if (!(err instanceof CatalogInvalid)) throw err;
  return err.problems;
}

/** A copy of the tiny fixture to break on purpose. */
async function tinyCopy(): Promise<string> {
  const dir = await tempDir('kiln-catalog-');
  await cp(join(FIXTURES, 'tiny'), dir, { recursive: true });
  return dir;
}

const at = (p: CatalogProblem) => `${p.file}: ${p.field}`;

describe('loadCatalog on valid catalogs', () => {
  it('loads the example catalog: 4 packages with a 2-deep build chain, 3 images', async () => {
    const catalog = await loadCatalog(join(REPO_ROOT, 'catalog'), { env });
    expect(catalog.dir).toBe(join(REPO_ROOT, 'catalog'));
    expect(catalog.settings).toMatchObject({
      archs: ['x86_64'],
      repositories: [join(state, 'bootstrap')],
      keyring: [join(state, 'keys', 'kiln.rsa.pub')],
      packageRepository: join(state, 'repo'),
      registry: '127.0.0.1:5000/kiln', // ${KILN_REGISTRY:-127.0.0.1:5000} with KILN_REGISTRY unset
      namespace: 'kiln',
      concurrency: { packages: 2, images: 2 },
    });
    const byName = new Map(catalog.packages.map((p) => [p.name, p]));
    expect([...byName.keys()].sort()).toEqual(['greeting-data', 'hello', 'libgreet', 'motd']);
    expect(byName.get('libgreet')).toMatchObject({
      file: 'packages/libgreet.yaml',
      buildDependencies: ['busybox', 'greeting-data'],
    });
    expect(byName.get('hello')).toMatchObject({
      buildDependencies: ['busybox', 'libgreet'],
      runtimeDependencies: ['busybox', 'libgreet'],
    });
    for (const p of catalog.packages) {
      expect(p.hasTest, `${p.name} has a test: section`).toBe(true);
      expect(p.buildDependencies).toContain('busybox');
    }
    expect(catalog.images.map((i) => [i.name, i.packages, i.tags])).toEqual([
      ['base', ['kiln-baselayout', 'busybox'], ['latest']],
      ['hello', ['busybox', 'hello'], ['latest']],
      ['motd', ['busybox', 'motd'], ['latest']],
    ]);
  });

  it('expands ${KILN_REGISTRY} when the worker sets it', async () => {
    const catalog = await loadCatalog(join(REPO_ROOT, 'catalog'), {
      env: { ...env, KILN_REGISTRY: 'registry.example:5443' },
    });
    expect(catalog.settings.registry).toBe('registry.example:5443/kiln');
  });

  it('loads the tiny fixture with its tags and defaults', async () => {
    const catalog = await loadCatalog(join(FIXTURES, 'tiny'), { env });
    expect(catalog.packages.map((p) => [p.name, p.version, p.epoch])).toEqual([
      ['tiny-app', '0.1.0', 0],
      ['tiny-lib', '1.0.0', 0],
    ]);
    expect(catalog.images).toEqual([
      {
        name: 'tiny-app',
        file: 'images/tiny-app/apko.yaml',
        packages: ['busybox', 'tiny-app'],
        tags: ['latest', '0.1'],
        tests: [],
        expectations: {},
      },
    ]);
  });

  it('applies defaults, resolves relative paths against the catalog, and accepts future settings keys', async () => {
    const dir = await tinyCopy();
    await mkdir(join(dir, 'vendor', 'x86_64'), { recursive: true });
    await writeFile(join(dir, 'vendor', 'x86_64', 'APKINDEX.tar.gz'), apkIndexFixture(BOOTSTRAP_STANZAS));
    await writeFile(
      join(dir, 'catalog.yaml'),
      [
        'repositories: [vendor]',
        'packageRepository: out/repo',
        'registry: localhost/kiln',
        'policy: { signed: true }',
        'abi: { allowedBreaks: [] }',
        'schedule: { cron: "0 3 * * *" }',
        '',
      ].join('\n'),
    );
    await writeFile(join(dir, 'images', 'tiny-app', 'image.yaml'), 'tests: []\n');
    const catalog = await loadCatalog(dir, { env: {} });
    expect(catalog.settings).toMatchObject({
      archs: ['x86_64'],
      repositories: [join(dir, 'vendor')],
      keyring: [],
      packageRepository: join(dir, 'out', 'repo'),
      namespace: 'kiln',
      concurrency: { packages: 4, images: 2 },
    });
    expect(catalog.images[0]!.tags).toEqual(['latest']);
  });

  it('keeps package.version as written: 1.10 is not 1.1', async () => {
    const dir = await tinyCopy();
    const lib = join(dir, 'packages', 'tiny-lib.yaml');
    await writeFile(lib, (await readFile(lib, 'utf8')).replace('version: 1.0.0', 'version: 1.10'));
    const catalog = await loadCatalog(dir, { env });
    expect(catalog.packages.find((p) => p.name === 'tiny-lib')!.version).toBe('1.10');
  });

  it('resolves build dependencies through subpackages and what a repository provides', async () => {
    const dir = await tinyCopy();
    await writeFile(
      join(dir, 'packages', 'tiny-lib.yaml'),
      [
        'package: { name: tiny-lib, version: 1.0.0, dependencies: { provides: ["tiny-data=1.0.0"] } }',
        'environment: { contents: { packages: ["busybox>=1.30", "cmd:sh"] } }',
        'subpackages: [{ name: tiny-lib-dev, dependencies: { provides: ["so:libtiny.so.1"] } }]',
        '',
      ].join('\n'),
    );
    await writeFile(
      join(dir, 'packages', 'tiny-app.yaml'),
      'package: { name: tiny-app, version: 0.1.0 }\nenvironment: { contents: { packages: [busybox, tiny-lib-dev, "so:libtiny.so.1", tiny-data] } }\n',
    );
    const catalog = await loadCatalog(dir, { env });
    expect(catalog.packages.find((p) => p.name === 'tiny-lib')).toMatchObject({
      subpackages: ['tiny-lib-dev'],
      provides: ['tiny-data', 'so:libtiny.so.1'],
    });
  });
});

describe('loadCatalog on bad catalogs', () => {
  const cases: [string, { file: string; field: string; message: RegExp; fix: RegExp }][] = [
    [
      'malformed-yaml',
      { file: 'packages/tiny-lib.yaml', field: 'line 4, column 1', message: /malformed YAML/, fix: /YAML syntax/ },
    ],
    [
      'unknown-key',
      { file: 'catalog.yaml', field: 'parallelism', message: /unknown key/, fix: /remove it.*concurrency/ },
    ],
    [
      'bad-name',
      {
        file: 'packages/tiny-app.yaml',
        field: 'package.name',
        message: /"Tiny App" is not a valid package name/,
        fix: /lower-case/,
      },
    ],
    [
      'path-escape',
      {
        file: 'packages/tiny-lib.yaml',
        field: 'subpackages[0].name',
        message: /"\.\.\/\.\.\/etc" is not a valid subpackage name.*escape/,
        fix: /lower-case/,
      },
    ],
    [
      'duplicate-package',
      {
        file: 'packages/tiny-lib2.yaml',
        field: 'subpackages[0].name',
        message: /"tiny-lib" is also declared in packages\/tiny-lib\.yaml/,
        fix: /rename one of them/,
      },
    ],
    [
      'missing-build-dep',
      {
        file: 'packages/tiny-app.yaml',
        field: 'environment.contents.packages[2]',
        message: /"libmissing" is provided by no catalog package and no configured repository/,
        fix: /packages\/libmissing\.yaml/,
      },
    ],
    [
      'cycle',
      {
        file: 'packages/cyc-a.yaml',
        field: 'environment.contents.packages',
        message: /dependency cycle: cyc-a -> cyc-b -> cyc-c -> cyc-a/,
        fix: /remove one of these build dependencies/,
      },
    ],
    [
      'image-missing-package',
      {
        file: 'images/tiny-app/apko.yaml',
        field: 'contents.packages[2]',
        message: /"nginx" is provided by no catalog package/,
        fix: /packages\/nginx\.yaml/,
      },
    ],
    [
      'unset-variable',
      {
        file: 'catalog.yaml',
        field: 'registry',
        message: /\$\{KILN_TEST_UNSET_REGISTRY\}.*not set/,
        fix: /set KILN_TEST_UNSET_REGISTRY.*:-default/,
      },
    ],
  ];

  it.each(cases)('%s: names the file, the field and a fix', async (name, expected) => {
    const problems = await problemsOf(join(FIXTURES, 'bad', name));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ file: expected.file, field: expected.field });
    expect(problems[0]!.message).toMatch(expected.message);
    expect(problems[0]!.fix).toMatch(expected.fix);
  });

  it('missing-required: reports both missing keys', async () => {
    const problems = await problemsOf(join(FIXTURES, 'bad', 'missing-required'));
    expect(problems.map((p) => `${at(p)}: ${p.message}`)).toEqual([
      'catalog.yaml: registry: missing required key',
      'packages/tiny-lib.yaml: package.version: missing required key',
    ]);
  });

  it('a directory without catalog.yaml is rejected, saying where it looked', async () => {
    const dir = await tempDir('kiln-empty-');
    const problems = await problemsOf(dir);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ file: 'catalog.yaml', field: '(file)' });
    expect(problems[0]!.message).toContain(dir);
  });

  it('reports every problem of a catalog at once, one per line of its message', async () => {
    const dir = await tinyCopy();
    await writeFile(join(dir, 'images', 'tiny-app', 'image.yaml'), 'tags: ["-bad tag"]\nmirrors: []\n');
    await writeFile(
      join(dir, 'packages', 'tiny-lib.yaml'),
      'package:\n  name: tiny-lib\n  version: "1.0-r1"\n  epoch: -1\nenvironment:\n  contents:\n    packages: [busybox, libnothere]\nsources: []\n',
    );
    await writeFile(
      join(dir, 'catalog.yaml'),
      'repositories: ["${KILN_STATE}/bootstrap"]\npackageRepository: /r\nregistry: "${NO_SUCH_VAR}/kiln"\nconcurrency: { packages: 0 }\n',
    );
    const err = await loadCatalog(dir, { env }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CatalogInvalid);
    const problems = (err as CatalogInvalid).problems;
    expect(problems.map(at)).toEqual([
      'catalog.yaml: concurrency.packages',
      'catalog.yaml: registry',
      'packages/tiny-lib.yaml: sources',
      'packages/tiny-lib.yaml: package.version',
      'packages/tiny-lib.yaml: package.epoch',
      'images/tiny-app/image.yaml: mirrors',
      'images/tiny-app/image.yaml: tags[0]',
      'packages/tiny-lib.yaml: environment.contents.packages[1]',
    ]);
    const lines = (err as Error).message.split('\n').slice(1);
    expect(lines).toEqual(problems.map((p) => `${p.file}: ${p.field}: ${p.message} (fix: ${p.fix})`));
    expect(formatProblems(problems).split('\n')).toEqual(lines);
  });

  it('reports wrong types with the field they are in', async () => {
    const dir = await tinyCopy();
    await writeFile(
      join(dir, 'packages', 'tiny-lib.yaml'),
      'package: { name: tiny-lib, version: 1.0.0, epoch: "zero" }\nenvironment: { contents: { packages: busybox } }\npipeline: { runs: true }\n',
    );
    await writeFile(
      join(dir, 'images', 'tiny-app', 'apko.yaml'),
      'contents: { packages: [] }\nentrypoint: /usr/bin/tiny-app\n',
    );
    await writeFile(join(dir, 'images', 'tiny-app', 'image.yaml'), 'tags: latest\n');
    const problems = await problemsOf(dir);
    expect(problems.map(at)).toEqual([
      'packages/tiny-lib.yaml: package.epoch',
      'packages/tiny-lib.yaml: pipeline',
      'packages/tiny-lib.yaml: environment.contents.packages',
      'images/tiny-app/apko.yaml: contents.packages',
      'images/tiny-app/apko.yaml: entrypoint',
      'images/tiny-app/image.yaml: tags',
    ]);
    for (const p of problems) expect(p.fix).not.toBe('');
  });

  it('rejects an image directory whose name could not be a repository name', async () => {
    const dir = await tinyCopy();
    await cp(join(dir, 'images', 'tiny-app'), join(dir, 'images', 'Tiny App'), { recursive: true });
    const problems = await problemsOf(dir);
    expect(problems.map(at)).toEqual(['images/Tiny App/apko.yaml: (directory name)']);
  });

  it('a package that builds against itself is a cycle, unless a repository provides an older build', async () => {
    const dir = await tinyCopy();
    await writeFile(
      join(dir, 'packages', 'tiny-lib.yaml'),
      'package: { name: tiny-lib, version: 1.0.0 }\nenvironment: { contents: { packages: [busybox, tiny-lib] } }\n',
    );
    const problems = await problemsOf(dir);
    expect(problems.map((p) => `${at(p)}: ${p.message}`)).toEqual([
      expect.stringMatching(
        /^packages\/tiny-lib\.yaml: environment\.contents\.packages\[1\]: dependency cycle: tiny-lib -> tiny-lib/,
      ),
    ]);
    const withOlderBuild = await bootstrapStateFixture([...BOOTSTRAP_STANZAS, { P: 'tiny-lib', V: '0.9.0-r0' }]);
    scratch.push(withOlderBuild);
    await expect(loadCatalog(dir, { env: { KILN_STATE: withOlderBuild } })).resolves.toBeDefined();
  });
});

describe('what configured repositories provide', () => {
  it('says once that a configured repository is missing, instead of blaming every dependency', async () => {
    const problems = await problemsOf(join(FIXTURES, 'tiny'), { KILN_STATE: '/nonexistent/kiln-state' });
    expect(problems.map(at)).toEqual(['catalog.yaml: repositories[0]']);
    expect(problems[0]!.message).toContain('/nonexistent/kiln-state/bootstrap');
    expect(problems[0]!.fix).toMatch(/run scripts\/setup, which builds the bootstrap repository/);
  });

  it('an existing repository without an index for the arch provides nothing', async () => {
    const empty = await tempDir('kiln-state-');
    await mkdir(join(empty, 'bootstrap'));
    const problems = await problemsOf(join(FIXTURES, 'tiny'), { KILN_STATE: empty });
    expect(problems.map(at)).toEqual([
      'packages/tiny-app.yaml: environment.contents.packages[0]',
      'packages/tiny-app.yaml: package.dependencies.runtime[0]',
      'packages/tiny-lib.yaml: environment.contents.packages[0]',
      'images/tiny-app/apko.yaml: contents.packages[0]',
    ]);
    expect(problems.every((p) => p.message.startsWith('"busybox" is provided by no catalog package'))).toBe(true);
  });

  describe('over http', () => {
    let server: Server;
    let base: string;
    const requested: string[] = [];
    beforeAll(async () => {
      const index = apkIndexFixture(BOOTSTRAP_STANZAS);
      server = createServer((req, res) => {
        requested.push(req.url ?? '');
        if (req.url === '/bootstrap/x86_64/APKINDEX.tar.gz')
          res.writeHead(200, { 'content-type': 'application/gzip' }).end(index);
        else res.writeHead(404).end();
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

    async function tinyWithRepository(url: string): Promise<string> {
      const dir = await tinyCopy();
      await writeFile(
        join(dir, 'catalog.yaml'),
        `repositories: ["${url}"]\npackageRepository: /r\nregistry: localhost/kiln\n`,
      );
      return dir;
    }

    it('reads <url>/<arch>/APKINDEX.tar.gz', async () => {
      const catalog = await loadCatalog(await tinyWithRepository(`${base}/bootstrap`), { env: {} });
      expect(catalog.settings.repositories).toEqual([`${base}/bootstrap`]);
      expect(requested).toContain('/bootstrap/x86_64/APKINDEX.tar.gz');
    });

    it('a repository that answers 404 or cannot be reached is a problem naming the field', async () => {
      const notFound = await problemsOf(await tinyWithRepository(`${base}/nothing`), {});
      expect(notFound.map(at)).toEqual(['catalog.yaml: repositories[0]']);
      expect(notFound[0]!.message).toMatch(/nothing\/x86_64\/APKINDEX\.tar\.gz: HTTP 404/);

      const closed = createServer();
      await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
      const port = (closed.address() as AddressInfo).port;
      await new Promise<void>((resolve) => closed.close(() => resolve()));
      const unreachable = await problemsOf(await tinyWithRepository(`http://127.0.0.1:${port}/repo`), {});
      expect(unreachable.map(at)).toEqual(['catalog.yaml: repositories[0]']);
      expect(unreachable[0]!.message).toMatch(/cannot fetch .*ECONNREFUSED/);
      expect(unreachable[0]!.fix).toMatch(/reachable/);
    });
  });
});
