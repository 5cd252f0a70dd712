// The SBOM kiln keeps beside a published APK lists the APK's real files (apk/kept-sbom.ts,
// domain/sbom-files.ts). Pure logic on a fixture APK this test writes itself (apk/writer.ts), with
// a melange-style SPDX document of its own making packed inside; no tool and no repository index
// are involved. The image case rewrites an apko-style image SBOM written here too.
import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apkDataFiles, keepPackageSbom, keptSbomPath, listImagePackageFiles } from '../../../apk/kept-sbom.js';
import { writeApk, type ApkFile } from '../../../apk/writer.js';
import type { SpdxDocument } from '../../../domain/sbom-files.js';

const hex = (alg: 'sha1' | 'sha256', data: string | Buffer) => createHash(alg).update(data).digest('hex');
const library = Buffer.from('\x7fELF pretend shared library\n', 'latin1');
const header = Buffer.from('#define ZLIB_VERSION "1.2.13"\n');
const sbomPath = 'var/lib/db/sbom/zlib-1.2.13-r0.spdx.json';

/** What melange writes: the package (files not analysed), its OS and its config, a DESCRIBED_BY. */
const packed = {
  SPDXID: 'SPDXRef-DOCUMENT',
  name: 'apk-zlib-1.2.13-r0',
  spdxVersion: 'SPDX-2.3',
  creationInfo: { created: '1970-01-01T00:00:00Z', creators: ['Tool: melange (v0.58.0)'] },
  dataLicense: 'CC0-1.0',
  documentNamespace: 'https://spdx.org/spdxdocs/test/zlib-1.2.13-r0',
  documentDescribes: ['SPDXRef-Package-apk-zlib-1.2.13-r0'],
  packages: [
    {
      SPDXID: 'SPDXRef-OperatingSystem',
      name: 'kiln',
      filesAnalyzed: false,
      downloadLocation: 'NOASSERTION',
      primaryPackagePurpose: 'OPERATING_SYSTEM',
    },
    {
      SPDXID: 'SPDXRef-Package-apk-zlib-1.2.13-r0',
      name: 'zlib',
      versionInfo: '1.2.13-r0',
      filesAnalyzed: false,
      licenseConcluded: 'NOASSERTION',
      licenseDeclared: 'Zlib',
      downloadLocation: 'NOASSERTION',
      copyrightText: 'NOASSERTION',
      externalRefs: [
        {
          referenceCategory: 'PACKAGE-MANAGER',
          referenceLocator: 'pkg:apk/kiln/zlib@1.2.13-r0?arch=x86_64&distro=kiln',
          referenceType: 'purl',
        },
      ],
    },
    {
      SPDXID: 'SPDXRef-Package-Melange-packages-zlib.yaml',
      name: 'packages/zlib.yaml',
      filesAnalyzed: false,
      downloadLocation: 'NOASSERTION',
    },
  ],
  relationships: [
    {
      spdxElementId: 'SPDXRef-Package-apk-zlib-1.2.13-r0',
      relationshipType: 'DESCRIBED_BY',
      relatedSpdxElement: 'SPDXRef-Package-Melange-packages-zlib.yaml',
    },
  ],
};
const packedBytes = Buffer.from(JSON.stringify(packed, null, 2));

let dir: string;
let repoArch: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiln-kept-sbom-'));
  repoArch = join(dir, 'repo', 'x86_64');
  await mkdir(repoArch, { recursive: true });
  const { privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
  });
  await writeFile(join(dir, 'test.rsa'), privateKey, { mode: 0o600 });
  const files: ApkFile[] = [
    { path: 'usr/lib/libz.so.1.2.13', type: 'file', mode: 0o755, content: library },
    { path: 'usr/lib/libz.so.1', type: 'symlink', mode: 0o777, target: 'libz.so.1.2.13' },
    { path: 'usr/include/zlib.h', type: 'file', mode: 0o644, content: header },
    { path: 'usr/share/empty', type: 'file', mode: 0o644, content: Buffer.alloc(0) },
    { path: sbomPath, type: 'file', mode: 0o644, content: packedBytes },
  ];
  const apk = await writeApk({
    name: 'zlib',
    version: '1.2.13-r0',
    arch: 'x86_64',
    description: 'fixture',
    url: 'https://example.org',
    license: 'Zlib',
    files,
    signingKeyPath: join(dir, 'test.rsa'),
    mtime: 1_700_000_000,
  });
  await writeFile(join(repoArch, 'zlib-1.2.13-r0.apk'), apk);
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

describe('apkDataFiles', () => {
  it('lists every regular file of the data with its SHA1 and SHA256, and no symlink or directory', async () => {
    const files = await apkDataFiles(join(repoArch, 'zlib-1.2.13-r0.apk'));
    expect(files.sort((a, b) => a.path.localeCompare(b.path))).toEqual([
      { path: 'usr/include/zlib.h', sha1: hex('sha1', header), sha256: hex('sha256', header) },
      { path: 'usr/lib/libz.so.1.2.13', sha1: hex('sha1', library), sha256: hex('sha256', library) },
      { path: 'usr/share/empty', sha1: hex('sha1', ''), sha256: hex('sha256', '') },
      { path: sbomPath, sha1: hex('sha1', packedBytes), sha256: hex('sha256', packedBytes) },
    ]);
  });
});

describe('keepPackageSbom', () => {
  let kept: SpdxDocument & { files: { SPDXID: string; fileName: string; checksums: unknown[] }[] };
  beforeAll(async () => {
    const path = await keepPackageSbom(repoArch, 'zlib-1.2.13-r0.apk');
    expect(path).toBe(join(repoArch, 'zlib-1.2.13-r0.spdx.json'));
    expect(keptSbomPath(repoArch, 'zlib-1.2.13-r0.apk')).toBe(path);
    kept = JSON.parse(await readFile(path!, 'utf8')) as typeof kept;
  });

  it('lists each regular file as an SPDX File with ./path, SHA1 and SHA256, no license concluded', () => {
    const lib = kept.files.find((f) => f.fileName === './usr/lib/libz.so.1.2.13');
    expect(lib).toEqual({
      SPDXID: expect.stringMatching(/^SPDXRef-File-zlib-[A-Za-z0-9.-]+$/),
      fileName: './usr/lib/libz.so.1.2.13',
      checksums: [
        { algorithm: 'SHA1', checksumValue: hex('sha1', library) },
        { algorithm: 'SHA256', checksumValue: hex('sha256', library) },
      ],
      licenseConcluded: 'NOASSERTION',
      copyrightText: 'NOASSERTION',
    });
    expect(kept.files.map((f) => f.fileName).sort()).toEqual([
      './usr/include/zlib.h',
      './usr/lib/libz.so.1.2.13',
      './usr/share/empty',
      `./${sbomPath}`,
    ]);
    // The symlink is no SPDX File (no content of its own).
    expect(kept.files.some((f) => f.fileName === './usr/lib/libz.so.1')).toBe(false);
    expect(new Set(kept.files.map((f) => f.SPDXID)).size).toBe(4);
  });

  it('makes the package CONTAIN each file, with filesAnalyzed and the SPDX 2.3 verification code', () => {
    const zlib = kept.packages!.find((p) => p.SPDXID === 'SPDXRef-Package-apk-zlib-1.2.13-r0')!;
    expect(zlib.filesAnalyzed).toBe(true);
    // §7.9, computed here from the file contents: SHA1 of the sorted, concatenated SHA1s.
    const sums = [library, header, Buffer.alloc(0), packedBytes].map((b) => hex('sha1', b)).sort();
    expect(zlib.packageVerificationCode).toEqual({ packageVerificationCodeValue: hex('sha1', sums.join('')) });
    const contains = kept
      .relationships!.filter((r) => r.relationshipType === 'CONTAINS')
      .map((r) => [r.spdxElementId, r.relatedSpdxElement]);
    expect(contains.sort()).toEqual(kept.files.map((f) => ['SPDXRef-Package-apk-zlib-1.2.13-r0', f.SPDXID]).sort());
  });

  it('keeps everything melange wrote', () => {
    const { files, packages, relationships, ...rest } = kept;
    const { packages: before, relationships: rels, ...restBefore } = packed;
    expect(rest).toEqual(restBefore);
    expect(files).toHaveLength(4);
    expect(relationships).toEqual(expect.arrayContaining(rels));
    expect(packages).toHaveLength(before.length);
    for (const p of before) {
      expect(packages!.find((q) => q.SPDXID === p.SPDXID)).toMatchObject(
        p.SPDXID === 'SPDXRef-Package-apk-zlib-1.2.13-r0' ? { ...p, filesAnalyzed: true } : p,
      );
    }
  });

  it('leaves a kept SBOM as it is, and keeps none for an APK without a packed SBOM', async () => {
    const path = join(repoArch, 'zlib-1.2.13-r0.spdx.json');
    const bytes = await readFile(path);
    await keepPackageSbom(repoArch, 'zlib-1.2.13-r0.apk');
    expect(await readFile(path)).toEqual(bytes);
    const bare = await writeApk({
      name: 'bare',
      version: '1.0.0-r0',
      arch: 'x86_64',
      description: 'no SBOM',
      url: 'https://example.org',
      license: 'MIT',
      files: [{ path: 'usr/bin/bare', type: 'file', mode: 0o755, content: Buffer.from('x') }],
      signingKeyPath: join(dir, 'test.rsa'),
      mtime: 1_700_000_000,
    });
    await writeFile(join(repoArch, 'bare-1.0.0-r0.apk'), bare);
    expect(await keepPackageSbom(repoArch, 'bare-1.0.0-r0.apk')).toBeUndefined();
  });
});

describe('listImagePackageFiles', () => {
  it("lists a kept package's files under the image's package entry; packages without one stay", async () => {
    await keepPackageSbom(repoArch, 'zlib-1.2.13-r0.apk');
    const image = {
      SPDXID: 'SPDXRef-DOCUMENT',
      spdxVersion: 'SPDX-2.3',
      documentDescribes: ['SPDXRef-Package-Image'],
      packages: [
        { SPDXID: 'SPDXRef-Package-Image', name: 'sha256:00', filesAnalyzed: false },
        { ...packed.packages[1] },
        {
          SPDXID: 'SPDXRef-Package-busybox',
          name: 'busybox',
          versionInfo: '1.35.0-r0',
          filesAnalyzed: false,
          externalRefs: [{ referenceLocator: 'pkg:apk/kiln/busybox@1.35.0-r0?arch=x86_64', referenceType: 'purl' }],
        },
      ],
      relationships: [
        {
          spdxElementId: 'SPDXRef-Package-Image',
          relationshipType: 'CONTAINS',
          relatedSpdxElement: 'SPDXRef-Package-apk-zlib-1.2.13-r0',
        },
      ],
    };
    const file = join(dir, 'sbom-x86_64.spdx.json');
    await writeFile(file, JSON.stringify(image));
    expect(await listImagePackageFiles(file, [join(dir, 'repo'), 'https://example.org/repo'])).toEqual(['zlib']);
    const doc = JSON.parse(await readFile(file, 'utf8')) as SpdxDocument;
    const kept = JSON.parse(await readFile(join(repoArch, 'zlib-1.2.13-r0.spdx.json'), 'utf8')) as SpdxDocument;
    expect(doc.files).toEqual(kept.files);
    const zlib = doc.packages!.find((p) => p.name === 'zlib')!;
    expect(zlib.packageVerificationCode).toEqual(
      kept.packages!.find((p) => p.name === 'zlib')!.packageVerificationCode,
    );
    expect(doc.packages!.find((p) => p.name === 'busybox')).toEqual(image.packages[2]);
    expect(doc.relationships!.filter((r) => r.relationshipType === 'CONTAINS')).toHaveLength(1 + doc.files!.length);
  });
});
