// What a package's `uses:` pipelines, tests and target-architecture make it build against, read
// from a catalog as `kiln validate` reads it: the catalog's pipelines/ (inputs, defaults, `with:`,
// nesting), melange's built-in pipelines (copied next to the tools by scripts/setup), the build
// order that follows, and each way a config can get them wrong, with file, field, line and fix.
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../../config/config.js';
import type { CatalogProblem } from '../../../domain/catalog.js';
import { planBuild } from '../../../domain/plan.js';
import { planJson, planText } from '../../../domain/plan-format.js';
import { CatalogInvalid, loadCatalog } from '../../../io/catalog-loader.js';
import { builtinPipelinesDir, pipelineLibrary } from '../../../io/melange-pipelines.js';
import { FIXTURES } from '../../fixtures/paths.js';
import { useScratchCatalogs } from '../../fixtures/scratch-catalogs.js';

const catalogs = useScratchCatalogs('kiln-pipelines-');
const load = (dir: string) => loadCatalog(dir, { env: { KILN_STATE: catalogs.state } });

async function problemsOf(dir: string): Promise<CatalogProblem[]> {
  const err = await load(dir).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof CatalogInvalid)) throw err ?? new Error(`${dir} validated, but it should not`);
  return err.problems;
}

/** A scratch copy of the fixture with `file` (relative to the catalog) written as `text`. */
async function withFile(file: string, text: string): Promise<string> {
  const dir = await catalogs.copy('melange-pipelines');
  await mkdir(join(dir, file, '..'), { recursive: true });
  await writeFile(join(dir, file), text);
  return dir;
}

/** A package config with a header and `body` (its pipeline, test, ...) appended. */
const config = (name: string, body: string) =>
  `package:\n  name: ${name}\n  version: 1.0.0\n  epoch: 0\nenvironment:\n  contents:\n    packages: [busybox]\n${body}`;

describe('melange’s built-in pipelines', () => {
  it('are where scripts/setup copies them from the pinned module', () => {
    const dir = builtinPipelinesDir(loadConfig().tools.dir);
    expect(existsSync(join(dir, 'autoconf', 'make.yaml')), `${dir}: run scripts/setup`).toBe(true);
  });
});

describe('a catalog whose packages use pipelines, tests and target-architecture', () => {
  it('builds each package after everything its pipelines and tests install', async () => {
    const catalog = await load(join(FIXTURES, 'melange-pipelines'));
    const app = catalog.packages.find((p) => p.name === 'app')!;
    expect(Object.fromEntries(app.buildDependencies.map((d, i) => [d, app.buildDependencyFields![i]]))).toEqual({
      busybox: 'environment.contents.packages[0]',
      // build/compile: compiler from with:, its nested build/finish's tool from the flavour in vars:
      'cc-fancy': 'pipeline[0].uses',
      'finish-plain': 'pipeline[0].uses',
      // melange's own autoconf/make
      make: 'pipeline[1].uses',
      // a step whose if: holds on aarch64, one of the catalog's archs
      'arm-helper': 'pipeline[2].needs.packages[0]',
      'finish-gold': 'subpackages[0].pipeline[0].uses',
      // the test environment, less app-doc (its own subpackage) and app (itself)
      'test-data': 'test.environment.contents.packages[2]',
      'smoke-runner': 'test.pipeline[0].uses',
    });
    expect(app.pipelines).toEqual([
      'pipelines/build/compile.yaml',
      'pipelines/build/finish.yaml',
      'pipelines/test/smoke.yaml',
    ]);
    const tool = catalog.packages.find((p) => p.name === 'x86-tool')!;
    // Defaults (cc-base, finish-plain); its aarch64-only step never runs.
    expect(tool.buildDependencies).toEqual(['busybox', 'cc-base', 'finish-plain']);
    expect(tool.archs).toEqual(['x86_64']);

    const plan = planBuild(catalog);
    expect(plan.levels).toEqual([
      ['arm-helper', 'cc-base', 'cc-fancy', 'finish-gold', 'finish-plain', 'make', 'smoke-runner', 'test-data'],
      ['app', 'x86-tool'],
      ['x86-app'],
    ]);
    expect(plan.packages.find((p) => p.name === 'app')).toEqual({
      name: 'app',
      version: '2.0.0',
      epoch: 0,
      dependsOn: ['arm-helper', 'cc-fancy', 'finish-gold', 'finish-plain', 'make', 'smoke-runner', 'test-data'],
    });
    expect(plan.packages.find((p) => p.name === 'x86-app')).toMatchObject({ archs: ['x86_64'] });
    // Built for no arch of the catalog: not built at all, and the plan says so.
    expect(plan.packages.map((p) => p.name)).not.toContain('riscv-only');
    expect(plan.notBuilt).toEqual([{ name: 'riscv-only', archs: ['riscv64'] }]);
    expect(planText(plan)).toContain('x86-app [x86_64 only] (after x86-tool)');
    expect(planText(plan)).toContain(
      'Not built (package.target-architecture names none of catalog.yaml archs): riscv-only [riscv64]',
    );
    expect(JSON.parse(planJson(plan))).toMatchObject({ notBuilt: [{ name: 'riscv-only', archs: ['riscv64'] }] });
  });

  it('counts a need on an arch-dependent placeholder once per arch the package builds for', async () => {
    const dir = await withFile(
      'packages/app.yaml',
      config('app', 'pipeline:\n  - needs:\n      packages: ["helper-${{build.arch}}"]\n    runs: "true"\n'),
    );
    for (const arch of ['x86_64', 'aarch64'])
      await writeFile(join(dir, 'packages', `helper-${arch}.yaml`), config(`helper-${arch}`, ''));
    const app = (await load(dir)).packages.find((p) => p.name === 'app')!;
    expect(app.buildDependencies).toEqual(['busybox', 'helper-x86_64', 'helper-aarch64']);
  });
});

describe('a config that uses pipelines wrongly', () => {
  it('names an unknown pipeline with its file, field, line and the fix', async () => {
    const dir = await withFile(
      'packages/app.yaml',
      config('app', 'pipeline:\n  - runs: "true"\n  - uses: build/compil\n    with: { compiler: cc-base }\n'),
    );
    expect(await problemsOf(dir)).toEqual([
      {
        file: 'packages/app.yaml',
        field: 'pipeline[1].uses',
        line: 10,
        message:
          '"build/compil" is neither a catalog pipeline (pipelines/build/compil.yaml) nor a built-in pipeline of melange 0.58.0',
        fix: 'add pipelines/build/compil.yaml to the catalog, or correct the name (built-in ones include fetch, git-checkout, autoconf/configure, go/build)',
      },
    ]);
  });

  it('names an input the pipeline does not have, a required input left out, and a path that escapes', async () => {
    const dir = await withFile(
      'packages/app.yaml',
      config(
        'app',
        [
          'pipeline:',
          '  - uses: build/compile',
          '    with: { compilr: cc-base }',
          '  - uses: build/finish',
          '  - uses: ../outside',
          '',
        ].join('\n'),
      ),
    );
    expect((await problemsOf(dir)).map((p) => `${p.field}:${p.line}: ${p.message} (fix: ${p.fix})`)).toEqual([
      'pipeline[0].with.compilr:10: build/compile has no input "compilr" (melange: undefined input "compilr" to pipeline "build/compile") (fix: use one of its inputs: compiler, flavour)',
      'pipeline[1].with:undefined: required input "tool" of build/finish is missing (fix: set with: { tool: ... })',
      'pipeline[2].uses:12: "../outside" is an absolute path or contains "..": melange refuses it (fix: name a pipeline of the catalog (pipelines/NAME.yaml) or of melange, e.g. uses: go/build)',
    ]);
  });

  it('accepts the placeholders melange defines in a step and names one it does not', async () => {
    const runs = [
      'echo ${{targets.destdir}} ${{targets.contextdir}} ${{targets.outdir}} ${{package.srcdir}}',
      'echo ${{host.triplet.gnu}} ${{host.triplet.rust}} ${{build.arch}} ${{build.goarch}} ${{context.name}}',
      'echo ${{targets.package.app}} ${{ package.version }} ${{cross.triplet.gnu.musl}}',
    ];
    const ok = await withFile(
      'packages/app.yaml',
      config('app', `pipeline:\n${runs.map((r) => `  - runs: ${r}\n`).join('')}`),
    );
    await load(ok);
    const bad = await withFile(
      'packages/app.yaml',
      config('app', 'pipeline:\n  - runs: echo ${{targets.subpkgdir}}\n  - name: ${{targets.destdir}}\n'),
    );
    // targets.subpkgdir is a subpackage's only; a step's name is not compiled, so it may hold anything.
    expect(await problemsOf(bad)).toEqual([
      expect.objectContaining({
        file: 'packages/app.yaml',
        field: 'pipeline[0].runs',
        line: 9,
        message: '"echo ${{targets.subpkgdir}}" uses ${{targets.subpkgdir}}, which melange does not define here',
      }),
    ]);
  });

  it('reports a problem inside a catalog pipeline once, in that file, with its line', async () => {
    const dir = await withFile(
      'pipelines/build/finish.yaml',
      'name: finish\ninputs:\n  tool: { default: finish-plain }\npipeline:\n  - uses: build/polish\n',
    );
    const problems = await problemsOf(dir);
    // app and x86-tool both reach it; reported once, naming the first.
    expect(problems).toEqual([
      {
        file: 'pipelines/build/finish.yaml',
        field: 'pipeline[0].uses',
        line: 5,
        message:
          '"build/polish" is neither a catalog pipeline (pipelines/build/polish.yaml) nor a built-in pipeline of melange 0.58.0 (first seen in packages/app.yaml pipeline[0].uses)',
        fix: expect.stringMatching(/^add pipelines\/build\/polish\.yaml to the catalog/),
      },
    ]);
  });

  it('stops a pipeline that uses itself again', async () => {
    const dir = await withFile(
      'pipelines/build/finish.yaml',
      'name: loop\ninputs:\n  tool: { required: true }\npipeline:\n  - uses: build/compile\n',
    );
    // Entered from build/compile (app's build) and from build/finish (app-doc's): the loop closes
    // in either file.
    expect((await problemsOf(dir)).map((p) => `${p.file}:${p.line} ${p.field}: ${p.message}`)).toEqual([
      'pipelines/build/finish.yaml:5 pipeline[0].uses: uses build/compile, which is already being expanded (build/compile -> build/finish -> build/compile) (first seen in packages/app.yaml pipeline[0].uses)',
      'pipelines/build/compile.yaml:19 pipeline[1].uses: uses build/finish, which is already being expanded (build/finish -> build/compile -> build/finish) (first seen in packages/app.yaml subpackages[0].pipeline[0].uses)',
    ]);
  });

  it('names the dependency a package needs on an arch it is not built for', async () => {
    const app = await readFile(join(FIXTURES, 'melange-pipelines', 'packages', 'app.yaml'), 'utf8');
    const dir = await withFile(
      'packages/app.yaml',
      app.replace('packages: [busybox]', 'packages: [busybox, x86-tool]'),
    );
    expect(await problemsOf(dir)).toEqual([
      {
        file: 'packages/app.yaml',
        field: 'environment.contents.packages[1]',
        message:
          'builds against "x86-tool" from x86-tool, which is not built for aarch64 (packages/x86-tool.yaml package.target-architecture: [x86_64])',
        fix: 'add aarch64 to package.target-architecture in packages/x86-tool.yaml, or limit this package to [x86_64] with package.target-architecture',
      },
    ]);
  });

  it('names a target-architecture melange never builds for', async () => {
    const dir = await withFile(
      'packages/x86-app.yaml',
      config('x86-app', '').replace('  epoch: 0\n', '  epoch: 0\n  target-architecture: [amd64]\n'),
    );
    expect(await problemsOf(dir)).toEqual([
      expect.objectContaining({
        file: 'packages/x86-app.yaml',
        field: 'package.target-architecture[0]',
        message: expect.stringContaining('"amd64" is not an APK arch name'),
      }),
    ]);
  });
});

describe('pipelineLibrary', () => {
  it('prefers the catalog’s pipeline to melange’s built-in of the same name, and reads each file once', async () => {
    const dir = await withFile('pipelines/autoconf/make.yaml', 'name: ours\nneeds:\n  packages: [make]\n');
    const problems: CatalogProblem[] = [];
    const first = pipelineLibrary(dir, problems).lookup('autoconf/make')!;
    expect(first).toMatchObject({ file: 'pipelines/autoconf/make.yaml', builtin: false, doc: { name: 'ours' } });
    // Another load in the same process gets the same parsed document.
    expect(pipelineLibrary(dir, problems).lookup('autoconf/make')!.doc).toBe(first.doc);
    expect(pipelineLibrary(join(FIXTURES, 'melange-pipelines'), problems).lookup('autoconf/make')).toMatchObject({
      file: 'melange 0.58.0 built-in autoconf/make',
      builtin: true,
    });
    expect(problems).toEqual([]);
  });

  it('without the built-ins, warns once and judges only the catalog’s own names', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      const problems: CatalogProblem[] = [];
      const missing = join(catalogs.state, 'no-tools');
      for (let i = 0; i < 2; i++) {
        const library = pipelineLibrary(join(FIXTURES, 'melange-pipelines'), problems, missing);
        expect(library.builtinsAvailable).toBe(false);
        expect(library.lookup('autoconf/make')).toBeUndefined();
        expect(library.lookup('build/compile')).toMatchObject({ builtin: false });
      }
      expect(warn.mock.calls.map((c) => String(c[0]))).toEqual([
        expect.stringContaining('built-in pipelines are not in'),
      ]);
      expect(problems).toEqual([]);
    } finally {
      warn.mockRestore();
    }
  });
});
