// Domain: what a catalog may trust, pure. Two rules. (1) Only catalog.yaml chooses repositories and
// keys: a melange or apko config that names its own repository, key or base image is rejected unless
// catalog.yaml `allowRepositories` lists that repository (keys: never; they go in catalog.yaml
// `keyring`, which kiln passes to every build); an apko `include:` may only name a file inside the
// catalog, and the included file is held to the same rule. (2) `${VAR}` in catalog.yaml sees only
// KILN_STATE, KILN_REGISTRY and the names catalog.yaml `environment:` declares, and never a credential.
import { isAbsolute, posix, resolve } from 'node:path';
import { isObj, type FileCheck, type Locate, type Obj } from './catalog-rules.js';

/** Variables `${VAR}` in catalog.yaml may use without declaring them. */
export const ALWAYS_EXPANDED = ['KILN_STATE', 'KILN_REGISTRY'] as const;

/** Names that hold credentials: never expanded into catalog.yaml, never passed to a tool. */
const CREDENTIAL =
  /^(KILN_REGISTRY_PASSWORD|KILN_REGISTRY_USERNAME|KILN_OIDC_TOKEN.*|TEMPORAL_API_KEY|.*_TOKEN|.*_PASSWORD|.*_SECRET|.*_KEY)$/;

export const isCredentialName = (name: string): boolean => CREDENTIAL.test(name);

const VARIABLE = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * The environment catalog.yaml's `${VAR}` expands against: KILN_STATE, KILN_REGISTRY and the
 * names `environment:` declares, each taken from `env` (unset ones stay keys, with no value, so
 * expansion can tell "declared but unset" from "not declared"). A declared credential is a problem.
 */
export function declaredEnvironment(
  value: unknown,
  env: Record<string, string | undefined>,
  check: FileCheck,
): Record<string, string | undefined> {
  const names: string[] = [...ALWAYS_EXPANDED];
  if (value !== undefined) {
    const list = check.stringList(value, 'environment');
    list.forEach((name, i) => {
      const field = `environment[${i}]`;
      if (!VARIABLE.test(name))
        check.add(field, `"${name}" is not a variable name`, 'list names like MIRROR_URL, without $ or braces');
      else if (isCredentialName(name))
        check.add(
          field,
          `${name} looks like a credential, and catalog values end up in logs, URLs and workflow history`,
          'remove it: kiln reads registry credentials and tokens itself (KILN_REGISTRY_USERNAME/PASSWORD, KILN_OIDC_TOKEN); catalog.yaml never sees them',
        );
      else names.push(name);
    });
  }
  return Object.fromEntries(names.map((n) => [n, env[n]]));
}

/** Why `${name}` may not be expanded, as a problem's message and fix; undefined when it may. */
export function undeclaredVariable(
  name: string,
  allowed: Record<string, string | undefined>,
): { message: string; fix: string } | undefined {
  if (isCredentialName(name))
    return {
      message: `uses \${${name}}, a credential: kiln never expands credentials into catalog.yaml`,
      fix: 'remove it: kiln reads registry credentials and tokens from its own configuration',
    };
  if (!Object.hasOwn(allowed, name))
    return {
      message: `uses \${${name}}, which catalog.yaml does not declare (only KILN_STATE, KILN_REGISTRY and declared names are expanded)`,
      fix: `add ${name} to catalog.yaml environment: [${name}]`,
    };
  return undefined;
}

const REPOSITORY_KEYS = ['repositories', 'build_repositories', 'runtime_repositories'];
const KEY_KEYS = ['keyring', 'runtime_keyring'];

/** A repository line as apko and melange read it: `[@tag ]<url or path>`. */
const repositoryOf = (line: string) => line.replace(/^@\S+\s+/, '').replace(/\/+$/, '');

/**
 * Repositories, keys and base images inside one melange or apko config. `allowed` is catalog.yaml
 * `allowRepositories` (expanded, relative paths resolved against `catalogDir`).
 */
export function checkConfigSources(
  doc: Obj,
  kind: 'melange' | 'apko',
  allowed: string[],
  catalogDir: string,
  check: FileCheck,
  locate: Locate,
): void {
  const trusted = new Set(allowed.map(repositoryOf));
  const contentsAt: (string | number)[][] =
    kind === 'apko'
      ? [['contents']]
      : [
          ['environment', 'contents'],
          ['test', 'environment', 'contents'],
          ...(Array.isArray(doc.subpackages)
            ? doc.subpackages.map((_, i) => ['subpackages', i, 'test', 'environment', 'contents'])
            : []),
        ];
  for (const path of contentsAt) {
    const contents = path.reduce<unknown>((o, k) => (isObj(o) || Array.isArray(o) ? (o as Obj)[k] : undefined), doc);
    if (!isObj(contents)) continue;
    const prefix = path.map((k) => (typeof k === 'number' ? `[${k}]` : `.${k}`)).join('');
    const field = (key: string, i?: number) => `${prefix}.${key}${i === undefined ? '' : `[${i}]`}`.slice(1);
    const at = (key: string, i?: number) => locate([...path, key, ...(i === undefined ? [] : [i])]);
    for (const key of REPOSITORY_KEYS) {
      const list = contents[key];
      if (!Array.isArray(list)) continue;
      list.forEach((entry: unknown, i) => {
        const repo = typeof entry === 'string' ? repositoryOf(entry) : '';
        const absolute = repo && !/^https?:\/\//.test(repo) && !isAbsolute(repo) ? resolve(catalogDir, repo) : repo;
        if (repo && (trusted.has(repo) || trusted.has(absolute))) return;
        check.add(
          field(key, i),
          `names its own repository ${JSON.stringify(entry)}: only catalog.yaml chooses where packages come from`,
          `remove it and use catalog.yaml repositories, or, to let configs name it, add it to catalog.yaml allowRepositories (and its public key to keyring)`,
          at(key, i),
        );
      });
    }
    for (const key of KEY_KEYS) {
      if (contents[key] === undefined) continue;
      check.add(
        field(key),
        `adds its own signing keys: only catalog.yaml keyring is trusted`,
        `remove ${key}: and add the public key to catalog.yaml keyring, which kiln passes to every build`,
        at(key),
      );
    }
    if (contents.baseimage !== undefined)
      check.add(
        field('baseimage'),
        'builds on a base image: its packages were not installed from a repository kiln verified',
        'remove baseimage: and install the packages from catalog.yaml repositories',
        at('baseimage'),
      );
  }
  if (kind === 'apko' && doc.include !== undefined) {
    const target = includeTarget(doc.include);
    if ('message' in target) check.add('include', target.message, target.fix, locate(['include']));
  }
}

const INCLUDE_FIX =
  'include a file inside the catalog by its path from the catalog directory (e.g. include: apko/base.yaml), or copy the settings into this apko.yaml';

/**
 * An apko `include:` kiln resolves: a relative path from the catalog directory that stays inside it
 * (normalised here; the loader also resolves symlinks and checks again). A URL, an absolute path or
 * a path out of the catalog is not read: it could bring repositories or keys kiln never checked.
 */
export function includeTarget(value: unknown): { path: string } | { message: string; fix: string } {
  if (typeof value !== 'string' || value.trim() === '')
    return { message: 'must be the path of an apko config', fix: INCLUDE_FIX };
  if (/^[A-Za-z][A-Za-z0-9+.-]*:/.test(value))
    return { message: `includes ${JSON.stringify(value)}, which is not a file in the catalog`, fix: INCLUDE_FIX };
  if (isAbsolute(value))
    return { message: `includes the absolute path ${JSON.stringify(value)}, outside the catalog`, fix: INCLUDE_FIX };
  const path = posix.normalize(value);
  if (path === '..' || path.startsWith('../'))
    return { message: `includes ${JSON.stringify(value)}, which leaves the catalog directory`, fix: INCLUDE_FIX };
  return { path };
}
