// Comparing a rebuild's APKs with the published ones: identical bytes, and when they differ, which
// APK, its sizes and which entries differ by path (what `force` reports as "not reproducible").
import { generateKeyPairSync } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareApks } from '../../../apk/compare.js';
import { writeApk, type ApkFile } from '../../../apk/writer.js';
import { sha256hex } from '../../../domain/digest.js';

let dir: string;
let key: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiln-compare-'));
  key = join(dir, 'test.rsa');
  const pair = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
  });
  await writeFile(key, pair.privateKey, { mode: 0o600 });
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

const file = (path: string, content: string): ApkFile => ({
  path,
  type: 'file',
  mode: 0o644,
  content: Buffer.from(content),
});

/** Writes `name-1.0.0-r0.apk` with these files into `<dir>/<side>/` and lists it as a build does. */
async function apk(side: string, name: string, files: ApkFile[]) {
  await mkdir(join(dir, side), { recursive: true });
  const bytes = await writeApk({
    name,
    version: '1.0.0-r0',
    arch: 'x86_64',
    description: 'compare fixture',
    url: '',
    license: 'MIT',
    files,
    signingKeyPath: key,
    mtime: 0,
  });
  const apkFile = `${name}-1.0.0-r0.apk`;
  await writeFile(join(dir, side, apkFile), bytes);
  return { file: apkFile, sha256: sha256hex(bytes), size: bytes.length };
}

describe('compareApks', () => {
  it('calls byte-identical APKs identical', async () => {
    const files = [file('usr/share/x/fixed', 'same\n')];
    const a = await apk('same-a', 'pkg', files);
    const b = await apk('same-b', 'pkg', files);
    expect(
      await compareApks({
        publishedDir: join(dir, 'same-a'),
        published: [a],
        rebuiltDir: join(dir, 'same-b'),
        rebuilt: [b],
      }),
    ).toEqual({ identical: true, differences: [] });
  });

  it('names the APK, both sizes and digests, and exactly the entries that differ', async () => {
    const a = await apk('diff-a', 'pkg', [file('usr/share/x/fixed', 'same\n'), file('usr/share/x/random', '1234\n')]);
    const b = await apk('diff-b', 'pkg', [
      file('usr/share/x/fixed', 'same\n'),
      file('usr/share/x/random', '98765\n'),
      file('usr/share/x/extra', 'new\n'),
    ]);
    const result = await compareApks({
      publishedDir: join(dir, 'diff-a'),
      published: [a],
      rebuiltDir: join(dir, 'diff-b'),
      rebuilt: [b],
    });
    expect(result.identical).toBe(false);
    expect(result.differences).toEqual([
      {
        file: 'pkg-1.0.0-r0.apk',
        publishedSize: a.size,
        rebuiltSize: b.size,
        publishedSha256: a.sha256,
        rebuiltSha256: b.sha256,
        entries: [
          // The control member's .PKGINFO (datahash, size) and the signature over it follow the data.
          { path: '.PKGINFO', change: 'changed' },
          { path: '.SIGN.RSA256.test.rsa.pub', change: 'changed' },
          { path: 'usr/share/x/extra', change: 'only-rebuilt' },
          { path: 'usr/share/x/random', change: 'changed' },
        ],
      },
    ]);
  });

  it('reports an APK that only one side has, without entries', async () => {
    const main = await apk('only-a', 'pkg', [file('usr/share/x/fixed', 'same\n')]);
    await apk('only-b', 'pkg', [file('usr/share/x/fixed', 'same\n')]);
    const sub = await apk('only-b', 'pkg-doc', [file('usr/share/doc/x', 'doc\n')]);
    const result = await compareApks({
      publishedDir: join(dir, 'only-a'),
      published: [main],
      rebuiltDir: join(dir, 'only-b'),
      rebuilt: [main, sub],
    });
    expect(result).toEqual({
      identical: false,
      differences: [{ file: 'pkg-doc-1.0.0-r0.apk', rebuiltSize: sub.size, rebuiltSha256: sub.sha256, entries: [] }],
    });
  });
});
