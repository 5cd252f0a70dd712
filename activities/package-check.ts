// Check: what a freshly built package must be before it is published: signed by a key of the
// catalog's keyring (data covered too), carrying the SBOM melange packs into every APK, providing
// the sonames the published version did (ABI guard), and within the catalog's CVE policy.
import { isAbsolute, join, relative } from 'node:path';
import type { KilnConfig } from '../config/config.js';
import { abiVerdict, sorted, type AbiVerdict } from '../domain/abi.js';
import { fullVersion } from '../domain/apk-version.js';
import { corruptArtifact, failure } from '../domain/failures.js';
import { checkSbom, type SbomCheck } from '../domain/sbom.js';
import { vulnerabilities } from '../domain/secdb.js';
import { readApk } from '../apk/reader.js';
import { publishedIndex } from '../apk/repository.js';
import { checkSignature } from '../apk/signature.js';
import { readSnapshot, snapshotPackage } from '../io/catalog-snapshot.js';
import { loadFeed } from '../io/feed.js';
import type { PackageCheckInput } from './package-test.js';

export type { AbiVerdict } from '../domain/abi.js';

export interface PackageChecks {
  /** The keyring key whose RSA signature over the control member verified (main APK). */
  signature: { key: string };
  /** The main APK's SBOM (every APK of the build is checked the same way). */
  sbom: SbomCheck;
  abi: AbiVerdict;
  cves: { id: string; fixedIn: string }[];
  cvePolicy: 'none' | 'report' | 'fail';
}

/**
 * Signature, SBOM, ABI and CVE checks of one build. CVE policy `fail` fails on any unfixed CVE
 * whatever `failOn` says: secdb records which version fixed what, not how severe it was.
 */
export async function checkPackage(_config: KilnConfig, input: PackageCheckInput): Promise<PackageChecks> {
  const { build } = input;
  const catalog = await readSnapshot(input.snapshotDir);
  snapshotPackage(catalog, build.name, input.snapshotDir);
  const { settings } = catalog;
  const mainFile = `${build.name}-${fullVersion(build)}.apk`;
  const files = sorted([mainFile, ...build.apks.map((a) => a.file)]);
  let signature: PackageChecks['signature'] | undefined;
  let sbom: PackageChecks['sbom'] | undefined;
  const apks: { name: string; provides: string[] }[] = [];
  for (const file of files) {
    const path = join(build.buildDir, file);
    const contents = await readApk(path);
    const name = contents.pkginfo.get('pkgname')?.[0];
    const version = contents.pkginfo.get('pkgver')?.[0];
    if (!name || !version) throw corruptArtifact(`${path}: .PKGINFO has no pkgname or pkgver`);
    // A published (up-to-date) APK's data is checked by apk/apko on every install, where a
    // tampered one fails the image naming the package; here only builds made now are vouched for.
    const sig = await checkSignature(path, contents, settings.keyring, build.status !== 'up-to-date');
    const doc = checkSbom(path, contents.sboms, name, version);
    if (file === mainFile) [signature, sbom] = [sig, doc];
    apks.push({ name, provides: contents.pkginfo.get('provides') ?? [] });
  }
  // The published APKs themselves (or a rebuild byte-identical to them) cannot break the published ABI.
  const abi: AbiVerdict =
    build.status === 'up-to-date' || build.status === 'reproduced'
      ? { verdict: 'compatible', removed: [], added: [], rebuild: [] }
      : abiVerdict(build, apks, await publishedIndex(settings.packageRepository, build.arch), catalog);
  const checks = { signature: signature!, sbom: sbom!, abi };
  if (!settings.vulnerabilities) return { ...checks, cves: [], cvePolicy: 'none' };
  const { feed } = settings.vulnerabilities;
  // Problems name the feed as catalog.yaml has it, not the snapshot's copy.
  const inCatalog = relative(input.snapshotDir, feed);
  const shown = isAbsolute(feed) && !inCatalog.startsWith('..') ? inCatalog : feed;
  const cves = vulnerabilities((await loadFeed(feed, shown)).feed, build.name, fullVersion(build));
  if (cves.length && settings.vulnerabilities.policy === 'fail') {
    throw failure(
      'VulnerabilityPolicy',
      `${build.name} ${fullVersion(build)} has known, unfixed vulnerabilities: ${cves.map((c) => `${c.id} (fixed in ${c.fixedIn})`).join(', ')} ` +
        `(fix: upgrade to a fixed version, or set catalog.yaml vulnerabilities.policy: report)`,
      { details: [{ cves }] },
    );
  }
  return { ...checks, cves, cvePolicy: settings.vulnerabilities.policy };
}
