// Domain: the rules for image directories (apko.yaml and kiln's image.yaml), over parsed YAML:
// every problem is collected, each naming the file, the field and the fix. Pure.
import type { ImageExpectations, ImageSpec, ImageTest } from './catalog.js';
import { NAME, isObj, type FileCheck, type Obj } from './catalog-rules.js';

const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const APKO_KEYS = [
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
  if (apko.archs !== undefined) check.stringList(apko.archs, 'archs');
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
