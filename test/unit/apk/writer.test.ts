// APK v2 bytes as apk-tools, melange and apko expect them (reference §5): three gzip members, the
// signature over the control member, datahash over the data member, SHA-1 PAX records.
import { createHash, generateKeyPairSync, verify } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apkData, signedApk, writeApk, type WriteApkInput } from '../../../apk/writer.js';
import { splitGzipMembers } from '../../../apk/reader.js';
import { readTar, writeTar } from '../../../domain/tar.js';

let dir: string;
let publicKey: string;
let input: WriteApkInput;
let apk: Buffer;
const longPath = `usr/share/${'deep/'.repeat(25)}file.txt`;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiln-apk-'));
  const pair = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
  });
  publicKey = pair.publicKey;
  await writeFile(join(dir, 'test.rsa'), pair.privateKey, { mode: 0o600 });
  input = {
    name: 'hello',
    version: '1.2.3-r4',
    arch: 'x86_64',
    description: 'a test package',
    url: 'https://example.org',
    license: 'MIT',
    origin: 'hello-src',
    depends: ['kiln-baselayout', 'so:libc.so.6'],
    provides: ['cmd:hello=1.2.3-r4'],
    signingKeyPath: join(dir, 'test.rsa'),
    mtime: 1_700_000_000,
    files: [
      { path: 'usr/bin/hello', type: 'file', mode: 0o755, content: Buffer.from('#!/bin/sh\necho hello\n') },
      { path: 'usr/bin/hi', type: 'symlink', mode: 0o777, target: 'hello' },
      { path: 'etc', type: 'dir', mode: 0o755 },
      { path: longPath, type: 'file', mode: 0o644, content: Buffer.from('x') },
    ],
  };
  apk = await writeApk(input);
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

const sha1 = (b: Buffer | string) => createHash('sha1').update(b).digest('hex');
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function pkginfo(control: Buffer): Promise<Map<string, string[]>> {
  const [entry] = await readTar(gunzipSync(control));
  expect(entry?.path).toBe('.PKGINFO');
  const fields = new Map<string, string[]>();
  for (const line of entry!.data.toString('utf8').split('\n')) {
    const m = /^(\w+) = (.*)$/.exec(line);
    if (m) fields.set(m[1]!, [...(fields.get(m[1]!) ?? []), m[2]!]);
  }
  return fields;
}

describe('writeApk', () => {
  it('writes three gzip members with mtime 0 in their headers', () => {
    const members = splitGzipMembers(apk);
    expect(members).toHaveLength(3);
    expect(Buffer.concat(members).equals(apk)).toBe(true);
    for (const m of members) expect(m.readUInt32LE(4)).toBe(0);
  });

  it('signs the compressed control member (and only it) with RSA-SHA256, named after the key file', async () => {
    const [sig, control, data] = splitGzipMembers(apk);
    const entries = await readTar(gunzipSync(sig!));
    expect(entries.map((e) => e.path)).toEqual(['.SIGN.RSA256.test.rsa.pub']);
    const signature = entries[0]!.data;
    expect(verify('sha256', control!, publicKey, signature)).toBe(true);
    expect(verify('sha256', Buffer.concat([control!, data!]), publicKey, signature)).toBe(false);
  });

  it('cuts the signature and control tars and ends the data tar', () => {
    const [sig, control, data] = splitGzipMembers(apk).map((m) => gunzipSync(m));
    for (const cut of [sig!, control!]) {
      // one header block plus the padded content, no end-of-archive zero blocks
      const size = parseInt(cut.subarray(124, 136).toString().replace(/\0.*$/s, ''), 8);
      expect(cut.length).toBe(512 + Math.ceil(size / 512) * 512);
    }
    expect(data!.subarray(-1024).every((b) => b === 0)).toBe(true);
  });

  it('writes .PKGINFO with identity, relations, installed size and datahash of the data member', async () => {
    const [, control, data] = splitGzipMembers(apk);
    const f = await pkginfo(control!);
    expect(f.get('pkgname')).toEqual(['hello']);
    expect(f.get('pkgver')).toEqual(['1.2.3-r4']);
    expect(f.get('arch')).toEqual(['x86_64']);
    expect(f.get('origin')).toEqual(['hello-src']);
    expect(f.get('pkgdesc')).toEqual(['a test package']);
    expect(f.get('url')).toEqual(['https://example.org']);
    expect(f.get('license')).toEqual(['MIT']);
    expect(f.get('builddate')).toEqual(['1700000000']);
    expect(f.get('depend')).toEqual(['kiln-baselayout', 'so:libc.so.6']);
    expect(f.get('provides')).toEqual(['cmd:hello=1.2.3-r4']);
    expect(f.get('size')).toEqual([String('#!/bin/sh\necho hello\n'.length + 1)]);
    expect(f.get('datahash')).toEqual([sha256(data!)]);
  });

  it('stores sorted entries, parents included, with SHA-1 PAX records on files and symlinks', async () => {
    const [, , data] = splitGzipMembers(apk);
    const tar = gunzipSync(data!);
    const entries = await readTar(tar);
    const paths = entries.map((e) => e.path);
    expect(paths).toEqual([...paths].sort());
    expect(paths).toEqual(
      expect.arrayContaining(['etc/', 'usr/', 'usr/bin/', 'usr/bin/hello', 'usr/bin/hi', 'usr/share/', longPath]),
    );
    // readTar drops PAX records other than path/linkpath, so read them from the raw archive
    const text = tar.toString('latin1');
    expect(text).toContain(`APK-TOOLS.checksum.SHA1=${sha1('#!/bin/sh\necho hello\n')}\n`);
    expect(text).toContain(`APK-TOOLS.checksum.SHA1=${sha1('hello')}\n`);
    expect(text).toContain(`APK-TOOLS.checksum.SHA1=${sha1('x')}\n`);
    expect(text.match(/APK-TOOLS\.checksum\.SHA1=/g)).toHaveLength(3);
    expect(entries.find((e) => e.path === 'usr/bin/hi')).toMatchObject({ type: '2', linkname: 'hello' });
  });

  it('is readable by GNU tar, owner root and the fixed mtime', async () => {
    const file = join(dir, 'data.tar.gz');
    await writeFile(file, splitGzipMembers(apk)[2]!);
    const r = await execa('tar', ['--numeric-owner', '--full-time', '-tvzf', file], { env: { TZ: 'UTC' } });
    expect(r.stdout).toMatch(/^-rwxr-xr-x 0\/0 +21 2023-11-14 22:13:20 usr\/bin\/hello$/m);
    expect(r.stdout).toMatch(/^lrwxrwxrwx 0\/0 +0 2023-11-14 22:13:20 usr\/bin\/hi -> hello$/m);
    expect(r.stdout).toContain(longPath);
  });

  it('is deterministic', async () => {
    expect((await writeApk(input)).equals(apk)).toBe(true);
  });

  it('refuses a version without -rN, and duplicate paths', async () => {
    await expect(writeApk({ ...input, version: '1.2.3' })).rejects.toThrow(/-rN/);
    await expect(writeApk({ ...input, files: [...input.files, input.files[0]!] })).rejects.toThrow(/duplicate/);
  });
});

describe('apkData and signedApk', () => {
  it('make the same bytes as writeApk, so a data member can be kept and signed again', async () => {
    const { files, ...rest } = input;
    expect((await signedApk(rest, apkData(files, input.mtime))).equals(apk)).toBe(true);
  });

  it('trade size for time with the gzip level, changing only the data member', async () => {
    const fast = apkData(input.files, input.mtime, 1);
    const members = splitGzipMembers(await signedApk(input, fast));
    expect(members[2]!.equals(fast.member)).toBe(true);
    expect(gunzipSync(fast.member).equals(gunzipSync(splitGzipMembers(apk)[2]!))).toBe(true);
  });
});

describe('writeTar', () => {
  it('round-trips long names and link targets through PAX and sets directory, sticky and link modes', async () => {
    const target = `t/${'y'.repeat(120)}`;
    const tar = writeTar(
      [
        { path: 'tmp', type: 'dir', mode: 0o1777 },
        { path: longPath, type: 'file', mode: 0o600, content: Buffer.from('abc') },
        { path: 'l', type: 'symlink', mode: 0o777, target },
      ],
      { mtime: 0 },
    );
    expect(tar.length % 512).toBe(0);
    const entries = await readTar(tar);
    expect(entries.map((e) => [e.path, e.type])).toEqual([
      ['tmp/', '5'],
      [longPath, '0'],
      ['l', '2'],
    ]);
    expect(entries[1]!.data.toString()).toBe('abc');
    expect(entries[2]!.linkname).toBe(target);
    expect(tar.subarray(100, 107).toString()).toBe('0001777');
    expect(writeTar([], { mtime: 0, cut: true })).toHaveLength(0);
  });
});
