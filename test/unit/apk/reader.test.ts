// readApk and apkDataFiles on an APK whose bytes changed after it was written (the fault suite's tampered APK): the
// failure is CorruptArtifact and names the file, not zlib's bare "incorrect data check".
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apkDataFiles } from '../../../apk/kept-sbom.js';
import { readApk } from '../../../apk/reader.js';
import { writeApk } from '../../../apk/writer.js';

let dir: string;
let apk: Buffer;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiln-apk-read-'));
  const pair = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
  });
  await writeFile(join(dir, 'test.rsa'), pair.privateKey, { mode: 0o600 });
  apk = await writeApk({
    name: 'hello',
    version: '1.0.0-r0',
    arch: 'x86_64',
    description: 'a test package',
    url: 'https://example.org',
    license: 'MIT',
    origin: 'hello',
    depends: [],
    provides: [],
    signingKeyPath: join(dir, 'test.rsa'),
    mtime: 1_700_000_000,
    files: [{ path: 'usr/share/hello', type: 'file', mode: 0o644, content: Buffer.from('hello '.repeat(200)) }],
  });
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

describe('readApk', () => {
  it('reads the APK as written', async () => {
    await writeFile(join(dir, 'good.apk'), apk);
    expect((await readApk(join(dir, 'good.apk'))).pkginfo.get('pkgname')).toEqual(['hello']);
  });

  it('names the file of an APK changed after it was written', async () => {
    const tampered = Buffer.from(apk);
    tampered[tampered.length - 40]! ^= 0xff;
    const path = join(dir, 'hello-1.0.0-r0.apk');
    await writeFile(path, tampered);
    await expect(readApk(path)).rejects.toMatchObject({
      type: 'CorruptArtifact',
      message: expect.stringContaining(`${path}: not a readable APK`),
    });
    // The data member's files (the image SBOM's package files) are read by a stream: the same.
    await expect(apkDataFiles(path)).rejects.toMatchObject({
      type: 'CorruptArtifact',
      message: expect.stringContaining(`${path}: not a readable APK`),
    });
  });
});
