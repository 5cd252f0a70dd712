// What an image is built from, as one digest (domain/image-inputs.ts): the package closure apko can
// install from the signed indexes, and the digest over it. Index entries here are hand-written
// fixtures (pure logic, no repository).
import { describe, expect, it } from 'vitest';
import type { ApkIndexEntry } from '../../../domain/apkindex.js';
import { imageInputDigest, packageClosure, type ImageInputs } from '../../../domain/image-inputs.js';

const entry = (name: string, version: string, extra: Partial<ApkIndexEntry> = {}): ApkIndexEntry => ({
  name,
  version,
  arch: 'x86_64',
  size: 1,
  checksum: `Q1${name}${version}=`,
  dependencies: [],
  provides: [],
  ...extra,
});

const INDEX: ApkIndexEntry[] = [
  entry('app', '1.0-r0', { dependencies: ['so:libz.so.1', 'busybox>=1.35', '!app-legacy'] }),
  entry('zlib', '1.3-r0', { provides: ['so:libz.so.1=1'] }),
  entry('zlib', '1.2-r0', { provides: ['so:libz.so.1=1'] }),
  entry('busybox', '1.35.0-r0', { dependencies: ['baselayout'], provides: ['cmd:sh=1.35.0-r0'] }),
  entry('baselayout', '1-r0'),
  entry('app-legacy', '0.9-r0'),
  entry('app-doc', '1.0-r0', { installIf: ['app=1.0-r0', 'docs'] }),
  entry('busybox-doc', '1.35.0-r0', { installIf: ['busybox', 'baselayout'] }),
  entry('unrelated', '2.0-r0'),
];

describe('packageClosure', () => {
  it('follows dependencies through provides, keeps every candidate, skips conflicts and unrelated packages', () => {
    expect(packageClosure(INDEX, ['app'])).toEqual([
      'app 1.0-r0 Q1app1.0-r0=',
      'baselayout 1-r0 Q1baselayout1-r0=',
      'busybox 1.35.0-r0 Q1busybox1.35.0-r0=',
      // install_if: all of its conditions are reached.
      'busybox-doc 1.35.0-r0 Q1busybox-doc1.35.0-r0=',
      'zlib 1.2-r0 Q1zlib1.2-r0=',
      'zlib 1.3-r0 Q1zlib1.3-r0=',
    ]);
  });

  it('does not change when a package outside the closure is published', () => {
    const before = packageClosure(INDEX, ['app']);
    expect(packageClosure([...INDEX, entry('newcomer', '1.0-r0')], ['app'])).toEqual(before);
  });

  it('changes when any candidate in the closure is republished with other bytes or another version', () => {
    const before = packageClosure(INDEX, ['app']);
    const rebuilt = INDEX.map((e) => (e.name === 'baselayout' ? { ...e, checksum: 'Q1other=' } : e));
    expect(packageClosure(rebuilt, ['app'])).not.toEqual(before);
    expect(packageClosure([...INDEX, entry('zlib', '1.4-r0')], ['app'])).not.toEqual(before);
  });

  it('reads constraints and pins in the roots as apk does', () => {
    expect(packageClosure(INDEX, ['zlib~1.3', 'baselayout@local'])).toEqual([
      'baselayout 1-r0 Q1baselayout1-r0=',
      'zlib 1.2-r0 Q1zlib1.2-r0=',
      'zlib 1.3-r0 Q1zlib1.3-r0=',
    ]);
  });
});

describe('imageInputDigest', () => {
  const inputs: ImageInputs = {
    apko: '1.2.31',
    archs: ['x86_64'],
    files: { 'images/a/apko.yaml': 'aa', 'images/a/image.yaml': 'bb' },
    tags: ['latest'],
    keyring: ['kk'],
    packages: { x86_64: ['app 1.0-r0 Q1='] },
    signer: 'key k',
  };

  it('is the same for the same inputs in any key order', () => {
    const reordered: ImageInputs = {
      ...inputs,
      files: { 'images/a/image.yaml': 'bb', 'images/a/apko.yaml': 'aa' },
    };
    expect(imageInputDigest(reordered)).toBe(imageInputDigest(inputs));
    expect(imageInputDigest(inputs)).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it.each<[string, Partial<ImageInputs>]>([
    ['a config', { files: { ...inputs.files, 'images/a/apko.yaml': 'changed' } }],
    ['a tag', { tags: ['latest', '2'] }],
    ['the keyring', { keyring: ['other'] }],
    ['a package', { packages: { x86_64: ['app 1.0-r1 Q1='] } }],
    ['an arch', { archs: ['x86_64', 'aarch64'] }],
    ['the feed or policy', { vulnerabilities: 'sha256:feed fail high' }],
    ['the signer', { signer: 'key other' }],
    ['apko', { apko: '1.2.32' }],
  ])('changes with %s', (_, change) => {
    expect(imageInputDigest({ ...inputs, ...change })).not.toBe(imageInputDigest(inputs));
  });
});
