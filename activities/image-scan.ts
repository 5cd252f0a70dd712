// scanImage: the image's installed packages against the catalog's known-CVE feed, written as a
// cosign vuln predicate (attested later) and judged against the catalog's vulnerability policy.
import { asyncLocalStorage } from '@temporalio/activity';
import type { KilnConfig } from '../config/config.js';
import type { Severity } from '../domain/catalog.js';
import { sha256digest } from '../domain/digest.js';
import { failsPolicy, severityOf } from '../domain/image-verdicts.js';
import { vulnerabilities } from '../domain/secdb.js';
import { loadFeed } from '../io/feed.js';
import { layoutPackages } from '../oci/image-reader.js';
import { writePredicateFile } from '../signing/statements.js';
import { readSnapshot } from '../io/catalog-snapshot.js';

export interface ScanFinding {
  package: string;
  version: string;
  id: string;
  fixedIn: string;
  severity: Severity;
}

export interface ScanResult {
  /** cosign vuln predicate (`https://cosign.sigstore.dev/attestation/vuln/v1`) as JSON. */
  predicateFile: string;
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

/**
 * Matches the image's installed packages against the catalog's secdb feed and writes the result
 * as a cosign vuln predicate (the matches go in scanner.result).
 */
export async function scanImage(config: KilnConfig, input: ScanInput): Promise<ScanResult> {
  const scanStartedOn = new Date().toISOString();
  const catalog = await readSnapshot(input.snapshotDir);
  const policy = catalog.settings.vulnerabilities;
  const packages = await layoutPackages(input.layoutDir);
  const loaded = policy ? await loadFeed(policy.feed) : undefined;
  const findings: ScanFinding[] = [];
  if (loaded) {
    const unique = new Map(packages.map((p) => [`${p.name}\0${p.version}`, p]));
    for (const p of unique.values()) {
      for (const v of vulnerabilities(loaded.feed, p.name, p.version)) {
        findings.push({
          package: p.name,
          version: p.version,
          id: v.id,
          fixedIn: v.fixedIn,
          severity: severityOf(loaded.feed, v.id),
        });
      }
    }
  }
  findings.sort((a, b) => (`${a.package}\0${a.id}` < `${b.package}\0${b.id}` ? -1 : 1));
  const blockedBy =
    policy?.policy === 'fail'
      ? [...new Set(findings.filter((f) => failsPolicy(f.severity, policy.failOn)).map((f) => f.id))]
      : [];
  const resultDigest = sha256digest(JSON.stringify(findings));
  const run = asyncLocalStorage.getStore()?.info.workflowExecution;
  const predicate = {
    invocation: {
      parameters: {
        image: input.name,
        digest: input.digest,
        feed: policy?.feed ?? null,
        policy: policy?.policy ?? null,
        failOn: policy?.failOn ?? null,
      },
      uri: SCANNER_URI,
      event_id: run ? `${run.workflowId}/${run.runId}` : '',
      'builder.id': config.builderId,
    },
    scanner: {
      uri: loaded ? SCANNER_URI : 'none',
      version: loaded ? '1' : '',
      db: { uri: policy?.feed ?? '', version: loaded?.digest ?? '' },
      result: {
        configured: Boolean(loaded),
        resultDigest,
        blocked: blockedBy.length > 0,
        packagesScanned: packages.length,
        matches: findings.map((f) => ({
          vulnerability: { id: f.id, severity: f.severity, fixedInVersion: f.fixedIn },
          artifact: { name: f.package, version: f.version, type: 'apk' },
        })),
      },
    },
    metadata: { scanStartedOn, scanFinishedOn: new Date().toISOString() },
  };
  const predicateFile = await writePredicateFile(config.paths, input.digest, 'vuln', predicate);
  return {
    predicateFile,
    scanner: loaded ? 'kiln-secdb' : 'none',
    findings,
    blocked: blockedBy.length > 0,
    blockedBy,
    resultDigest,
  };
}
