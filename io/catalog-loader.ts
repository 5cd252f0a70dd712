// I/O: readers and writers for pure domain code. Loads a catalog directory: reads its files (and
// the indexes of the repositories it names, local or over HTTP), then validates all of it with the
// pure rules of domain/ (catalog-rules.ts and the package, dependency, image and settings rules)
// before anything runs.
import { existsSync, readFileSync } from 'node:fs';
import { readdir, realpath, stat } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { providedNames } from '../domain/apkindex.js';
import { readRepositoryIndex } from './apk-index.js';
import type { Catalog, CatalogProblem, ImageSpec, PackageSpec, RateLimit } from '../domain/catalog.js';
import {
  CatalogInvalid,
  FileCheck,
  isObj,
  parseYaml,
  yamlLocator,
  type Locate,
  type Obj,
} from '../domain/catalog-rules.js';
import { checkDependencies, checkUniqueNames } from '../domain/dependency-rules.js';
import { validatePackage } from '../domain/package-rules.js';
import { validateSettings, type Environment } from '../domain/catalog-settings.js';
import { checkConfigSources, includeTarget } from '../domain/catalog-trust.js';
import { checkToolSchema } from './schemas.js';
import { pipelineLibrary } from './melange-pipelines.js';
import { checkPackageArchs } from '../domain/package-archs.js';
import { APKO_KEYS, checkImageName, mergeApkoInclude, validateImage } from '../domain/image-rules.js';
import { loadYamlData, loadYamlText } from './fast-yaml.js';

export { CatalogInvalid, formatProblems } from '../domain/catalog-rules.js';

/**
 * A YAML text's data by the fast parser (io/fast-yaml.ts), or undefined when it cannot tell the same
 * as `yaml`: a syntax error or a document that is not a mapping. A number at a `literal` path keeps
 * its text, read from a second, all-text parse (as `yaml` keeps it in parseYaml). `yaml` then parses
 * what the fast parser cannot read and reports any problem, with its line, as it always did.
 */
function fastParse(text: string, literal: string[][]): Obj | undefined {
  const value = loadYamlData(text);
  if (!isObj(value)) return undefined;
  let asText: unknown;
  for (const path of literal) {
    const parent = path.slice(0, -1).reduce<unknown>((o, k) => (isObj(o) ? o[k] : undefined), value);
    const key = path[path.length - 1]!;
    if (!isObj(parent) || typeof parent[key] !== 'number') continue;
    asText ??= loadYamlText(text);
    const literalText = path.reduce<unknown>((o, k) => (isObj(o) ? o[k] : undefined), asText);
    if (typeof literalText !== 'string') return undefined;
    parent[key] = literalText;
  }
  return value;
}

/**
 * Reads one catalog file and parses it, recording why it cannot be; `locate` finds a field's line.
 * `yaml` (ten times slower than js-yaml at catalog size) parses only a file the fast parser cannot
 * read, and builds the line index only when a problem asks for a line.
 */
async function readYaml(
  dir: string,
  file: string,
  problems: CatalogProblem[],
  literal: string[][] = [],
): Promise<{ doc: Obj | undefined; locate: Locate; text: string }> {
  // Synchronously: for thousands of small files an awaited read costs ten times more (and more than the parse).
  const text = readFileSync(join(dir, file), 'utf8');
  let locator: Locate | undefined;
  return {
    doc: fastParse(text, literal) ?? parseYaml(file, text, problems, literal),
    locate: (path) => (locator ??= yamlLocator(text))(path),
    text,
  };
}

/**
 * melange reads `vars:` and the items of `data:` as map[string]string: keys and values keep their
 * text (a data key `3.10` stays "3.10" in `${{range.key}}`, where a YAML number would be 3.1).
 */
function withMelangeStrings(doc: Obj, text: string): Obj {
  // Parsed again as text only where a value or key may have been read as another type.
  const retyped = (v: unknown) => typeof v !== 'string';
  const keyRetyped = (k: string) => /^([-+]?[.\d]|true$|false$|null$|~$)/i.test(k);
  const suspect =
    (isObj(doc.vars) && Object.values(doc.vars).some(retyped)) ||
    (Array.isArray(doc.data) &&
      doc.data.some(
        (d: unknown) =>
          isObj(d) && isObj(d.items) && Object.entries(d.items).some(([k, v]) => keyRetyped(k) || retyped(v)),
      ));
  if (!suspect) return doc;
  const asText = loadYamlText(text);
  if (!isObj(asText)) return doc;
  return {
    ...doc,
    ...(doc.vars !== undefined ? { vars: asText.vars } : {}),
    ...(doc.data !== undefined ? { data: asText.data } : {}),
  };
}

/**
 * An apko config with its `include:` chain resolved and merged as apko merges it. Each included
 * file must be a file inside the catalog (symlinks resolved), is checked for unknown keys and by
 * the trust rules under its own name, and may include again (a loop is a problem).
 */
async function resolveApkoIncludes(
  root: string,
  file: string,
  doc: Obj,
  locateIn: Locate,
  problems: CatalogProblem[],
  trust: ((doc: Obj, check: FileCheck, locate: Locate) => void) | undefined,
  checked: Set<string>,
  seen: string[] = [file],
): Promise<Obj> {
  // `seen` ends up as the include chain, this file first: the image's inputs (activities/image-assemble.ts).
  const target = includeTarget(doc.include);
  if (doc.include === undefined || !('path' in target)) return doc; // a bad target is a trust problem
  const check = new FileCheck(file, problems);
  const fail = (message: string, fix = 'include a file inside the catalog directory, e.g. apko/base.yaml') => {
    check.add('include', message, fix, locateIn(['include']));
    return doc;
  };
  const realRoot = await realpath(root);
  const real = await realpath(join(root, target.path)).catch(() => undefined);
  if (!real) return fail(`includes ${target.path}, which does not exist in the catalog`);
  const inside = relative(realRoot, real);
  if (inside === '' || inside.startsWith('..') || isAbsolute(inside))
    return fail(`includes ${target.path}, which resolves (through a symlink) to ${real}, outside the catalog`);
  if (!(await stat(real)).isFile()) return fail(`includes ${target.path}, which is not a file`);
  if (seen.includes(inside))
    return fail(
      `includes ${inside}, which includes this file again (${[...seen, inside].join(' -> ')})`,
      'remove one include of the loop',
    );
  const { doc: included, locate } = await readYaml(realRoot, inside, problems);
  if (!included) return doc;
  if (!checked.has(inside)) {
    // Checked once, however many images include it.
    checked.add(inside);
    const includedCheck = new FileCheck(inside, problems);
    includedCheck.unknownKeys(included, APKO_KEYS);
    trust?.(included, includedCheck, locate);
    checkToolSchema('apko', realRoot, inside, included, problems);
  }
  seen.push(inside);
  const base = await resolveApkoIncludes(realRoot, inside, included, locate, problems, trust, checked, seen);
  return mergeApkoInclude(base, doc);
}

/**
 * Names a repository's index for one arch provides; a local repository without that arch provides
 * nothing. What keeps it from being read is returned as `error`, for a problem naming the field.
 */
async function repositoryProvides(repo: string, arch: string): Promise<{ names: Set<string> } | { error: string }> {
  const index = await readRepositoryIndex(repo, arch);
  return 'error' in index ? index : { names: providedNames(index.entries) };
}

async function listYaml(dir: string): Promise<string[]> {
  return existsSync(dir) ? (await readdir(dir)).filter((f) => f.endsWith('.yaml') || f.endsWith('.yml')).sort() : [];
}

/**
 * The rate limits of catalog.yaml in `dir` alone (a worker reads its own catalog's at start:
 * io/host-pacer.ts); none without a catalog.yaml. A problem in `rateLimits:` is CatalogInvalid:
 * a limit that cannot be read is never silently dropped. Other settings are judged by each run.
 */
export async function loadRateLimits(dir: string, options: { env: Environment }): Promise<RateLimit[]> {
  const root = resolve(dir);
  if (!existsSync(join(root, 'catalog.yaml'))) return [];
  const problems: CatalogProblem[] = [];
  const { doc } = await readYaml(root, 'catalog.yaml', problems);
  if (!doc) throw new CatalogInvalid(problems);
  const settings = validateSettings(doc, root, options.env, new FileCheck('catalog.yaml', problems));
  const own = problems.filter((p) => p.field.startsWith('rateLimits'));
  if (own.length) throw new CatalogInvalid(own);
  return settings.rateLimits;
}

/**
 * Loads and validates the catalog in `dir`. `${VAR}` in catalog.yaml expands against `env` (a
 * worker passes config.catalogEnv), of which it sees only KILN_STATE, KILN_REGISTRY and the names
 * catalog.yaml declares; every problem of the catalog is reported at once, in a non-retryable
 * CatalogInvalid.
 */
export async function loadCatalog(dir: string, options: { env: Environment }): Promise<Catalog> {
  const root = resolve(dir);
  const { env } = options;
  const problems: CatalogProblem[] = [];
  if (!existsSync(join(root, 'catalog.yaml'))) {
    throw new CatalogInvalid([
      {
        file: 'catalog.yaml',
        field: '(file)',
        message: `no catalog.yaml in ${root}`,
        fix: 'point --catalog (or catalogDir) at a catalog directory, or create catalog.yaml',
      },
    ]);
  }
  const settingsCheck = new FileCheck('catalog.yaml', problems);
  const { doc: settingsDoc } = await readYaml(root, 'catalog.yaml', problems);
  const settings = settingsDoc ? validateSettings(settingsDoc, root, env, settingsCheck) : undefined;

  const packages: PackageSpec[] = [];
  // Names of package files that could not be read: taken as declared, so one broken file does
  // not also report every package that depends on it.
  const unreadablePackages = new Set<string>();
  // What `uses:` names: the catalog's pipelines/, then melange's built-ins (each file read once).
  const pipelines = pipelineLibrary(root, problems);
  for (const f of await listYaml(join(root, 'packages'))) {
    const file = `packages/${f}`;
    if (!f.endsWith('.yaml')) {
      new FileCheck(file, problems).add(
        '(file)',
        'melange configs end in .yaml',
        `rename it to packages/${f.replace(/\.yml$/, '.yaml')}`,
      );
      continue;
    }
    const { doc: parsed, locate, text } = await readYaml(root, file, problems, [['package', 'version']]);
    const doc = parsed && withMelangeStrings(parsed, text);
    const spec =
      doc && validatePackage(doc, file, new FileCheck(file, problems), { archs: settings?.archs, pipelines, locate });
    // Only catalog.yaml chooses repositories and keys (domain/catalog-trust.ts).
    if (doc && settings)
      checkConfigSources(doc, 'melange', settings.allowRepositories ?? [], root, new FileCheck(file, problems), locate);
    if (doc) checkToolSchema('melange', root, file, doc, problems);
    if (spec) packages.push(spec);
    else unreadablePackages.add(f.replace(/\.yaml$/, ''));
  }

  const images: ImageSpec[] = [];
  const includesChecked = new Set<string>();
  const imagesDir = join(root, 'images');
  for (const name of existsSync(imagesDir)
    ? (await readdir(imagesDir, { withFileTypes: true }))
        .filter((e) => e.isDirectory())
        .map((e) => e.name)
        .sort()
    : []) {
    const dirRel = `images/${name}`;
    const check = new FileCheck(`${dirRel}/apko.yaml`, problems);
    if (!checkImageName(name, check)) continue;
    if (!existsSync(join(root, dirRel, 'apko.yaml'))) {
      check.add('(file)', 'missing apko.yaml', `add ${dirRel}/apko.yaml or remove the directory`);
      continue;
    }
    const { doc: apko, locate } = await readYaml(root, `${dirRel}/apko.yaml`, problems);
    const image = existsSync(join(root, dirRel, 'image.yaml'))
      ? (await readYaml(root, `${dirRel}/image.yaml`, problems)).doc
      : undefined;
    if (apko) {
      const trust =
        settings &&
        ((doc: Obj, c: FileCheck, at: Locate) =>
          checkConfigSources(doc, 'apko', settings.allowRepositories ?? [], root, c, at));
      const chain = [`${dirRel}/apko.yaml`];
      const merged = await resolveApkoIncludes(root, chain[0]!, apko, locate, problems, trust, includesChecked, chain);
      const spec = validateImage(name, merged, image, dirRel, check, new FileCheck(`${dirRel}/image.yaml`, problems));
      images.push(chain.length > 1 ? { ...spec, includes: chain.slice(1) } : spec);
      trust?.(apko, check, locate);
      checkToolSchema('apko', root, `${dirRel}/apko.yaml`, apko, problems);
    }
  }

  checkUniqueNames(packages, problems);

  if (settings) {
    const external = new Set<string>();
    let unreadable = false;
    // Repositories configs may name provide packages too (they are read, and verified, by the tools).
    const repositories = [
      ...settings.repositories.map((repo, i) => ({ repo, field: `repositories[${i}]` })),
      ...(settings.allowRepositories ?? []).map((repo, i) => ({ repo, field: `allowRepositories[${i}]` })),
    ];
    for (const { repo, field } of repositories) {
      // Empty after an unset variable, which is already reported.
      if (repo === '') {
        unreadable = true;
        continue;
      }
      if (!/^https?:\/\//.test(repo) && !existsSync(repo)) {
        settingsCheck.add(
          field,
          `${repo} does not exist`,
          'run scripts/setup, which builds the bootstrap repository, or fix the path',
        );
        unreadable = true;
        continue;
      }
      for (const arch of settings.archs) {
        const provides = await repositoryProvides(repo, arch);
        if ('names' in provides) provides.names.forEach((n) => external.add(n));
        else {
          settingsCheck.add(
            field,
            provides.error,
            'check that the repository is reachable and serves a signed APKINDEX.tar.gz per arch',
          );
          unreadable = true;
        }
      }
    }
    // kiln's own package repository: an older build there breaks a bootstrap cycle (builds read it).
    const packageRepository = new Set<string>();
    for (const arch of settings.archs) {
      const held = await repositoryProvides(settings.packageRepository, arch);
      if ('names' in held) held.names.forEach((n) => packageRepository.add(n));
      else
        settingsCheck.add(
          'packageRepository',
          held.error,
          'repair or restore the package repository index (kiln publishes a signed APKINDEX.tar.gz per arch)',
        );
    }
    checkDependencies(packages, images, { external, packageRepository, unreadable, unreadablePackages }, problems);
    // After checkDependencies: an edge an older build breaks (bootstrapFrom) is not judged by arch.
    checkPackageArchs(packages, images, settings.archs, external, problems);
  }

  if (problems.length) throw new CatalogInvalid(problems);
  return { dir: root, settings: settings!, packages, images };
}
