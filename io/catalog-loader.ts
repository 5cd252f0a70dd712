// Loads a catalog directory and validates all of it before anything runs. Every problem is
// collected (not just the first), each naming the file, the field and the fix.
import { existsSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { isScalar, parseDocument } from 'yaml';
import { isValidApkVersion } from '../domain/apk-version.js';
import { parseApkIndex, providedNames } from '../domain/apkindex.js';
import type { AllowedAbiBreak, Catalog, ScheduleSettings, UpdateSettings, CatalogProblem, CatalogSettings, ImageExpectations, ImageSpec, ImageTest, PackageSpec, Severity, VulnerabilityPolicy } from '../domain/catalog.js';
import { atomName, buildDependencies, catalogProviders, findCycle } from '../domain/plan.js';


export class CatalogInvalid extends Error {
  constructor(readonly problems: CatalogProblem[]) {
    super(`catalog is invalid (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${formatProblems(problems)}`);
    this.name = 'CatalogInvalid';
  }
}

export function formatProblems(problems: CatalogProblem[]): string {
  return problems.map((p) => `${p.file}: ${p.field}: ${p.message} (fix: ${p.fix})`).join('\n');
}

const NAME = /^[a-z0-9][a-z0-9._+-]*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
// `policy` is reserved for settings still to come: accepted so catalogs can carry it already.
const SETTINGS_KEYS = ['archs', 'repositories', 'keyring', 'packageRepository', 'registry', 'namespace', 'concurrency', 'vulnerabilities', 'schedule', 'updates', 'abi', 'policy'];
const MELANGE_KEYS = ['package', 'environment', 'pipeline', 'subpackages', 'data', 'update', 'vars', 'var-transforms', 'options', 'test', 'capabilities', 'vars-transforms'];
const APKO_KEYS = ['contents', 'entrypoint', 'cmd', 'stop-signal', 'work-dir', 'environment', 'accounts', 'archs', 'paths', 'vcs-url', 'annotations', 'volumes', 'layering', 'format', 'certificates', 'include'];
const IMAGE_KEYS = ['tags', 'tests', 'expectations'];

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Collects problems for one file. */
class FileCheck {
  constructor(readonly file: string, private readonly problems: CatalogProblem[]) {}
  add(field: string, message: string, fix: string): void {
    this.problems.push({ file: this.file, field, message, fix });
  }
  unknownKeys(doc: Obj, allowed: string[], prefix = ''): void {
    for (const k of Object.keys(doc)) {
      if (!allowed.includes(k)) this.add(`${prefix}${k}`, 'unknown key', `remove it, or use one of: ${allowed.join(', ')}`);
    }
  }
  /** An optional mapping: absent is {}, any other type is a problem (and {}). */
  mapping(value: unknown, field: string, example: string): Obj {
    if (value === undefined || value === null) return {};
    if (isObj(value)) return value;
    this.add(field, `must be a mapping, got ${Array.isArray(value) ? 'a list' : typeof value}`, `write it as ${example}`);
    return {};
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
    if (!NAME.test(value) || value.includes('..')) {
      this.add(field, `"${value}" is not a valid ${what} name (it must match [a-z0-9][a-z0-9._+-]* and must not contain "..", so it cannot escape a directory)`, 'use lower-case letters, digits, ".", "_", "+" and "-"');
      return undefined;
    }
    return value;
  }
}

/**
 * Parses one YAML file into a mapping, or records why it cannot. Scalars at `literal` paths keep
 * their text: melange reads them into strings, so `version: 1.10` means "1.10", not 1.1.
 */
async function readYaml(dir: string, file: string, problems: CatalogProblem[], literal: string[][] = []): Promise<Obj | undefined> {
  const check = new FileCheck(file, problems);
  const doc = parseDocument(await readFile(join(dir, file), 'utf8'), { keepSourceTokens: true });
  if (doc.errors.length) {
    for (const e of doc.errors) {
      const at = e.linePos?.[0] ? `line ${e.linePos[0].line}, column ${e.linePos[0].col}` : '(document)';
      check.add(at, `malformed YAML: ${e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`, 'correct the YAML syntax at that position');
    }
    return undefined;
  }
  for (const path of literal) {
    const node = doc.getIn(path, true);
    if (isScalar(node) && typeof node.value === 'number' && node.srcToken && 'source' in node.srcToken) node.value = node.srcToken.source;
  }
  const value = doc.toJS() as unknown;
  if (!isObj(value)) {
    check.add('(document)', 'must be a YAML mapping', 'write key: value pairs at the top level');
    return undefined;
  }
  return value;
}

/** `${VAR}` and `${VAR:-default}` from the worker's environment; '' when a variable is unset. */
function expand(value: string, env: Record<string, string | undefined>, check: FileCheck, field: string): string {
  let unset = false;
  const out = value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}/g, (_, name: string, hasDefault: string | undefined, fallback: string | undefined) => {
    const v = env[name];
    if (v !== undefined && v !== '') return v;
    if (hasDefault !== undefined) return fallback ?? '';
    check.add(field, `uses \${${name}}, which is not set (or empty) in the worker's environment`, `set ${name} for the worker, or write \${${name}:-default}`);
    unset = true;
    return '';
  });
  return unset ? '' : out;
}

function loadSettings(doc: Obj, dir: string, env: Record<string, string | undefined>, check: FileCheck): CatalogSettings {
  check.unknownKeys(doc, SETTINGS_KEYS);
  const str = (key: string, required: boolean, fallback = ''): string => {
    const v = doc[key];
    if (v === undefined) {
      if (required) check.add(key, 'missing required key', `add ${key}: to catalog.yaml`);
      return fallback;
    }
    if (typeof v !== 'string') {
      check.add(key, 'must be a string', `quote the value of ${key}`);
      return fallback;
    }
    return expand(v, env, check, key);
  };
  const list = (key: string, fallback: string[]) =>
    doc[key] === undefined ? fallback : check.stringList(doc[key], key).map((v, i) => expand(v, env, check, `${key}[${i}]`));
  const local = (p: string) => (/^https?:\/\//.test(p) || isAbsolute(p) || p === '' ? p : resolve(dir, p));
  const concurrency = { packages: 4, images: 2 };
  if (doc.concurrency !== undefined) {
    if (!isObj(doc.concurrency)) check.add('concurrency', 'must be a mapping', 'write concurrency: { packages: 4, images: 2 }');
    else {
      check.unknownKeys(doc.concurrency, ['packages', 'images'], 'concurrency.');
      for (const k of ['packages', 'images'] as const) {
        const v = doc.concurrency[k];
        if (v === undefined) continue;
        if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) check.add(`concurrency.${k}`, `must be a whole number of at least 1, got ${JSON.stringify(v)}`, `set concurrency.${k}: 2`);
        else concurrency[k] = v;
      }
    }
  }
  const archs = list('archs', ['x86_64']);
  archs.forEach((a, i) => {
    if (!['x86_64', 'aarch64'].includes(a)) check.add(`archs[${i}]`, `unknown arch "${a}"`, 'use x86_64 or aarch64');
  });
  const registry = str('registry', true);
  if (registry && !/^[A-Za-z0-9.-]+(:\d+)?(\/[a-z0-9._/-]+)?$/.test(registry)) {
    check.add('registry', `"${registry}" is not a registry target`, 'write host[:port]/prefix, e.g. 127.0.0.1:5000/kiln');
  }
  const packageRepository = str('packageRepository', true);
  let vulnerabilities: VulnerabilityPolicy | undefined;
  if (doc.vulnerabilities !== undefined) {
    const v = isObj(doc.vulnerabilities) ? doc.vulnerabilities : {};
    if (!isObj(doc.vulnerabilities)) check.add('vulnerabilities', 'must be a mapping', 'write vulnerabilities: { feed: security.json, policy: report }');
    check.unknownKeys(v, ['feed', 'policy', 'failOn'], 'vulnerabilities.');
    const feed = typeof v.feed === 'string' ? expand(v.feed, env, check, 'vulnerabilities.feed') : '';
    if (!feed) check.add('vulnerabilities.feed', 'missing required key', 'set vulnerabilities.feed to a security.json path or URL');
    const policy = v.policy ?? 'report';
    if (policy !== 'report' && policy !== 'fail') check.add('vulnerabilities.policy', `unknown policy ${JSON.stringify(policy)}`, 'use report or fail');
    const failOn = v.failOn ?? 'any';
    if (!['critical', 'high', 'medium', 'low', 'any'].includes(String(failOn))) check.add('vulnerabilities.failOn', `unknown severity ${JSON.stringify(failOn)}`, 'use critical, high, medium, low or any');
    vulnerabilities = { feed: local(feed), policy: policy === 'fail' ? 'fail' : 'report', failOn: failOn as Severity | 'any' };
  }
  const allowedBreaks: AllowedAbiBreak[] = [];
  if (doc.abi !== undefined) {
    const a = isObj(doc.abi) ? doc.abi : {};
    check.unknownKeys(a, ['allowedBreaks'], 'abi.');
    const list = Array.isArray(a.allowedBreaks) ? a.allowedBreaks : [];
    if (a.allowedBreaks !== undefined && !Array.isArray(a.allowedBreaks)) check.add('abi.allowedBreaks', 'must be a list', 'write - { package: libfoo, version: 2.0.0, reason: "..." }');
    list.forEach((b: unknown, i: number) => {
      const e = isObj(b) ? b : {};
      const field = `abi.allowedBreaks[${i}]`;
      if (typeof e.package !== 'string' || typeof e.version !== 'string' || typeof e.reason !== 'string' || !e.reason) {
        check.add(field, 'needs package, version and a reason', 'write - { package: libfoo, version: 2.0.0, reason: "soname bump, dependents rebuilt" }');
      } else allowedBreaks.push({ package: e.package, version: e.version, reason: e.reason });
    });
  }
  const section = (key: string, keys: string[]): Obj => {
    if (doc[key] === undefined) return {};
    if (!isObj(doc[key])) {
      check.add(key, 'must be a mapping', `write ${key}: { ${keys[0]}: ... }`);
      return {};
    }
    check.unknownKeys(doc[key] as Obj, keys, `${key}.`);
    return doc[key] as Obj;
  };
  const text = (o: Obj, key: string, field: string, fallback: string, valid?: RegExp, fix?: string): string => {
    if (o[key] === undefined) return fallback;
    const v = typeof o[key] === 'string' ? expand(o[key] as string, env, check, field) : undefined;
    if (v === undefined || (valid && !valid.test(v))) {
      check.add(field, `invalid value ${JSON.stringify(o[key])}`, fix ?? `write a string`);
      return fallback;
    }
    return v;
  };
  const duration = /^\d+(s|m|h|d)$/;
  const sched = section('schedule', ['cron', 'timezone', 'overlap', 'catchupWindow']);
  const schedule: ScheduleSettings = {
    cron: text(sched, 'cron', 'schedule.cron', '17 2 * * *', /^\S+ \S+ \S+ \S+ \S+$/, 'write five cron fields, e.g. "17 2 * * *"'),
    timezone: text(sched, 'timezone', 'schedule.timezone', 'UTC'),
    overlap: text(sched, 'overlap', 'schedule.overlap', 'skip', /^(skip|buffer-one|buffer-all|cancel-other|terminate-other|allow-all)$/,
      'use skip, buffer-one, buffer-all, cancel-other, terminate-other or allow-all') as ScheduleSettings['overlap'],
    catchupWindow: text(sched, 'catchupWindow', 'schedule.catchupWindow', '1h', duration, 'write a duration such as 30m, 1h or 1d'),
  };
  const upd = section('updates', ['every', 'branchPrefix', 'onMainBranch', 'githubApi', 'repositories']);
  const updateRepositories: Record<string, string> = {};
  if (upd.repositories !== undefined) {
    if (!isObj(upd.repositories)) check.add('updates.repositories', 'must be a mapping of package name to git URL', 'write repositories: { hello: https://example.org/hello.git }');
    else for (const [k, v] of Object.entries(upd.repositories)) {
      if (typeof v !== 'string') check.add(`updates.repositories.${k}`, 'must be a git URL or path', 'write the repository URL as a string');
      else updateRepositories[k] = expand(v, env, check, `updates.repositories.${k}`);
    }
  }
  if (upd.onMainBranch !== undefined && typeof upd.onMainBranch !== 'boolean') check.add('updates.onMainBranch', 'must be true or false', 'write onMainBranch: false');
  const updates: UpdateSettings = {
    every: text(upd, 'every', 'updates.every', '1h', duration, 'write a duration such as 30m, 1h or 1d'),
    branchPrefix: text(upd, 'branchPrefix', 'updates.branchPrefix', 'kiln/update/', /^[A-Za-z0-9._/-]+$/, 'use letters, digits, ".", "_", "/" and "-"'),
    onMainBranch: upd.onMainBranch === true,
    githubApi: text(upd, 'githubApi', 'updates.githubApi', 'https://api.github.com', /^https?:\/\//, 'write an http(s) URL'),
    repositories: updateRepositories,
  };
  return {
    archs,
    repositories: list('repositories', []).map(local),
    keyring: list('keyring', []).map(local),
    packageRepository: packageRepository && local(packageRepository),
    registry,
    namespace: str('namespace', false, 'kiln'),
    concurrency,
    ...(vulnerabilities ? { vulnerabilities } : {}),
    abi: { allowedBreaks },
    schedule,
    updates,
  };
}

function loadPackage(doc: Obj, file: string, check: FileCheck): PackageSpec | undefined {
  check.unknownKeys(doc, MELANGE_KEYS);
  if (!isObj(doc.package)) {
    if (doc.package === undefined || doc.package === null) check.add('package', 'missing required key', 'add a package: block with name, version and epoch');
    else check.add('package', 'must be a mapping', 'write package: with name, version and epoch indented under it');
    return undefined;
  }
  const pkg = doc.package;
  const name = check.name(pkg.name, 'package.name', 'package');
  const expected = file.replace(/^packages\//, '').replace(/\.yaml$/, '');
  if (name && name !== expected) check.add('package.name', `"${name}" does not match the file name ${file}`, `rename the file to packages/${name}.yaml or set package.name: ${expected}`);
  let version = '';
  if (typeof pkg.version !== 'string' && typeof pkg.version !== 'number') check.add('package.version', 'missing required key', 'add package.version, e.g. "1.2.3"');
  else {
    version = String(pkg.version);
    if (!isValidApkVersion(version) || version.includes('-r')) check.add('package.version', `"${version}" is not a valid APK version`, 'use digits and dots with an optional letter and _suffix, e.g. 1.2.3 or 1.2.3_rc1 (the epoch goes in package.epoch)');
  }
  const epoch = pkg.epoch ?? 0;
  if (typeof epoch !== 'number' || !Number.isInteger(epoch) || epoch < 0) check.add('package.epoch', `must be a whole number of at least 0, got ${JSON.stringify(epoch)}`, 'set package.epoch: 0');
  const env = check.mapping(doc.environment, 'environment', 'environment: { contents: { packages: [busybox] } }');
  const contents = check.mapping(env.contents, 'environment.contents', 'contents: { packages: [busybox] }');
  const deps = check.mapping(pkg.dependencies, 'package.dependencies', 'dependencies: { runtime: [busybox] }');
  if (doc.test !== undefined) check.mapping(doc.test, 'test', 'test: { pipeline: [{ runs: "hello --version" }] }');
  const subpackages: string[] = [];
  const provides = check.stringList(deps.provides, 'package.dependencies.provides').map(atomName);
  if (doc.subpackages !== undefined) {
    if (!Array.isArray(doc.subpackages)) check.add('subpackages', 'must be a list', 'write subpackages as a list of {name, pipeline}');
    else doc.subpackages.forEach((s: unknown, i: number) => {
      const sub = check.mapping(s, `subpackages[${i}]`, '- { name: hello-doc, pipeline: [...] }');
      const n = check.name(sub.name, `subpackages[${i}].name`, 'subpackage');
      if (n) subpackages.push(n);
      const subDeps = check.mapping(sub.dependencies, `subpackages[${i}].dependencies`, 'dependencies: { provides: [...] }');
      provides.push(...check.stringList(subDeps.provides, `subpackages[${i}].dependencies.provides`).map(atomName));
    });
  }
  if (doc.pipeline !== undefined && !Array.isArray(doc.pipeline)) check.add('pipeline', 'must be a list of steps', 'write pipeline as a list of "- runs: ..." or "- uses: ..." steps');
  if (!name) return undefined;
  return {
    name,
    version,
    epoch: typeof epoch === 'number' ? epoch : 0,
    file,
    subpackages,
    provides,
    buildDependencies: check.stringList(contents.packages, 'environment.contents.packages'),
    runtimeDependencies: check.stringList(deps.runtime, 'package.dependencies.runtime'),
    hasTest: doc.test !== undefined,
  };
}

function loadImage(name: string, apko: Obj, image: Obj | undefined, dir: string, check: FileCheck, imageCheck: FileCheck): ImageSpec {
  check.unknownKeys(apko, APKO_KEYS);
  let packages: string[] = [];
  if (apko.contents === undefined || apko.contents === null) check.add('contents', 'missing required key', 'add contents: { packages: [...] }');
  else {
    const contents = check.mapping(apko.contents, 'contents', 'contents: { packages: [busybox] }');
    if (contents.packages === undefined || contents.packages === null) check.add('contents.packages', 'missing required key', 'list the packages the image installs under contents.packages');
    else if (Array.isArray(contents.packages) && contents.packages.length === 0) check.add('contents.packages', 'no packages listed', 'list the packages the image installs');
    else packages = check.stringList(contents.packages, 'contents.packages');
  }
  if (apko.entrypoint !== undefined) check.mapping(apko.entrypoint, 'entrypoint', 'entrypoint: { command: /usr/bin/app }');
  if (apko.archs !== undefined) check.stringList(apko.archs, 'archs');
  let tags = ['latest'];
  if (image) {
    imageCheck.unknownKeys(image, IMAGE_KEYS);
    if (image.tags !== undefined) {
      tags = imageCheck.stringList(image.tags, 'tags');
      tags.forEach((t, i) => {
        if (!TAG.test(t)) imageCheck.add(`tags[${i}]`, `"${t}" is not a valid OCI tag`, 'use letters, digits, "_", "." and "-" (at most 128, not starting with "." or "-")');
      });
    }
  }
  const tests: ImageTest[] = [];
  const expectations: ImageExpectations = {};
  if (image?.tests !== undefined) {
    if (!Array.isArray(image.tests)) imageCheck.add('tests', 'must be a list', 'write - { name: version, command: [app, --version], output: "1\\.2" }');
    else image.tests.forEach((t: unknown, i: number) => {
      const e = isObj(t) ? t : {};
      const field = `tests[${i}]`;
      imageCheck.unknownKeys(e, ['name', 'command', 'exitCode', 'output'], `${field}.`);
      const command = imageCheck.stringList(e.command, `${field}.command`);
      if (typeof e.name !== 'string' || command.length === 0) {
        imageCheck.add(field, 'needs a name and a command', 'write - { name: runs, command: [/usr/bin/app, --help] }');
        return;
      }
      if (e.exitCode !== undefined && !Number.isInteger(e.exitCode)) imageCheck.add(`${field}.exitCode`, 'must be a whole number', 'write exitCode: 0');
      if (e.output !== undefined) {
        try {
          new RegExp(String(e.output));
        } catch {
          imageCheck.add(`${field}.output`, `${JSON.stringify(e.output)} is not a regular expression`, 'escape special characters such as ( [ .');
        }
      }
      tests.push({ name: e.name, command, exitCode: typeof e.exitCode === 'number' ? e.exitCode : 0, ...(e.output !== undefined ? { output: String(e.output) } : {}) });
    });
  }
  if (image?.expectations !== undefined) {
    const x = isObj(image.expectations) ? image.expectations : {};
    imageCheck.unknownKeys(x, ['entrypoint', 'nonRoot', 'user', 'environment', 'filesPresent', 'filesAbsent', 'maxSizeMiB'], 'expectations.');
    if (x.entrypoint !== undefined) expectations.entrypoint = imageCheck.stringList(x.entrypoint, 'expectations.entrypoint');
    if (x.nonRoot !== undefined) expectations.nonRoot = x.nonRoot === true;
    if (x.user !== undefined) expectations.user = String(x.user);
    if (x.environment !== undefined) {
      if (!isObj(x.environment)) imageCheck.add('expectations.environment', 'must be a mapping', 'write environment: { PATH: /usr/bin }');
      else expectations.environment = Object.fromEntries(Object.entries(x.environment).map(([k, v]) => [k, String(v)]));
    }
    if (x.filesPresent !== undefined) expectations.filesPresent = imageCheck.stringList(x.filesPresent, 'expectations.filesPresent');
    if (x.filesAbsent !== undefined) expectations.filesAbsent = imageCheck.stringList(x.filesAbsent, 'expectations.filesAbsent');
    if (x.maxSizeMiB !== undefined) {
      if (typeof x.maxSizeMiB !== 'number' || x.maxSizeMiB <= 0) imageCheck.add('expectations.maxSizeMiB', 'must be a positive number', 'write maxSizeMiB: 20');
      else expectations.maxSizeMiB = x.maxSizeMiB;
    }
  }
  return { name, file: `${dir}/apko.yaml`, packages, tags, tests, expectations };
}

/** Names a repository's index for one arch provides; a local repository without that arch provides nothing. */
async function repositoryProvides(repo: string, arch: string): Promise<Set<string>> {
  const index = `${repo.replace(/\/$/, '')}/${arch}/APKINDEX.tar.gz`;
  let buf: Buffer;
  if (/^https?:\/\//.test(repo)) {
    const res = await fetch(index).catch((err: unknown) => {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new Error(`cannot fetch ${index}: ${cause?.code ?? cause?.message ?? String(err)}`);
    });
    if (!res.ok) throw new Error(`cannot fetch ${index}: HTTP ${res.status}`);
    buf = Buffer.from(await res.arrayBuffer());
  } else {
    if (!existsSync(index)) return new Set();
    buf = await readFile(index);
  }
  try {
    return providedNames(parseApkIndex(buf));
  } catch (err) {
    throw new Error(`cannot read ${index}: ${(err as Error).message}`);
  }
}

async function listYaml(dir: string): Promise<string[]> {
  return existsSync(dir) ? (await readdir(dir)).filter((f) => f.endsWith('.yaml') || f.endsWith('.yml')).sort() : [];
}

export async function loadCatalog(dir: string, options: { env?: Record<string, string | undefined> } = {}): Promise<Catalog> {
  const root = resolve(dir);
  const env = options.env ?? process.env;
  const problems: CatalogProblem[] = [];
  if (!existsSync(join(root, 'catalog.yaml'))) {
    throw new CatalogInvalid([{ file: 'catalog.yaml', field: '(file)', message: `no catalog.yaml in ${root}`, fix: 'point --catalog (or catalogDir) at a catalog directory, or create catalog.yaml' }]);
  }
  const settingsCheck = new FileCheck('catalog.yaml', problems);
  const settingsDoc = await readYaml(root, 'catalog.yaml', problems);
  const settings = settingsDoc ? loadSettings(settingsDoc, root, env, settingsCheck) : undefined;

  const packages: PackageSpec[] = [];
  // Names of package files that could not be read: taken as declared, so one broken file does
  // not also report every package that depends on it.
  const unreadablePackages = new Set<string>();
  for (const f of await listYaml(join(root, 'packages'))) {
    const file = `packages/${f}`;
    if (!f.endsWith('.yaml')) {
      new FileCheck(file, problems).add('(file)', 'melange configs end in .yaml', `rename it to packages/${f.replace(/\.yml$/, '.yaml')}`);
      continue;
    }
    const doc = await readYaml(root, file, problems, [['package', 'version']]);
    const spec = doc && loadPackage(doc, file, new FileCheck(file, problems));
    if (spec) packages.push(spec);
    else unreadablePackages.add(f.replace(/\.yaml$/, ''));
  }

  const images: ImageSpec[] = [];
  const imagesDir = join(root, 'images');
  for (const name of existsSync(imagesDir) ? (await readdir(imagesDir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name).sort() : []) {
    const dirRel = `images/${name}`;
    const check = new FileCheck(`${dirRel}/apko.yaml`, problems);
    if (!NAME.test(name) || name.includes('..')) {
      check.add('(directory name)', `"${name}" is not a valid image name (it must match [a-z0-9][a-z0-9._+-]*)`, 'rename the directory');
      continue;
    }
    if (!existsSync(join(root, dirRel, 'apko.yaml'))) {
      check.add('(file)', 'missing apko.yaml', `add ${dirRel}/apko.yaml or remove the directory`);
      continue;
    }
    const apko = await readYaml(root, `${dirRel}/apko.yaml`, problems);
    const image = existsSync(join(root, dirRel, 'image.yaml')) ? await readYaml(root, `${dirRel}/image.yaml`, problems) : undefined;
    if (apko) images.push(loadImage(name, apko, image, dirRel, check, new FileCheck(`${dirRel}/image.yaml`, problems)));
  }

  // Names must be unique across packages and subpackages, whichever file declares them.
  const declaredIn = new Map<string, string>();
  for (const p of packages) {
    for (const [n, field] of [[p.name, 'package.name'], ...p.subpackages.map((s, i) => [s, `subpackages[${i}].name`])] as [string, string][]) {
      const other = declaredIn.get(n);
      if (other) new FileCheck(p.file, problems).add(field, `package "${n}" is also declared in ${other}`, `rename one of them, or remove the duplicate from ${p.file}`);
      else declaredIn.set(n, p.file);
    }
  }

  if (settings) {
    const external = new Set<string>();
    let unreadable = false;
    for (const [i, repo] of settings.repositories.entries()) {
      // Empty after an unset variable, which is already reported.
      if (repo === '') {
        unreadable = true;
        continue;
      }
      if (!/^https?:\/\//.test(repo) && !existsSync(repo)) {
        settingsCheck.add(`repositories[${i}]`, `${repo} does not exist`, 'run scripts/setup, which builds the bootstrap repository, or fix the path');
        unreadable = true;
        continue;
      }
      for (const arch of settings.archs) {
        try {
          (await repositoryProvides(repo, arch)).forEach((n) => external.add(n));
        } catch (err) {
          settingsCheck.add(`repositories[${i}]`, (err as Error).message, 'check that the repository is reachable and serves a signed APKINDEX.tar.gz per arch');
          unreadable = true;
        }
      }
    }
    const providers = catalogProviders(packages);
    // With a repository unreadable nobody can tell what it provides: say that once, not per name.
    const provided = (atom: string) =>
      unreadable || providers.has(atomName(atom)) || external.has(atomName(atom)) || unreadablePackages.has(atomName(atom));
    for (const p of packages) {
      const check = new FileCheck(p.file, problems);
      p.buildDependencies.forEach((atom, i) => {
        const n = atomName(atom);
        if (!provided(atom)) {
          check.add(`environment.contents.packages[${i}]`, `"${n}" is provided by no catalog package and no configured repository`, `add packages/${n}.yaml, correct the name, or add a repository that provides it to catalog.yaml repositories`);
        } else if (providers.get(n) === p.name && !external.has(n)) {
          check.add(`environment.contents.packages[${i}]`, `dependency cycle: ${p.name} -> ${p.name} (it builds against itself and no repository provides an older build)`, 'remove the self-dependency or add a repository that provides it');
        }
      });
      p.runtimeDependencies.forEach((atom, i) => {
        if (!provided(atom) && !/^(so|cmd|pc|py\d?\.\d+):/.test(atomName(atom))) {
          check.add(`package.dependencies.runtime[${i}]`, `"${atomName(atom)}" is provided by no catalog package and no configured repository`, `add packages/${atomName(atom)}.yaml, correct the name, or add a repository that provides it`);
        }
      });
    }
    const cycle = findCycle(new Map(packages.map((p) => [p.name, buildDependencies(p, providers)])));
    if (cycle) {
      const file = packages.find((p) => p.name === cycle[0])!.file;
      new FileCheck(file, problems).add('environment.contents.packages', `dependency cycle: ${cycle.join(' -> ')}`, 'remove one of these build dependencies (an older build from a repository can break a bootstrap cycle)');
    }
    for (const img of images) {
      img.packages.forEach((atom, i) => {
        if (!provided(atom)) {
          new FileCheck(img.file, problems).add(`contents.packages[${i}]`, `"${atomName(atom)}" is provided by no catalog package and no configured repository`, `add packages/${atomName(atom)}.yaml, correct the name, or add a repository that provides it`);
        }
      });
    }
  }

  if (problems.length) throw new CatalogInvalid(problems);
  return { dir: root, settings: settings!, packages, images };
}
