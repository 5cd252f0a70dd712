// The SBOM kiln keeps for each published APK, beside it in the repository
// (`<repo>/<arch>/zlib-1.2.13-r0.spdx.json`): the SPDX document melange packed into the APK, with
// the APK's real files listed (domain/sbom-files.ts). The APK's own bytes are never touched: its
// signature and every published copy stay valid. Also lists those files in an image's SBOM.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { corruptArtifact, failure } from '../domain/failures.js';
import { SBOM_DIR } from '../domain/sbom.js';
import {
  describedPackage,
  listedFiles,
  packageFile,
  withPackageFiles,
  type PackageFile,
  type SpdxDocument,
  type SpdxPackage,
} from '../domain/sbom-files.js';
import { tarEntries } from '../domain/tar.js';
import { writeFileAtomically } from '../io/atomic-file.js';
import { readApk, splitGzipMembers } from './reader.js';

/** Where the kept SBOM of `<repoArch>/<name>-<version>.apk` is. */
export const keptSbomPath = (repoArch: string, apkFile: string) =>
  join(repoArch, `${apkFile.replace(/\.apk$/, '')}.spdx.json`);

/**
 * The regular files of an APK's data member (the last gzip member) with their digests, read as a
 * stream one file at a time. A hard link is the content of the file it names, under its own path.
 */
export async function apkDataFiles(apkPath: string): Promise<PackageFile[]> {
  let members: Buffer[];
  try {
    members = splitGzipMembers(await readFile(apkPath));
  } catch (err) {
    throw corruptArtifact(`${apkPath}: not a readable APK (${(err as Error).message})`);
  }
  const data = Readable.from([members[members.length - 1]!]).pipe(createGunzip());
  const files = new Map<string, PackageFile>();
  const hardLinks: { path: string; target: string }[] = [];
  const regular = (type: string) => type === '0' || type === '7';
  try {
    for await (const { header, body } of tarEntries(data, { what: apkPath, wantBody: (h) => regular(h.type) })) {
      const path = header.path.replace(/^\.\//, '');
      if (regular(header.type)) files.set(path, packageFile(path, body ?? Buffer.alloc(0)));
      else if (header.type === '1') hardLinks.push({ path, target: header.linkname.replace(/^\.\//, '') });
    }
  } catch (err) {
    // zlib's words for a changed byte ("incorrect data check") name no file: this one does.
    if ((err as { code?: string }).code?.startsWith('Z_'))
      throw corruptArtifact(`${apkPath}: not a readable APK (${(err as Error).message})`);
    throw err;
  }
  for (const { path, target } of hardLinks) {
    const linked = files.get(target);
    if (!linked) throw corruptArtifact(`${apkPath}: hard link ${path} names ${target}, which is not in the package`);
    files.set(path, { ...linked, path });
  }
  return [...files.values()];
}

/**
 * The SPDX document melange packed into an APK, and the package entry it describes; none when the
 * APK carries none (the package checks refuse such a build before it is published: not judged here).
 */
async function packedSbom(apkPath: string): Promise<{ doc: SpdxDocument; packageId: string } | undefined> {
  const contents = await readApk(apkPath);
  const name = contents.pkginfo.get('pkgname')?.[0];
  const version = contents.pkginfo.get('pkgver')?.[0];
  const bytes = contents.sboms.get(`${SBOM_DIR}${name}-${version}.spdx.json`);
  const fail = (what: string): never => {
    throw failure('SbomInvalid', `${apkPath}: ${what} (fix: build the package with melange, which writes its SBOM)`);
  };
  if (!name || !version || !bytes) return undefined;
  let doc: SpdxDocument;
  try {
    doc = JSON.parse(bytes.toString('utf8')) as SpdxDocument;
  } catch (err) {
    return fail(`its SBOM is not JSON: ${(err as Error).message}`);
  }
  const pkg = describedPackage(doc, name, version);
  if (!pkg) return fail(`its SBOM describes no package ${name} ${version}`);
  return { doc, packageId: pkg.SPDXID };
}

/**
 * Writes the kept SBOM of `<repoArch>/<apkFile>` (temporary file, then renamed: a reader sees a
 * whole document or none) and returns its path. It is derived from the APK's bytes alone, which never change once
 * published, so one already there is left as it is.
 */
export async function keepPackageSbom(repoArch: string, apkFile: string): Promise<string | undefined> {
  const target = keptSbomPath(repoArch, apkFile);
  if (existsSync(target)) return target;
  const apkPath = join(repoArch, apkFile);
  const packed = await packedSbom(apkPath);
  if (!packed) return undefined;
  const { doc, packageId } = packed;
  const listed = withPackageFiles(doc, packageId, await apkDataFiles(apkPath));
  await writeFileAtomically(target, `${JSON.stringify(listed, null, 2)}\n`);
  return target;
}

/** `pkg:apk/<namespace>/<name>@<version>?arch=<arch>...`: the package and arch an image lists. */
function apkPurl(pkg: SpdxPackage): { arch: string } | undefined {
  const refs = Array.isArray(pkg.externalRefs) ? (pkg.externalRefs as { referenceLocator?: unknown }[]) : [];
  for (const ref of refs) {
    const m = /^pkg:apk\/[^/]+\/[^@]+@[^?]+\?(?:.*&)?arch=([^&]+)/.exec(String(ref.referenceLocator ?? ''));
    if (m) return { arch: decodeURIComponent(m[1]!) };
  }
  return undefined;
}

/**
 * Lists, in an image's SBOM (apko's, rewritten in place), the files of every package kiln keeps an
 * SBOM for in one of `repositories` (local directories; `<repo>/<arch>/`): taken from the kept
 * documents, so no layer is unpacked again. Packages without one (published before kiln kept
 * them, from a repository kiln does not publish, or a URL) stay as apko listed them. Returns the
 * names of the packages whose files are listed.
 */
export async function listImagePackageFiles(sbomFile: string, repositories: string[]): Promise<string[]> {
  let doc = JSON.parse(await readFile(sbomFile, 'utf8')) as SpdxDocument;
  const listed: string[] = [];
  for (const pkg of doc.packages ?? []) {
    const purl = apkPurl(pkg);
    if (!purl || !pkg.versionInfo) continue;
    const apkFile = `${pkg.name}-${pkg.versionInfo}.apk`;
    const kept = repositories
      .filter((r) => !/^[a-z]+:\/\//.test(r))
      .map((r) => keptSbomPath(join(r, purl.arch), apkFile))
      .find((f) => existsSync(f));
    if (!kept) continue;
    const keptDoc = JSON.parse(await readFile(kept, 'utf8')) as SpdxDocument;
    const own = describedPackage(keptDoc, pkg.name, pkg.versionInfo);
    if (!own?.filesAnalyzed) continue;
    doc = withPackageFiles(doc, pkg.SPDXID, listedFiles(keptDoc, own.SPDXID));
    listed.push(pkg.name);
  }
  if (listed.length) {
    await writeFileAtomically(sbomFile, `${JSON.stringify(doc, null, 2)}\n`);
  }
  return listed;
}
