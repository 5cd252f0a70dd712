// The files of a package in its SPDX 2.3 document. Pure: digests in, document out.
//
// melange 0.58 writes each APK's SBOM with `filesAnalyzed: false` and no files, and apko's image
// SBOM copies those package entries. kiln knows the files (it reads the APK's data member), so the
// SBOM it keeps lists them: one SPDX File per regular file, the package CONTAINS each, and the
// package's verification code (SPDX 2.3 §7.9) over them, everything melange wrote kept as it was.
//
// Only regular files (and hard links, which are the same content under another name) are SPDX
// Files: a File is content with checksums (SHA1 required), which a symlink does not have (its
// target is a path, already covered by the file it names) nor a directory. So symlinks such as
// usr/lib/libz.so.1 -> libz.so.1.2.13 are not listed, and do not enter the verification code.
import { sha1, sha256hex } from './digest.js';
import { failure } from './failures.js';

/** A regular file of a package's data, as installed (`usr/lib/libz.so.1.2.13`), with its digests (hex). */
export interface PackageFile {
  path: string;
  sha1: string;
  sha256: string;
}

export interface SpdxChecksum {
  algorithm: string;
  checksumValue: string;
}

export interface SpdxFile {
  SPDXID: string;
  fileName: string;
  checksums: SpdxChecksum[];
  licenseConcluded: string;
  copyrightText: string;
}

export interface SpdxPackage {
  SPDXID: string;
  name: string;
  versionInfo?: string;
  filesAnalyzed?: boolean;
  packageVerificationCode?: { packageVerificationCodeValue: string };
  licenseInfoFromFiles?: string[];
  [field: string]: unknown;
}

export interface SpdxRelationship {
  spdxElementId: string;
  relationshipType: string;
  relatedSpdxElement: string;
}

export interface SpdxDocument {
  spdxVersion?: string;
  packages?: SpdxPackage[];
  files?: SpdxFile[];
  relationships?: SpdxRelationship[];
  [field: string]: unknown;
}

/** The digests of `content` as a PackageFile at `path`. */
export const packageFile = (path: string, content: Buffer): PackageFile => ({
  path,
  sha1: sha1(content).toString('hex'),
  sha256: sha256hex(content),
});

/**
 * SPDX 2.3 §7.9: the SHA1 of the concatenation of the files' SHA1s (lowercase hex), sorted in
 * ascending order. No file is excluded: the SPDX document melange packs into the APK is one of its
 * installed files like any other, and the document kiln keeps is a different one, outside it.
 */
export function verificationCode(files: readonly PackageFile[]): string {
  const sums = files.map((f) => f.sha1.toLowerCase()).sort();
  return sha1(sums.join('')).toString('hex');
}

/** Letters, digits, `.` and `-`: the characters an SPDX idstring may hold. */
const idPart = (s: string) => s.replace(/[^A-Za-z0-9.-]+/g, '-').replace(/^-+|-+$/g, '');

/**
 * A file's SPDXID: readable (package and path), and unique even where two paths differ only in
 * characters an SPDXID cannot hold (a short digest of the exact path).
 */
export const fileSpdxId = (packageName: string, path: string): string =>
  `SPDXRef-File-${idPart(packageName)}-${idPart(path)}-${sha256hex(path).slice(0, 8)}`;

/**
 * The document with `files` listed under its package `packageId`: SPDX Files named as SPDX asks
 * (`./usr/lib/libz.so.1.2.13`, relative to the package's root, which is `/` once installed), with
 * SHA1 and SHA256; licenseConcluded NOASSERTION (nobody analysed each file's license: the
 * package's declared license stays on the package), copyrightText NOASSERTION; a CONTAINS
 * relationship from the package to each; the package `filesAnalyzed: true` with its verification
 * code. Everything else in the document is kept as it was. Files already listed are replaced, so
 * listing the same package twice gives the same document.
 */
export function withPackageFiles(doc: SpdxDocument, packageId: string, files: readonly PackageFile[]): SpdxDocument {
  const pkg = doc.packages?.find((p) => p.SPDXID === packageId);
  if (!pkg) throw failure('SbomInvalid', `SPDX document has no package ${packageId} to list files under`);
  const sorted = [...files].sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)));
  const entries: SpdxFile[] = sorted.map((f) => ({
    SPDXID: fileSpdxId(pkg.name, f.path),
    fileName: `./${f.path.replace(/^\.?\/+/, '')}`,
    checksums: [
      { algorithm: 'SHA1', checksumValue: f.sha1 },
      { algorithm: 'SHA256', checksumValue: f.sha256 },
    ],
    licenseConcluded: 'NOASSERTION',
    copyrightText: 'NOASSERTION',
  }));
  const ids = new Set(entries.map((e) => e.SPDXID));
  if (ids.size !== entries.length) throw failure('SbomInvalid', `${pkg.name} lists one file path twice`);
  const contained = (r: SpdxRelationship) =>
    r.spdxElementId === packageId && r.relationshipType === 'CONTAINS' && ids.has(r.relatedSpdxElement);
  return {
    ...doc,
    packages: doc.packages!.map((p) =>
      p !== pkg
        ? p
        : {
            ...p,
            filesAnalyzed: true,
            // The files' licenses were not analysed (see above); SPDX 2.3 allows saying so.
            licenseInfoFromFiles: ['NOASSERTION'],
            packageVerificationCode: { packageVerificationCodeValue: verificationCode(sorted) },
          },
    ),
    files: [...(doc.files ?? []).filter((f) => !ids.has(f.SPDXID)), ...entries],
    relationships: [
      ...(doc.relationships ?? []).filter((r) => !contained(r)),
      ...entries.map((e) => ({ spdxElementId: packageId, relationshipType: 'CONTAINS', relatedSpdxElement: e.SPDXID })),
    ],
  };
}

/**
 * The package entry a package's own SPDX document is about: the one its document describes
 * (documentDescribes or a DESCRIBES relationship) with that name and versionInfo.
 */
export function describedPackage(doc: SpdxDocument, name: string, version: string): SpdxPackage | undefined {
  const describes = describedIds(doc);
  return doc.packages?.find((p) => describes.includes(p.SPDXID) && p.name === name && p.versionInfo === version);
}

/** SPDX 2.3 says what a document is about either way: documentDescribes, or DESCRIBES relationships. */
export function describedIds(doc: { documentDescribes?: unknown; relationships?: unknown }): unknown[] {
  return [
    ...(Array.isArray(doc.documentDescribes) ? (doc.documentDescribes as unknown[]) : []),
    ...(Array.isArray(doc.relationships) ? (doc.relationships as Partial<SpdxRelationship>[]) : [])
      .filter((r) => r?.spdxElementId === 'SPDXRef-DOCUMENT' && r.relationshipType === 'DESCRIBES')
      .map((r) => r.relatedSpdxElement),
  ];
}

/** A package's listed files, back from a document withPackageFiles made (for an image's SBOM). */
export function listedFiles(doc: SpdxDocument, packageId: string): PackageFile[] {
  const byId = new Map((doc.files ?? []).map((f) => [f.SPDXID, f]));
  const out: PackageFile[] = [];
  for (const r of doc.relationships ?? []) {
    if (r.spdxElementId !== packageId || r.relationshipType !== 'CONTAINS') continue;
    const f = byId.get(r.relatedSpdxElement);
    const sum = (alg: string) => f?.checksums.find((c) => c.algorithm === alg)?.checksumValue;
    if (f && sum('SHA1') && sum('SHA256'))
      out.push({ path: f.fileName.replace(/^\.\//, ''), sha1: sum('SHA1')!, sha256: sum('SHA256')! });
  }
  return out;
}
