import { ApplicationFailure, proxyActivities, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { KilnActivities } from '../activities/index.js';
import type { ImageDiff, ScanFinding } from '../activities/index.js';
import { KILN_IMAGE, KILN_STAGE } from './search-attributes.js';

export interface ImageBuildWorkflowInput {
  snapshotDir: string;
  name: string;
  /** `host[:port]/path` the image is published to. */
  repository: string;
  tags: string[];
  gitCommit?: string;
}

export interface ImageBuildWorkflowResult {
  name: string;
  digest: string;
  reference: string;
  tags: string[];
  /** False when the registry already had this digest, signed and attested, under every tag. */
  changed: boolean;
  /** Installed packages, `name-version`. */
  packages: string[];
  diff: ImageDiff;
  vulnerabilities: ScanFinding[];
  sizeBytes: number;
}

const { assembleImage } = proxyActivities<KilnActivities>({
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '5 seconds', backoffCoefficient: 2, maximumAttempts: 3 },
});

// Checks run tools in a sandbox or read the registry: a few retries for hiccups, no more.
const checks = proxyActivities<KilnActivities>({
  startToCloseTimeout: '20 minutes',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumAttempts: 3 },
});

// Registry calls: transient failures (5xx, 429, network) retry with backoff for a while.
const registry = proxyActivities<KilnActivities>({
  startToCloseTimeout: '10 minutes',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 8 },
});

/**
 * assemble -> functional tests -> compare with the published image -> scan -> push by digest (no
 * tag yet) -> sign -> attest (SBOM, vulnerabilities, provenance) -> move tags -> verify.
 * Signatures and attestations refer to the pushed digest, so the digest goes first; a tag moves
 * only after everything about that digest succeeded, so nobody pulling a tag gets an untested or
 * unsigned image, and a failure leaves the previous tag where it was.
 */
export async function imageBuild(input: ImageBuildWorkflowInput): Promise<ImageBuildWorkflowResult> {
  const startedOn = new Date().toISOString();
  const stage = (value: string) => upsertSearchAttributes([{ key: KILN_STAGE, value }]);
  upsertSearchAttributes([{ key: KILN_IMAGE, value: input.name }]);
  const { repository } = input;

  stage('assemble');
  const image = await assembleImage({ snapshotDir: input.snapshotDir, name: input.name });

  stage('test');
  const report = await checks.testImage({
    snapshotDir: input.snapshotDir,
    name: input.name,
    layoutDir: image.layoutDir,
  });
  const diff = await checks.compareWithPublished({
    repository,
    digest: image.digest,
    layoutDir: image.layoutDir,
    tags: input.tags,
  });

  stage('scan');
  const scan = await checks.scanImage({
    snapshotDir: input.snapshotDir,
    name: input.name,
    layoutDir: image.layoutDir,
    digest: image.digest,
  });
  if (scan.blocked) {
    const listed = scan.findings
      .filter((f) => scan.blockedBy.includes(f.id))
      .map((f) => `${f.id} (${f.severity}) in ${f.package} ${f.version}, fixed in ${f.fixedIn}`);
    throw ApplicationFailure.nonRetryable(
      `vulnerability policy blocks ${input.name}:\n${listed.join('\n')}`,
      'VulnerabilityPolicy',
    );
  }

  stage('push');
  const pushed = await registry.pushImage({ repository, layoutDir: image.layoutDir, digest: image.digest });

  stage('sign');
  // Only what the digest itself determines goes into the signature: an unchanged image rebuilt
  // from a newer catalog snapshot keeps its signature (the provenance names the catalog).
  const signature = await registry.signImage({
    repository,
    digest: image.digest,
    annotations: { 'dev.kiln/image': input.name },
  });

  stage('attest');
  const info = workflowInfo();
  const provenance = await checks.writeProvenance({
    snapshotDir: input.snapshotDir,
    name: input.name,
    digest: image.digest,
    workflowId: info.workflowId,
    runId: info.runId,
    startedOn,
    finishedOn: new Date().toISOString(),
    gitCommit: input.gitCommit,
    layoutDir: image.layoutDir,
  });
  const attest = (digest: string, predicateType: string, predicateFile: string, sameWhen?: string) =>
    registry.attestImage({ repository, digest, predicateType, predicateFile, ...(sameWhen ? { sameWhen } : {}) });
  const attested = await Promise.all([
    attest(image.digest, 'spdxjson', image.sbomFile),
    ...image.manifests.map((m) => attest(m.digest, 'spdxjson', m.sbomFile)),
    // A re-scan with the same findings is not attested again; new findings replace the old report.
    attest(image.digest, 'vuln', scan.predicateFile, 'scanner.result.resultDigest'),
    // An image already published keeps the provenance of the run that built it.
    attest(image.digest, 'slsaprovenance1', provenance.predicateFile, 'buildDefinition.resolvedDependencies'),
  ]);

  stage('tag');
  const tags = await registry.tagImage({ repository, digest: image.digest, tags: input.tags });

  stage('verify');
  await registry.verifyImage({
    repository,
    digest: image.digest,
    predicateTypes: ['spdxjson', 'vuln', 'slsaprovenance1'],
  });
  stage('done');
  return {
    name: input.name,
    digest: image.digest,
    reference: pushed.reference,
    tags: input.tags,
    changed: pushed.pushed || signature.signed || attested.some((a) => a.attested) || tags.moved.length > 0,
    packages: report.packages.map((p) => `${p.name}-${p.version}`),
    diff,
    vulnerabilities: scan.findings,
    sizeBytes: report.sizeBytes,
  };
}
