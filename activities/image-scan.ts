// scanImage: the image's installed packages against the catalog's known-CVE feed, written as a
// cosign vuln predicate (attested later) and judged against the catalog's vulnerability policy.
// Packages are matched through their origin (APK `o:`), as secdb is keyed (domain/secdb.ts). A
// catalog without a feed is not scanned: no predicate is written, so no vuln attestation is made.
import { asyncLocalStorage } from '@temporalio/activity';
import type { KilnConfig } from '../config/config.js';
import type { Severity } from '../domain/catalog.js';
import { sha256digest } from '../domain/digest.js';
import { failsPolicy, severityOf } from '../domain/image-verdicts.js';
import { installedVulnerabilities } from '../domain/secdb.js';
import { loadFeed } from '../io/feed.js';
import { layoutPackages } from '../oci/image-reader.js';
import { writePredicateFile } from '../signing/statements.js';
import { readSnapshot } from '../io/catalog-snapshot.js';

export interface ScanFinding {
  /** The installed package (maybe a subpackage). */
  package: string;
  version: string;
  /** The secdb entry it matched through, when that is its origin rather than its own name. */
  origin?: string;
  id: string;
  fixedIn: string;
  severity: Severity;
}

export interface ScanResult {
  /**
   * cosign vuln predicate (`https://cosign.sigstore.dev/attestation/vuln/v1`) as JSON; absent when
   * nothing was scanned, so that no attestation claims a scan.
   */
  predicateFile?: string;
  /** "none" when the catalog configures no feed: nothing was scanned. */
  scanner: 'kiln-secdb' | 'none';
  findings: ScanFinding[];
  /** Policy `fail` and a finding at or above `failOn`. */
  blocked: boolean;
  /** Ids of the findings that block. */
  blockedBy: string[];
  /** sha256 of the sorted findings: unchanged means the last attestation still says the same. */
  resultDigest: string;
}

export interface ScanInput {
  snapshotDir: string;
  name: string;
  layoutDir: string;
  digest: string;
}

const SCANNER_URI = 'https://kiln.dev/scanner/secdb';
/** resultDigest when nothing was scanned: no findings, and no claim that there are none. */
const NOTHING_SCANNED = sha256digest('not scanned: the catalog configures no vulnerability feed');

/**
 * Matches the image's installed packages, by origin, against the catalog's secdb feed and writes
 * the result as a cosign vuln predicate (the matches go in scanner.result). Without a feed nothing
 * is scanned and no predicate is written (`scanner: 'none'`).
 */
export async function scanImage(config: KilnConfig, input: ScanInput): Promise<ScanResult> {
  const catalog = await readSnapshot(input.snapshotDir);
  const policy = catalog.settings.vulnerabilities;
  if (!policy) return { scanner: 'none', findings: [], blocked: false, blockedBy: [], resultDigest: NOTHING_SCANNED };
  const scanStartedOn = new Date().toISOString();
  const packages = await layoutPackages(input.layoutDir);
  const loaded = await loadFeed(policy.feed);
  const findings: ScanFinding[] = installedVulnerabilities(loaded.feed, packages).map((v) => ({
    package: v.package,
    version: v.version,
    ...(v.origin ? { origin: v.origin } : {}),
    id: v.id,
    fixedIn: v.fixedIn,
    severity: severityOf(loaded.feed, v.id),
  }));
  const blockedBy =
    policy.policy === 'fail'
      ? [...new Set(findings.filter((f) => failsPolicy(f.severity, policy.failOn)).map((f) => f.id))]
      : [];
  const resultDigest = sha256digest(JSON.stringify(findings));
  const run = asyncLocalStorage.getStore()?.info.workflowExecution;
  const predicate = {
    invocation: {
      parameters: {
        image: input.name,
        digest: input.digest,
        feed: policy.feed,
        policy: policy.policy,
        failOn: policy.failOn,
      },
      uri: SCANNER_URI,
      event_id: run ? `${run.workflowId}/${run.runId}` : '',
      'builder.id': config.builderId,
    },
    scanner: {
      uri: SCANNER_URI,
      version: '2',
      db: { uri: policy.feed, version: loaded.digest },
      result: {
        resultDigest,
        blocked: blockedBy.length > 0,
        packagesScanned: packages.length,
        matches: findings.map((f) => ({
          vulnerability: { id: f.id, severity: f.severity, fixedInVersion: f.fixedIn },
          artifact: { name: f.package, version: f.version, type: 'apk', ...(f.origin ? { origin: f.origin } : {}) },
        })),
      },
    },
    metadata: { scanStartedOn, scanFinishedOn: new Date().toISOString() },
  };
  const predicateFile = await writePredicateFile(config.paths, input.digest, 'vuln', predicate);
  return {
    predicateFile,
    scanner: 'kiln-secdb',
    findings,
    blocked: blockedBy.length > 0,
    blockedBy,
    resultDigest,
  };
}
