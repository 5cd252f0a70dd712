// Domain: the rules for image directories (apko.yaml and kiln's image.yaml), over parsed YAML:
// every problem is collected, each naming the file, the field and the fix. Pure.
import type { ImageExpectations, ImageSpec, ImageTest } from './catalog.js';
import { NAME, isObj, type FileCheck, type Obj } from './catalog-rules.js';

const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
export const APKO_KEYS = [
  'contents',
  'entrypoint',
  'cmd',
  'stop-signal',
  'work-dir',
  'environment',
  'accounts',
  'archs',
  'paths',
  'vcs-url',
  'annotations',
  'volumes',
  'layering',
  'format',
  'certificates',
  'include',
];
const IMAGE_KEYS = ['tags', 'tests', 'expectations'];
/** apko's path mutation types and the keys of one entry (yaml field names as apko decodes them). */
const PATH_TYPES = ['directory', 'empty-file', 'hardlink', 'symlink', 'permissions'];
const PATH_KEYS = ['path', 'type', 'uid', 'gid', 'permissions', 'source', 'recursive'];

/**
 * `archs`, `annotations`, `paths`, `volumes` and `layering` as apko decodes them: archs a list of
 * names (or `all`/`host`), annotations a string map, paths a list of mutations, volumes a list of
 * paths, layering `{ strategy: origin, budget: N }`.
 */
export function checkApkoOptions(apko: Obj, check: FileCheck): void {
  if (apko.archs !== undefined) check.stringList(apko.archs, 'archs');
  if (apko.annotations !== undefined) {
    const a = check.mapping(apko.annotations, 'annotations', 'annotations: { org.opencontainers.image.title: hello }');
    for (const [k, v] of Object.entries(a))
      if (v === null || typeof v === 'object') check.add(`annotations.${k}`, 'must be a string', `write ${k}: "value"`);
  }
  if (apko.volumes !== undefined) check.stringList(apko.volumes, 'volumes');
  if (apko.layering !== undefined) {
    const l = check.mapping(apko.layering, 'layering', 'layering: { strategy: origin, budget: 10 }');
    check.unknownKeys(l, ['strategy', 'budget'], 'layering.');
    if (l.strategy !== undefined && l.strategy !== 'origin')
      check.add(
        'layering.strategy',
        `${JSON.stringify(l.strategy)} is not a layering strategy apko knows`,
        'write strategy: origin',
      );
    if (l.budget !== undefined && (!Number.isInteger(l.budget) || (l.budget as number) < 0))
      check.add('layering.budget', 'must be a whole number of layers', 'write budget: 10');
  }
  if (apko.paths === undefined) return;
  if (!Array.isArray(apko.paths)) {
    check.add('paths', 'must be a list', 'write - { path: /data, type: directory, permissions: 0o755 }');
    return;
  }
  apko.paths.forEach((entry: unknown, i) => {
    const field = `paths[${i}]`;
    const e = check.mapping(entry, field, '{ path: /data, type: directory, permissions: 0o755 }');
    check.unknownKeys(e, PATH_KEYS, `${field}.`);
    if (typeof e.path !== 'string' || e.path === '')
      check.add(`${field}.path`, 'missing the path to change', 'write path: /data');
    if (!PATH_TYPES.includes(e.type as string))
      check.add(
        `${field}.type`,
        `${JSON.stringify(e.type ?? null)} is not a path type apko knows`,
        `use one of: ${PATH_TYPES.join(', ')}`,
      );
    for (const k of ['uid', 'gid', 'permissions'])
      if (e[k] !== undefined && (!Number.isInteger(e[k]) || (e[k] as number) < 0))
        check.add(`${field}.${k}`, 'must be a whole number', `write ${k}: ${k === 'permissions' ? '0o755' : '65532'}`);
    if (e.recursive !== undefined && typeof e.recursive !== 'boolean')
      check.add(`${field}.recursive`, 'must be true or false', 'write recursive: true');
  });
}

const isEmpty = (v: unknown) =>
  v === undefined ||
  v === null ||
  v === '' ||
  (Array.isArray(v) && v.length === 0) ||
  (isObj(v) && !Object.keys(v).length);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
/** `over`'s entries, then `base`'s keys `over` does not set (apko's environment/annotations rule). */
const mapUnder = (base: unknown, over: unknown) =>
  isObj(over) || isObj(base) ? { ...(isObj(base) ? base : {}), ...(isObj(over) ? over : {}) } : undefined;

/**
 * `over` (the including config) merged onto `base` (the included one) the way apko merges an
 * include: `over`'s scalars, entrypoint, archs, layering and certificates win when set; lists
 * (packages, repositories, keyrings, users, groups, paths, volumes) are base's then over's;
 * environment and annotations take base's keys over does not set. The result has no `include`.
 */
export function mergeApkoInclude(base: Obj, over: Obj): Obj {
  const out: Obj = { ...over };
  delete out.include;
  for (const k of ['entrypoint', 'cmd', 'stop-signal', 'work-dir', 'layering', 'certificates', 'archs'])
    if (isEmpty(over[k]) && base[k] !== undefined) out[k] = base[k];
  for (const k of ['environment', 'annotations']) {
    const m = mapUnder(base[k], over[k]);
    if (m) out[k] = m;
  }
  for (const k of ['paths', 'volumes'])
    if (base[k] !== undefined || over[k] !== undefined) out[k] = [...list(base[k]), ...list(over[k])];
  if (base.accounts !== undefined || over.accounts !== undefined) {
    const b = isObj(base.accounts) ? base.accounts : {};
    const o = isObj(over.accounts) ? over.accounts : {};
    out.accounts = { ...o };
    if (isEmpty(o['run-as']) && b['run-as'] !== undefined) (out.accounts as Obj)['run-as'] = b['run-as'];
    for (const k of ['users', 'groups']) (out.accounts as Obj)[k] = [...list(b[k]), ...list(o[k])];
  }
  if (base.contents !== undefined || over.contents !== undefined) {
    const b = isObj(base.contents) ? base.contents : {};
    const o = isObj(over.contents) ? over.contents : {};
    const c: Obj = { ...o };
    for (const k of [
      'keyring',
      'runtime_keyring',
      'build_repositories',
      'runtime_repositories',
      'repositories',
      'packages',
    ])
      if (b[k] !== undefined || o[k] !== undefined) c[k] = [...list(b[k]), ...list(o[k])];
    if (o.baseimage === undefined && b.baseimage !== undefined) c.baseimage = b.baseimage;
    out.contents = c;
  }
  return out;
}

export function validateImage(
  name: string,
  apko: Obj,
  image: Obj | undefined,
  dir: string,
  check: FileCheck,
  imageCheck: FileCheck,
): ImageSpec {
  check.unknownKeys(apko, APKO_KEYS);
  let packages: string[] = [];
  if (apko.contents === undefined || apko.contents === null)
    check.add('contents', 'missing required key', 'add contents: { packages: [...] }');
  else {
    const contents = check.mapping(apko.contents, 'contents', 'contents: { packages: [busybox] }');
    if (contents.packages === undefined || contents.packages === null)
      check.add(
        'contents.packages',
        'missing required key',
        'list the packages the image installs under contents.packages',
      );
    else if (Array.isArray(contents.packages) && contents.packages.length === 0)
      check.add('contents.packages', 'no packages listed', 'list the packages the image installs');
    else packages = check.stringList(contents.packages, 'contents.packages');
  }
  if (apko.entrypoint !== undefined)
    check.mapping(apko.entrypoint, 'entrypoint', 'entrypoint: { command: /usr/bin/app }');
  checkApkoOptions(apko, check);
  let tags = ['latest'];
  if (image) {
    imageCheck.unknownKeys(image, IMAGE_KEYS);
    if (image.tags !== undefined) {
      tags = imageCheck.stringList(image.tags, 'tags');
      tags.forEach((t, i) => {
        if (!TAG.test(t))
          imageCheck.add(
            `tags[${i}]`,
            `"${t}" is not a valid OCI tag`,
            'use letters, digits, "_", "." and "-" (at most 128, not starting with "." or "-")',
          );
      });
    }
  }
  const tests: ImageTest[] = [];
  const expectations: ImageExpectations = {};
  if (image?.tests !== undefined) {
    if (!Array.isArray(image.tests))
      imageCheck.add(
        'tests',
        'must be a list',
        'write - { name: version, command: [app, --version], output: "1\\.2" }',
      );
    else
      image.tests.forEach((t: unknown, i: number) => {
        const e = isObj(t) ? t : {};
        const field = `tests[${i}]`;
        imageCheck.unknownKeys(e, ['name', 'command', 'exitCode', 'output'], `${field}.`);
        const command = imageCheck.stringList(e.command, `${field}.command`);
        if (typeof e.name !== 'string' || command.length === 0) {
          imageCheck.add(
            field,
            'needs a name and a command',
            'write - { name: runs, command: [/usr/bin/app, --help] }',
          );
          return;
        }
        if (e.exitCode !== undefined && !Number.isInteger(e.exitCode))
          imageCheck.add(`${field}.exitCode`, 'must be a whole number', 'write exitCode: 0');
        if (e.output !== undefined) {
          try {
            new RegExp(String(e.output));
          } catch {
            imageCheck.add(
              `${field}.output`,
              `${JSON.stringify(e.output)} is not a regular expression`,
              'escape special characters such as ( [ .',
            );
          }
        }
        tests.push({
          name: e.name,
          command,
          exitCode: typeof e.exitCode === 'number' ? e.exitCode : 0,
          ...(e.output !== undefined ? { output: String(e.output) } : {}),
        });
      });
  }
  if (image?.expectations !== undefined) {
    const x = isObj(image.expectations) ? image.expectations : {};
    imageCheck.unknownKeys(
      x,
      ['entrypoint', 'nonRoot', 'user', 'environment', 'filesPresent', 'filesAbsent', 'maxSizeMiB'],
      'expectations.',
    );
    if (x.entrypoint !== undefined)
      expectations.entrypoint = imageCheck.stringList(x.entrypoint, 'expectations.entrypoint');
    if (x.nonRoot !== undefined) expectations.nonRoot = x.nonRoot === true;
    if (x.user !== undefined) expectations.user = String(x.user);
    if (x.environment !== undefined) {
      if (!isObj(x.environment))
        imageCheck.add('expectations.environment', 'must be a mapping', 'write environment: { PATH: /usr/bin }');
      else expectations.environment = Object.fromEntries(Object.entries(x.environment).map(([k, v]) => [k, String(v)]));
    }
    if (x.filesPresent !== undefined)
      expectations.filesPresent = imageCheck.stringList(x.filesPresent, 'expectations.filesPresent');
    if (x.filesAbsent !== undefined)
      expectations.filesAbsent = imageCheck.stringList(x.filesAbsent, 'expectations.filesAbsent');
    if (x.maxSizeMiB !== undefined) {
      if (typeof x.maxSizeMiB !== 'number' || x.maxSizeMiB <= 0)
        imageCheck.add('expectations.maxSizeMiB', 'must be a positive number', 'write maxSizeMiB: 20');
      else expectations.maxSizeMiB = x.maxSizeMiB;
    }
  }
  return { name, file: `${dir}/apko.yaml`, packages, tags, tests, expectations };
}

/** An image directory's name becomes a repository name: it must be a valid one. */
export function checkImageName(name: string, check: FileCheck): boolean {
  if (!NAME.test(name) || name.includes('..')) {
    check.add(
      '(directory name)',
      `"${name}" is not a valid image name (it must match [a-z0-9][a-z0-9._+-]*)`,
      'rename the directory',
    );
    return false;
  }
  return true;
}
