// Domain: the rules of a package config (packages/<name>.yaml, melange's format), pure: its keys,
// name (matching its file), version and epoch, subpackages with `range:` expanded, melange's
// substitutions, `target-architecture`, and its build dependencies with the field each is written
// at, from the environment, every pipeline's needs (`uses:` followed) and its tests. The shared
// machinery (FileCheck, parseYaml) is catalog-rules.ts; dependencies across packages are
// dependency-rules.ts.
import { isValidApkVersion } from './apk-version.js';
import type { PackageSpec } from './catalog.js';
import { isObj, type FileCheck, type Locate, type Obj } from './catalog-rules.js';
import { fieldOf, type PipelineLibrary } from './melange-pipeline-library.js';
import { buildDependencyList, compilePackage, type CompiledSubpackage } from './melange-pipelines.js';
import { expandSubpackages, melangeVars, substitute, type VarProblem } from './melange-vars.js';
import { archsToCompile, targetArchitecture } from './package-archs.js';
import { atomName } from './plan.js';

const MELANGE_KEYS = [
  'package',
  'environment',
  'pipeline',
  'subpackages',
  'data',
  'update',
  'vars',
  'var-transforms',
  'options',
  'test',
  'capabilities',
  'vars-transforms',
];

/** What validatePackage knows of the catalog around a config. */
export interface PackageContext {
  /** catalog.yaml `archs` (default [x86_64]): the archs its pipelines are compiled for. */
  archs?: string[];
  /** Where `uses:` names are found (io/melange-pipelines.ts); without it `uses:` is not followed. */
  pipelines?: PipelineLibrary;
  /** The line of a path in the config, for problems. */
  locate?: Locate;
}

export function validatePackage(
  doc: Obj,
  file: string,
  check: FileCheck,
  context: PackageContext = {},
): PackageSpec | undefined {
  check.unknownKeys(doc, MELANGE_KEYS);
  if (!isObj(doc.package)) {
    if (doc.package === undefined || doc.package === null)
      check.add('package', 'missing required key', 'add a package: block with name, version and epoch');
    else check.add('package', 'must be a mapping', 'write package: with name, version and epoch indented under it');
    return undefined;
  }
  const pkg = doc.package;
  // melange substitutes ${{package.*}}, ${{vars.*}} and var-transforms before it reads any name.
  const varProblems: VarProblem[] = [];
  const vars = melangeVars(doc, varProblems);
  const rawName = typeof pkg.name === 'string' ? substitute(pkg.name, vars) : pkg.name;
  const name = check.name(rawName, 'package.name', 'package');
  const expected = file.replace(/^packages\//, '').replace(/\.yaml$/, '');
  if (name && name !== expected)
    check.add(
      'package.name',
      `"${name}" does not match the file name ${file}`,
      `rename the file to packages/${name}.yaml or set package.name: ${expected}`,
    );
  let version = '';
  if (typeof pkg.version !== 'string' && typeof pkg.version !== 'number')
    check.add('package.version', 'missing required key', 'add package.version, e.g. "1.2.3"');
  else {
    version = String(pkg.version);
    if (!isValidApkVersion(version) || version.includes('-r'))
      check.add(
        'package.version',
        `"${version}" is not a valid APK version`,
        'use digits and dots with an optional letter and _suffix, e.g. 1.2.3 or 1.2.3_rc1 (the epoch goes in package.epoch)',
      );
  }
  const epoch = pkg.epoch ?? 0;
  if (typeof epoch !== 'number' || !Number.isInteger(epoch) || epoch < 0)
    check.add(
      'package.epoch',
      `must be a whole number of at least 0, got ${JSON.stringify(epoch)}`,
      'set package.epoch: 0',
    );
  const env = check.mapping(doc.environment, 'environment', 'environment: { contents: { packages: [busybox] } }');
  const contents = check.mapping(env.contents, 'environment.contents', 'contents: { packages: [busybox] }');
  const deps = check.mapping(pkg.dependencies, 'package.dependencies', 'dependencies: { runtime: [busybox] }');
  if (doc.test !== undefined) check.mapping(doc.test, 'test', 'test: { pipeline: [{ runs: "hello --version" }] }');
  const subpackages: string[] = [];
  const compiled: CompiledSubpackage[] = [];
  const provides = check.substituted(deps.provides, 'package.dependencies.provides', vars).map(atomName);
  if (doc.subpackages !== undefined && !Array.isArray(doc.subpackages))
    check.add('subpackages', 'must be a list', 'write subpackages as a list of {name, pipeline}');
  // A `range:` subpackage is one subpackage per item of its `data:` entry.
  for (const { index: i, sub: s, vars: subVars } of expandSubpackages(doc, vars, varProblems)) {
    const sub = check.mapping(s, `subpackages[${i}]`, '- { name: hello-doc, pipeline: [...] }');
    const subName = typeof sub.name === 'string' ? substitute(sub.name, subVars) : sub.name;
    const n = check.name(subName, `subpackages[${i}].name`, 'subpackage');
    if (n) subpackages.push(n);
    compiled.push({ index: i, sub, vars: subVars, name: typeof subName === 'string' ? subName : '' });
    const subDeps = check.mapping(
      sub.dependencies,
      `subpackages[${i}].dependencies`,
      'dependencies: { provides: [...] }',
    );
    provides.push(
      ...check.substituted(subDeps.provides, `subpackages[${i}].dependencies.provides`, subVars).map(atomName),
    );
  }
  for (const p of varProblems) check.add(p.field, p.message, p.fix);
  if (doc.pipeline !== undefined && !Array.isArray(doc.pipeline))
    check.add(
      'pipeline',
      'must be a list of steps',
      'write pipeline as a list of "- runs: ..." or "- uses: ..." steps',
    );
  const target = targetArchitecture(
    check.substitutedAt(pkg['target-architecture'], 'package.target-architecture', vars),
    check,
  );
  // What the pipelines (`uses:` included) and tests need, for the archs it is built for.
  const needs = compilePackage({
    doc,
    vars,
    name: typeof rawName === 'string' ? rawName : '',
    subpackages: compiled,
    archs: archsToCompile(target, context.archs),
    library: context.pipelines,
    file,
    sink: {
      add: (path, message, fix) => check.add(fieldOf(path), message, fix, context.locate?.(path)),
      addIn: (problem) => check.report(problem),
    },
  });
  if (!name) return undefined;
  const testContents = [
    ...check.substitutedAt(
      isObj(doc.test) ? environmentPackages(doc.test) : undefined,
      'test.environment.contents.packages',
      vars,
    ),
    ...compiled.flatMap((s) =>
      check.substitutedAt(
        isObj(s.sub.test) ? environmentPackages(s.sub.test) : undefined,
        `subpackages[${s.index}].test.environment.contents.packages`,
        s.vars,
      ),
    ),
  ];
  const dependencies = buildDependencyList(
    check.substitutedAt(contents.packages, 'environment.contents.packages', vars),
    needs,
    testContents,
    new Set([name, ...subpackages, ...provides]),
  );
  return {
    name,
    version,
    epoch: typeof epoch === 'number' ? epoch : 0,
    file,
    subpackages,
    provides,
    buildDependencies: dependencies.map((d) => d.value),
    buildDependencyFields: dependencies.map((d) => d.field),
    runtimeDependencies: check.substituted(deps.runtime, 'package.dependencies.runtime', vars),
    hasTest: doc.test !== undefined,
    ...(target ? { archs: target } : {}),
    ...(needs.catalogFiles.length ? { pipelines: needs.catalogFiles } : {}),
  };
}

/** A test's `environment.contents.packages`, wherever it is not a mapping left undefined (the schema says why). */
function environmentPackages(test: Obj): unknown {
  const env = test.environment;
  return isObj(env) && isObj(env.contents) ? env.contents.packages : undefined;
}
