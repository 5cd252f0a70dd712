// imageBuild: one image from assembly to its tags. publishTurn: one image repository's turn to
// publish, so that runs started together never interleave their pushes, signatures, attestations
// and tag moves in one repository.
import { patched, proxyActivities, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { ImageDiff, KilnActivities, ScanFinding } from '../activities/index.js';
import { failure } from '../domain/failures.js';
import { KILN_IMAGE, KILN_STAGE } from './search-attributes.js';
import { releaseTurnOf, takeTurn } from './turns.js';
import { workerLost } from './failure.js';

export interface ImageBuildWorkflowInput {
  snapshotDir: string;
  name: string;
  /** `host[:port]/path` the image is published to. */
  repository: string;
  tags: string[];
  gitCommit?: string;
  /**
   * RFC 3339: this run's place in the order of runs (catalogRebuild passes its own start time; the
   * default is this workflow's start). Recorded in the provenance; a tag never moves away from an
   * image whose provenance records a later one.
   */
  catalogTime?: string;
  /** Go through the whole pipeline even when the published image was built from the same inputs. */
  force?: boolean;
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
  /** False when the catalog configures no vulnerability feed: nothing was scanned or attested. */
  scanned: boolean;
  vulnerabilities: ScanFinding[];
  /** Tags left on an image whose provenance records a newer catalog (another run's). */
  tagsKept: { tag: string; digest: string }[];
  /** Uncompressed root filesystem; absent when the image was not assembled. */
  sizeBytes?: number;
  /**
   * The published image was built from the same inputs (its verified provenance says so): nothing
   * was assembled, tested, scanned or pushed.
   */
  inputsUnchanged?: boolean;
}

const { assembleImage } = proxyActivities<KilnActivities>({
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '5 seconds', backoffCoefficient: 2, maximumAttempts: 3 },
});

// Registry calls: transient failures (5xx, 429, network) retry with backoff for a while.
const REGISTRY_RETRY = {
  initialInterval: '2 seconds',
  backoffCoefficient: 2,
  maximumInterval: '1 minute',
  maximumAttempts: 8,
} as const;

// What follows assembly runs on the worker holding the image's layout (its own task queue). A
// worker that is gone never starts it: after WORKER_LOST_AFTER the image is assembled again.
const WORKER_LOST_AFTER = '2 minutes';
const WORKER_LOST_ATTEMPTS = 3;

/** The activity stubs, on the worker `host` names (with a start deadline), or on any worker. */
function onWorker(host?: string) {
  const pinned = host ? { taskQueue: host, scheduleToStartTimeout: WORKER_LOST_AFTER } : {};
  return {
    // Checks run tools in a sandbox or read files: a few retries for hiccups, no more.
    checks: proxyActivities<KilnActivities>({
      ...pinned,
      startToCloseTimeout: '20 minutes',
      retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumAttempts: 3 },
    }),
    // Functional tests run as long as the image's tests take; they heartbeat while they run, so a
    // dead worker is noticed within a minute rather than at the timeout.
    tests: proxyActivities<KilnActivities>({
      ...pinned,
      startToCloseTimeout: '20 minutes',
      heartbeatTimeout: '1 minute',
      retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumAttempts: 3 },
    }),
    registry: proxyActivities<KilnActivities>({ ...pinned, startToCloseTimeout: '10 minutes', retry: REGISTRY_RETRY }),
    // Registry transfers (a push, reading the published image's layers) heartbeat per chunk or layer.
    transfers: proxyActivities<KilnActivities>({
      ...pinned,
      startToCloseTimeout: '30 minutes',
      heartbeatTimeout: '1 minute',
      retry: REGISTRY_RETRY,
    }),
  };
}
// Steps that need no files of a particular worker.
const { checks, registry } = onWorker();

/**
 * assemble -> functional tests -> compare with the published image -> scan -> (the repository's
 * publish turn) push by digest (no tag yet) -> sign -> attest (SBOM, vulnerabilities when scanned,
 * provenance) -> verify -> move tags. Signatures and attestations refer to the pushed digest, so
 * the digest goes first; a tag moves only after the digest's signature and every attestation
 * verified, so nobody pulling a tag gets an untested, unsigned or unverifiable image, and a
 * failure leaves every tag where it was. One run at a time publishes in a repository, and a tag
 * never moves away from an image built from a newer catalog than this run's.
 */
export async function imageBuild(input: ImageBuildWorkflowInput): Promise<ImageBuildWorkflowResult> {
  const info = workflowInfo();
  const startedOn = new Date().toISOString();
  const catalogTime = input.catalogTime ?? info.runStartTime.toISOString();
  const stage = (value: string) => upsertSearchAttributes([{ key: KILN_STAGE, value }]);
  upsertSearchAttributes([{ key: KILN_IMAGE, value: input.name }]);
  const { repository } = input;

  // Histories started before this step existed replay without it.
  const inputs = patched('image-inputs')
    ? await checks.imageInputs({ snapshotDir: input.snapshotDir, name: input.name })
    : undefined;
  if (inputs?.inputDigest && !input.force) {
    stage('inputs');
    const published = await registry.findPublishedImage({
      repository,
      tags: input.tags,
      inputDigest: inputs.inputDigest,
      scanned: inputs.scanned,
      snapshotDir: input.snapshotDir,
    });
    if (published) {
      stage('done');
      return {
        name: input.name,
        digest: published.digest,
        reference: published.reference,
        tags: input.tags,
        changed: false,
        packages: published.packages,
        diff: { previous: null },
        scanned: inputs.scanned,
        vulnerabilities: published.vulnerabilities,
        tagsKept: [],
        inputsUnchanged: true,
      };
    }
  }

  const pinned = patched('host-queues');
  for (let attempt = 1; ; attempt++) {
    try {
      return await assembleAndPublish(input, { info, startedOn, catalogTime, stage, inputs, pinned });
    } catch (err) {
      // The worker holding the layout is gone, and the layout with it: assemble again anywhere.
      if (!workerLost(err) || attempt >= WORKER_LOST_ATTEMPTS) throw err;
    }
  }
}

/** assemble (any worker), then every step that reads its layout on that worker, then publish. */
async function assembleAndPublish(
  input: ImageBuildWorkflowInput,
  run: {
    info: ReturnType<typeof workflowInfo>;
    startedOn: string;
    catalogTime: string;
    stage: (value: string) => void;
    inputs: { inputDigest?: string } | undefined;
    pinned: boolean;
  },
): Promise<ImageBuildWorkflowResult> {
  const { info, startedOn, catalogTime, stage, inputs } = run;
  const { repository } = input;
  stage('assemble');
  const image = await assembleImage({ snapshotDir: input.snapshotDir, name: input.name });
  const { checks, tests, transfers, registry: hostRegistry } = onWorker(run.pinned ? image.host : undefined);

  stage('test');
  const report = await tests.testImage({
    snapshotDir: input.snapshotDir,
    name: input.name,
    layoutDir: image.layoutDir,
  });
  const diff = await transfers.compareWithPublished({
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
    throw failure('VulnerabilityPolicy', `vulnerability policy blocks ${input.name}:\n${listed.join('\n')}`);
  }
  // No feed, no scan: no vulnerability attestation is made or required.
  const vulnPredicate = scan.scanner !== 'none' ? scan.predicateFile : undefined;

  stage('queued');
  const turn = await takeTurn(`kiln-publish/${repository}`);
  try {
    stage('push');
    const pushed = await transfers.pushImage({ repository, layoutDir: image.layoutDir, digest: image.digest });

    stage('sign');
    // Only what the digest itself determines goes into the signature: an unchanged image rebuilt
    // from a newer catalog snapshot keeps its signature (the provenance names the catalog).
    const signature = await registry.signImage({
      repository,
      digest: image.digest,
      annotations: { 'dev.kiln/image': input.name },
      snapshotDir: input.snapshotDir,
    });

    stage('attest');
    const provenance = await checks.writeProvenance({
      snapshotDir: input.snapshotDir,
      name: input.name,
      digest: image.digest,
      workflowId: info.workflowId,
      runId: info.runId,
      startedOn,
      finishedOn: new Date().toISOString(),
      gitCommit: input.gitCommit,
      catalogTime,
      layoutDir: image.layoutDir,
      ...(inputs?.inputDigest ? { inputDigest: inputs.inputDigest } : {}),
    });
    // Attestations read predicate files from this worker's disk.
    const attest = (digest: string, predicateType: string, predicateFile: string, sameWhen?: string) =>
      hostRegistry.attestImage({
        repository,
        digest,
        predicateType,
        predicateFile,
        snapshotDir: input.snapshotDir,
        ...(sameWhen ? { sameWhen } : {}),
      });
    const attested = await Promise.all([
      attest(image.digest, 'spdxjson', image.sbomFile),
      ...image.manifests.map((m) => attest(m.digest, 'spdxjson', m.sbomFile)),
      // A re-scan with the same findings is not attested again; new findings replace the old report.
      ...(vulnPredicate ? [attest(image.digest, 'vuln', vulnPredicate, 'scanner.result.resultDigest')] : []),
      // An image already published keeps the provenance of the run that built it.
      attest(image.digest, 'slsaprovenance1', provenance.predicateFile, 'buildDefinition.resolvedDependencies'),
    ]);

    stage('verify');
    await registry.verifyImage({
      repository,
      digest: image.digest,
      predicateTypes: ['spdxjson', ...(vulnPredicate ? ['vuln'] : []), 'slsaprovenance1'],
      snapshotDir: input.snapshotDir,
    });

    stage('tag');
    const tags = await registry.tagImage({
      repository,
      digest: image.digest,
      tags: input.tags,
      catalogTime,
      snapshotDir: input.snapshotDir,
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
      scanned: Boolean(vulnPredicate),
      vulnerabilities: scan.findings,
      tagsKept: (tags.kept ?? []).map(({ tag, digest }) => ({ tag, digest })),
      sizeBytes: report.sizeBytes,
    };
  } finally {
    await releaseTurnOf(turn);
  }
}
