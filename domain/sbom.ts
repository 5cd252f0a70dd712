// The SBOM every kiln-built APK must carry. Pure: judges bytes already read from the APK.
import { failure } from './failures.js';
import { describedIds } from './sbom-files.js';

export const SBOM_DIR = 'var/lib/db/sbom/';

export interface SbomCheck {
  file: string;
  spdxVersion: string;
  packages: number;
}

/**
 * melange writes `var/lib/db/sbom/<name>-<version>-r<epoch>.spdx.json` into every APK it builds:
 * SPDX 2.3 describing (documentDescribes) a package `SPDXRef-Package-apk-<name>-<version>-r<epoch>`
 * with name `<name>` and versionInfo `<version>-r<epoch>`, beside the OS and the melange config.
 * `sboms` are the APK's files under var/lib/db/sbom/; a problem is SbomInvalid, naming `apkPath`.
 */
export function checkSbom(apkPath: string, sboms: Map<string, Buffer>, name: string, version: string): SbomCheck {
  const file = `${SBOM_DIR}${name}-${version}.spdx.json`;
  const fail = (what: string): never => {
    throw failure(
      'SbomInvalid',
      `${apkPath}: SBOM ${file} ${what} (fix: build the package with melange, which writes it; do not strip var/lib/db/sbom)`,
    );
  };
  const bytes = sboms.get(file);
  if (!bytes) return fail(`is missing${sboms.size ? ` (found ${[...sboms.keys()].join(', ')})` : ''}`);
  let doc: { spdxVersion?: unknown; packages?: unknown; documentDescribes?: unknown; relationships?: unknown };
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    return fail(`is not JSON: ${(err as Error).message}`);
  }
  if (doc.spdxVersion !== 'SPDX-2.3') fail(`has spdxVersion ${JSON.stringify(doc.spdxVersion)}, expected "SPDX-2.3"`);
  const packages = Array.isArray(doc.packages)
    ? (doc.packages as { SPDXID?: unknown; name?: unknown; versionInfo?: unknown }[])
    : [];
  const entry = packages.find((p) => p?.name === name && p.versionInfo === version);
  if (!entry) return fail(`has no package entry with name ${name} and versionInfo ${version}`);
  if (!describedIds(doc).includes(entry.SPDXID))
    fail(
      `does not describe its ${name} ${version} package entry (${String(entry.SPDXID)} is not in documentDescribes)`,
    );
  return { file, spdxVersion: 'SPDX-2.3', packages: packages.length };
}
