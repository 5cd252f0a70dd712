// Domain: pure catalog model, plan and rules (no fs, no network, no process): workflows and the
// CLI use them too. These are the catalog's validation rules, over parsed YAML and the list of files
// io/catalog-loader.ts read: every problem is collected (not just the first), each naming the
// file, the field and the fix.
import { ApplicationFailure } from '@temporalio/common';
import { LineCounter, isNode, isScalar, parseDocument } from 'yaml';
import { isValidApkVersion } from './apk-version.js';
import type { CatalogProblem, ImageSpec, PackageSpec } from './catalog.js';
import { FAILURES } from './failures.js';
import {
  expandSubpackages,
  melangeVars,
  substitute,
  unresolved,
  type VarMap,
  type VarProblem,
} from './melange-vars.js';
import { bootstrapFix, breakCycles } from './build-order.js';
import { atomName, catalogProviders } from './plan.js';
import {
  buildDependencyList,
  compilePackage,
  fieldOf,
  type CompiledSubpackage,
  type PipelineLibrary,
} from './melange-pipelines.js';
import { archsToCompile, targetArchitecture } from './package-archs.js';

const VAR_FIX =
  'define it under vars: or var-transforms (package.*, vars.*, and range.* in a range subpackage are substituted), or correct its spelling';

export function formatProblems(problems: CatalogProblem[]): string {
  return problems
    .map((p) => `${p.file}${p.line ? `:${p.line}` : ''}: ${p.field}: ${p.message} (fix: ${p.fix})`)
    .join('\n');
}

/** The catalog does not validate: every problem, one per line of the message. Never retried. */
export class CatalogInvalid extends ApplicationFailure {
  constructor(readonly problems: CatalogProblem[]) {
    super(
      `catalog is invalid (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${formatProblems(problems)}`,
      'CatalogInvalid',
      !FAILURES.CatalogInvalid.retryable,
      [problems],
    );
  }
}

export const NAME = /^[a-z0-9][a-z0-9._+-]*$/;
/** Package names as melange and apk accept them (melange's packageNameRegex), case-sensitive. */
export const PACKAGE_NAME = /^[A-Za-z0-9][A-Za-z0-9+_.-]*$/;
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

export type Obj = Record<string, unknown>;
export const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Collects problems for one file. */
export class FileCheck {
  constructor(
    readonly file: string,
    private readonly problems: CatalogProblem[],
  ) {}
  add(field: string, message: string, fix: string, line?: number): void {
    this.problems.push({ file: this.file, field, message, fix, ...(line ? { line } : {}) });
  }
  /** A problem of another file found while checking this one (a pipeline file a config uses). */
  report(problem: CatalogProblem): void {
    this.problems.push(problem);
  }
  unknownKeys(doc: Obj, allowed: string[], prefix = ''): void {
    for (const k of Object.keys(doc)) {
      if (!allowed.includes(k))
        this.add(`${prefix}${k}`, 'unknown key', `remove it, or use one of: ${allowed.join(', ')}`);
    }
  }
  /** An optional mapping: absent is {}, any other type is a problem (and {}). */
  mapping(value: unknown, field: string, example: string): Obj {
    if (value === undefined || value === null) return {};
    if (isObj(value)) return value;
    this.add(
      field,
      `must be a mapping, got ${Array.isArray(value) ? 'a list' : typeof value}`,
      `write it as ${example}`,
    );
    return {};
  }
  /** A list of strings with melange's substitutions applied; placeholders left unset are problems. */
  substituted(value: unknown, field: string, vars: VarMap): string[] {
    return this.substitutedAt(value, field, vars).map((x) => x.value);
  }
  /** As `substituted`, each value with the field it was written at (`field[i]`). */
  substitutedAt(value: unknown, field: string, vars: VarMap): { value: string; field: string }[] {
    return this.stringList(value, field).flatMap((raw, i) => {
      const text = substitute(raw, vars);
      const unset = unresolved(text);
      if (!unset.length) return [{ value: text, field: `${field}[${i}]` }];
      this.add(`${field}[${i}]`, `"${raw}" uses \${{${unset[0]}}}, which melange does not define here`, VAR_FIX);
      return [];
    });
  }
  stringList(value: unknown, field: string): string[] {
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) {
      this.add(field, 'must be a list of strings', `write it as [a, b] or as "- a" lines`);
      return [];
    }
    return value as string[];
  }
  name(value: unknown, field: string, what: string): string | undefined {
    if (typeof value !== 'string' || value === '') {
      this.add(field, `missing ${what} name`, `set ${field} to a name like "hello"`);
      return undefined;
    }
    const unset = unresolved(value);
    if (unset.length) {
      this.add(field, `"${value}" uses \${{${unset[0]}}}, which melange does not define here`, VAR_FIX);
      return undefined;
    }
    if (!PACKAGE_NAME.test(value) || value.includes('..')) {
      this.add(
        field,
        `"${value}" is not a valid ${what} name (it must match [A-Za-z0-9][A-Za-z0-9+_.-]* and must not contain "..", so it cannot escape a directory)`,
        'use upper- or lower-case letters, digits, ".", "_", "+" and "-", starting with a letter or digit',
      );
      return undefined;
    }
    return value;
  }
}

/**
 * Parses one YAML file's text into a mapping, or records why it cannot. Scalars at `literal` paths keep
 * their text: melange reads them into strings, so `version: 1.10` means "1.10", not 1.1.
 */
export function parseYaml(
  file: string,
  text: string,
  problems: CatalogProblem[],
  literal: string[][] = [],
): Obj | undefined {
  const check = new FileCheck(file, problems);
  const doc = parseDocument(text, { keepSourceTokens: true });
  if (doc.errors.length) {
    for (const e of doc.errors) {
      const at = e.linePos?.[0] ? `line ${e.linePos[0].line}, column ${e.linePos[0].col}` : '(document)';
      check.add(
        at,
        `malformed YAML: ${e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`,
        'correct the YAML syntax at that position',
      );
    }
    return undefined;
  }
  for (const path of literal) {
    const node = doc.getIn(path, true);
    if (isScalar(node) && typeof node.value === 'number' && node.srcToken && 'source' in node.srcToken)
      node.value = node.srcToken.source;
  }
  const value = doc.toJS() as unknown;
  if (!isObj(value)) {
    check.add('(document)', 'must be a YAML mapping', 'write key: value pairs at the top level');
    return undefined;
  }
  return value;
}

/** The line of a YAML path in its file, when known. */
export type Locate = (path: (string | number)[]) => number | undefined;

/** Finds the line a path of a YAML text starts on, for problems that name it. */
export function yamlLocator(text: string): Locate {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter });
  return (path) => {
    const node = doc.getIn(path, true);
    return isNode(node) && node.range ? lineCounter.linePos(node.range[0]).line : undefined;
  };
}

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

export function checkUniqueNames(packages: PackageSpec[], problems: CatalogProblem[]): void {
  // Names must be unique across packages and subpackages, whichever file declares them.
  const declaredIn = new Map<string, string>();
  for (const p of packages) {
    for (const [n, field] of [
      [p.name, 'package.name'],
      ...p.subpackages.map((s, i) => [s, `subpackages[${i}].name`]),
    ] as [string, string][]) {
      const other = declaredIn.get(n);
      if (other)
        new FileCheck(p.file, problems).add(
          field,
          `package "${n}" is also declared in ${other}`,
          `rename one of them, or remove the duplicate from ${p.file}`,
        );
      else declaredIn.set(n, p.file);
    }
  }
}

/** What the configured repositories provide, as the loader could read them. */
/** Names melange generates from a package's files (`so:libz.so.1`, `cmd:gzip`, `pc:zlib`, `py3.12:x`). */
const GENERATED_NAME = /^(so|cmd|pc|py\d?\.\d+):/;

/** Package names listed in a cycle problem; the rest are counted. */
const MEMBERS_LISTED = 20;

export interface ExternalProvides {
  /** Names the repositories' indexes provide. */
  external: Set<string>;
  /** Names kiln's own package repository holds a build of: older builds that break a cycle. */
  packageRepository?: Set<string>;
  /** A repository could not be read: nobody can tell what it provides. */
  unreadable: boolean;
  /** Package files that could not be read: taken as declared, so one broken file does not also
   * report every package that depends on it. */
  unreadablePackages: Set<string>;
}

/** Every dependency is provided by the catalog or a repository, and builds form no cycle. */
export function checkDependencies(
  packages: PackageSpec[],
  images: ImageSpec[],
  { external, packageRepository, unreadable, unreadablePackages }: ExternalProvides,
  problems: CatalogProblem[],
): void {
  const older = (name: string) => external.has(name) || (packageRepository?.has(name) ?? false);
  const providers = catalogProviders(packages);
  // With a repository unreadable nobody can tell what it provides: say that once, not per name.
  const provided = (atom: string) =>
    unreadable ||
    providers.has(atomName(atom)) ||
    external.has(atomName(atom)) ||
    unreadablePackages.has(atomName(atom));
  for (const p of packages) {
    const check = new FileCheck(p.file, problems);
    p.buildDependencies.forEach((atom, i) => {
      const n = atomName(atom);
      // Where it was written: environment.contents.packages, a test environment or a pipeline's needs.
      const field = p.buildDependencyFields?.[i] ?? `environment.contents.packages[${i}]`;
      // so:, cmd:, pc: names are what melange derives from built files: no config declares them.
      if (!provided(atom) && !GENERATED_NAME.test(n)) {
        check.add(
          field,
          `"${n}" is provided by no catalog package and no configured repository`,
          `add packages/${n}.yaml, correct the name, or add a repository that provides it to catalog.yaml repositories`,
        );
      } else if (providers.get(n) === p.name && !older(n) && !unreadable) {
        check.add(
          field,
          `dependency cycle: ${p.name} -> ${p.name} (it builds against its own "${n}" and neither a configured repository nor the package repository provides an older build)`,
          bootstrapFix([[p.name, p.name]]),
        );
      }
    });
    p.runtimeDependencies.forEach((atom, i) => {
      if (!provided(atom) && !GENERATED_NAME.test(atomName(atom))) {
        check.add(
          `package.dependencies.runtime[${i}]`,
          `"${atomName(atom)}" is provided by no catalog package and no configured repository`,
          `add packages/${atomName(atom)}.yaml, correct the name, or add a repository that provides it`,
        );
      }
    });
  }
  // An older published build breaks a cycle edge (recorded for planBuild); what is left is reported.
  const { dropped, cycles } = breakCycles(packages, providers, (n) => unreadable || older(n));
  for (const p of packages) if (dropped.has(p.name)) p.bootstrapFrom = dropped.get(p.name)!.sort();
  // Cycles that share a package are one knot to bootstrap: one problem each, not one per cycle
  // (a distribution's core without its published repository has thousands of cycles).
  const fileOf = new Map(packages.map((p) => [p.name, p.file]));
  for (const knot of knots(cycles)) {
    const [first] = knot;
    const members = [...new Set(knot.flat())].sort();
    const listed =
      members.length > MEMBERS_LISTED
        ? `${members.slice(0, MEMBERS_LISTED).join(', ')} and ${members.length - MEMBERS_LISTED} more`
        : members.join(', ');
    const shown = `${first!.join(' -> ')}${knot.length > 1 ? `, and ${knot.length - 1} more cycles among ${members.length} packages: ${listed}` : ''}`;
    new FileCheck(fileOf.get(first![0]!)!, problems).add(
      'environment.contents.packages',
      `dependency cycle: ${shown} (neither a configured repository nor the package repository holds an older build of any of them)`,
      bootstrapFix(knot),
    );
  }
  for (const img of images) {
    img.packages.forEach((atom, i) => {
      if (!provided(atom)) {
        new FileCheck(img.file, problems).add(
          `contents.packages[${i}]`,
          `"${atomName(atom)}" is provided by no catalog package and no configured repository`,
          `add packages/${atomName(atom)}.yaml, correct the name, or add a repository that provides it`,
        );
      }
    });
  }
}

/** Groups cycles that share a package (union-find over their members), in the order first found. */
function knots(cycles: string[][]): string[][][] {
  const parent = new Map<string, string>();
  const find = (x: string): string => {
    while (parent.get(x) !== x) x = parent.get(x) ?? (parent.set(x, x), x);
    return x;
  };
  for (const cycle of cycles) for (const n of cycle) find(n);
  for (const cycle of cycles) for (const n of cycle.slice(1)) parent.set(find(n), find(cycle[0]!));
  const groups = new Map<string, string[][]>();
  for (const cycle of cycles) {
    const root = find(cycle[0]!);
    (groups.get(root) ?? groups.set(root, []).get(root)!).push(cycle);
  }
  return [...groups.values()];
}
