// melange features in a catalog: substitution, var-transforms, data ranges, constraints, virtual
// provides, upper-case names and bootstrap cycles, judged and ordered as melange and a distribution do.
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { CatalogProblem, PackageSpec } from '../../../domain/catalog.js';
import { FileCheck, parseYaml } from '../../../domain/catalog-rules.js';
import { checkDependencies, checkUniqueNames } from '../../../domain/dependency-rules.js';
import { validatePackage } from '../../../domain/package-rules.js';
import { planBuild } from '../../../domain/plan.js';
import { REPO_ROOT } from '../../../config/config.js';

const FIXTURE = join(REPO_ROOT, 'test', 'fixtures', 'melange-features');

/** Validates package YAML texts with the catalog rules, against what a repository index provides. */
function judge(files: Record<string, string>, external: string[]) {
  const problems: CatalogProblem[] = [];
  const packages: PackageSpec[] = [];
  for (const [file, text] of Object.entries(files)) {
    const doc = parseYaml(file, text, problems, [['package', 'version']]);
    const spec = doc && validatePackage(doc, file, new FileCheck(file, problems));
    if (spec) packages.push(spec);
  }
  checkUniqueNames(packages, problems);
  const provides = { external: new Set(external), unreadable: false, unreadablePackages: new Set<string>() };
  checkDependencies(packages, [], provides, problems);
  return { problems, packages };
}

async function fixtureFiles(): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const f of (await readdir(join(FIXTURE, 'packages'))).sort())
    out[`packages/${f}`] = await readFile(join(FIXTURE, 'packages', f), 'utf8');
  return out;
}

const settings = {} as never;

describe('a catalog using melange features', () => {
  it('validates with names and dependencies as melange substitutes them', async () => {
    const { problems, packages } = judge(await fixtureFiles(), ['busybox', 'compiler', 'cyc-x']);
    expect(problems).toEqual([]);
    const libfoo = packages.find((p) => p.name === 'libfoo')!;
    expect(libfoo.subpackages).toEqual(['libfoo-dev', 'libfoo3', 'libfoo-1.2-compat']);
    expect(libfoo.provides).toEqual(['pc:libfoo', 'so:libfoo.so.3']);
    expect(libfoo.runtimeDependencies).toEqual(['libfoo3=1.2.3-r1']);
    const pyBar = packages.find((p) => p.name === 'py-bar')!;
    expect(pyBar.subpackages).toEqual(['py3.11-bar', 'py3.12-bar']);
    expect(pyBar.provides).toEqual(['py3-bar-cp311', 'py3-bar-cp312']);
    expect(packages.find((p) => p.name === 'cyc-y')!.bootstrapFrom).toEqual(['cyc-x']);
  });

  it('orders every package after its build dependencies, self-dependencies and broken cycles left out', async () => {
    const { packages } = judge(await fixtureFiles(), ['busybox', 'compiler', 'cyc-x']);
    const plan = planBuild({ dir: FIXTURE, settings, packages, images: [] });
    expect(plan.levels).toEqual([
      // cyc-y builds first, against the published older cyc-x; then cyc-x against the new cyc-y-tools.
      ['compiler', 'cyc-y', 'libfoo'],
      ['cyc-x', 'py-bar'],
      ['R-DBI'],
    ]);
    expect(plan.packages.find((p) => p.name === 'R-DBI')!.dependsOn).toEqual(['libfoo', 'py-bar']);
    expect(plan.packages.find((p) => p.name === 'compiler')!.dependsOn).toEqual([]);
  });

  it('without an older build, names the cycle and how to bootstrap it', async () => {
    const { problems } = judge(await fixtureFiles(), ['busybox']);
    expect(problems.map((p) => `${p.file}: ${p.field}: ${p.message} (fix: ${p.fix})`)).toEqual([
      expect.stringMatching(
        /^packages\/compiler\.yaml: environment\.contents\.packages\[1\]: dependency cycle: compiler -> compiler .*publish an older build of compiler to a repository/,
      ),
      expect.stringMatching(
        /^packages\/cyc-x\.yaml: environment\.contents\.packages: dependency cycle: cyc-x -> cyc-y -> cyc-x .*publish an older build of cyc-x or cyc-y/,
      ),
    ]);
  });

  it('reports placeholders melange leaves undefined, undefined ranges and RE2-only patterns', () => {
    const { problems } = judge(
      {
        'packages/bad.yaml': [
          'package: { name: bad, version: 1.0.0, epoch: 0 }',
          'var-transforms:',
          '  - { from: "${{package.version}}", match: "(?=1)", replace: "", to: x }',
          'environment: { contents: { packages: ["lib${{vars.nope}}"] } }',
          'subpackages:',
          '  - { name: "${{package.name}}-${{range.key}}", range: nothing }',
          '  - { name: "${{targets.destdir}}" }',
        ].join('\n'),
      },
      [],
    );
    expect(problems.map((p) => `${p.field}: ${p.message}`)).toEqual([
      'subpackages[1].name: "${{targets.destdir}}" uses ${{targets.destdir}}, which melange does not define here',
      'var-transforms[0].match: "(?=1)": lookahead and lookbehind ((?=, (?!, (?<=, (?<!) are not RE2 syntax',
      'subpackages[0].range: range "nothing" is not defined under data:',
      'environment.contents.packages[0]: "lib${{vars.nope}}" uses ${{vars.nope}}, which melange does not define here',
    ]);
  });

  it('accepts names apk accepts, case-sensitive, and never one that escapes a directory', () => {
    for (const name of ['R-DBI', 'Catch2', 'py3.12-foo', 'c++-tools', 'a_b'])
      expect(
        judge({ [`packages/${name}.yaml`]: `package: { name: "${name}", version: 1.0.0 }\n` }, []).problems,
      ).toEqual([]);
    for (const name of ['../x', 'a/b', '.hidden', '-x', 'a..b', 'a b', 'x$'])
      expect(
        judge({ 'packages/x.yaml': `package: { name: "${name}", version: 1.0.0 }\n` }, []).problems[0]!.message,
      ).toMatch(/is not a valid package name/);
  });
});
