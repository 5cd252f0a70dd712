// Every activity the kiln worker registers, bound to the worker's configuration (dependency
// injection, as in samples-typescript's activities-dependency-injection). Workflows import the
// *type* KilnActivities only; activity functions take (config, input) and are bound here.
import type { KilnConfig } from '../config/config.js';
import { snapshotCatalog } from './snapshot.js';
import { buildPackage } from './package-build.js';
import { testPackage } from './package-test.js';
import { checkPackage } from './package-check.js';
import { publishPackage } from './package-publish.js';
import { bumpEpochs } from './package-epoch.js';
import { assembleImage } from './image-assemble.js';
import { testImage } from './image-test.js';
import { compareWithPublished, type CompareInput } from './image-compare.js';
import { scanImage } from './image-scan.js';
import { writeProvenance } from './image-provenance.js';
import { pushImage, tagImage, type PushInput } from './image-publish.js';
import { signImage, attestImage } from './image-sign.js';
import { verifyImage } from './image-verify.js';
import { findPublishedImage, imageInputs } from './image-inputs.js';
import { unchangedImages } from './image-unchanged.js';
import { previousRunFailures } from './runs.js';
import { localSnapshot } from '../io/snapshot-store.js';
import { writeRunReport, type RunReportInput } from './run-report.js';
import { finishRunSummary, storeSummaryPart, type FinishSummaryInput, type SummaryPartInput } from './run-summary.js';
import { listWatchedPackages, checkUpstream, proposeUpdate, startPackageUpdate } from './upstream.js';
import { cleanState, stateWorkers } from './state-cleanup.js';

/**
 * An activity whose input names the run's catalog snapshot gets it on this worker: a worker that
 * shares no disk with the one that took the snapshot materializes it from the artifact store first.
 */
function onLocalSnapshot<I extends { snapshotDir?: string }, R>(
  config: KilnConfig,
  activity: (config: KilnConfig, input: I) => Promise<R>,
): (input: I) => Promise<R> {
  return async (input) =>
    activity(
      config,
      input.snapshotDir ? { ...input, snapshotDir: await localSnapshot(config, input.snapshotDir) } : input,
    );
}

/**
 * The first step of a chain whose later steps need the files it leaves on this worker: its result
 * names this worker's own task queue (`host`), where the workflow sends those steps.
 */
function leavesFiles<I, R extends object>(
  activity: (config: KilnConfig, input: I) => Promise<R>,
): (config: KilnConfig, input: I) => Promise<R & { host?: string }> {
  return async (config, input) => {
    const result = await activity(config, input);
    return config.worker.hostQueue ? { ...result, host: config.worker.hostQueue } : result;
  };
}

export function createActivities(config: KilnConfig) {
  const local = <I extends { snapshotDir?: string }, R>(activity: (config: KilnConfig, input: I) => Promise<R>) =>
    onLocalSnapshot(config, activity);
  return {
    snapshotCatalog: (input: Parameters<typeof snapshotCatalog>[1]) => snapshotCatalog(config, input),
    buildPackage: local(leavesFiles(buildPackage)),
    testPackage: local(testPackage),
    checkPackage: local(checkPackage),
    publishPackage: local(publishPackage),
    bumpEpochs: local(bumpEpochs),
    imageInputs: local(imageInputs),
    findPublishedImage: local(findPublishedImage),
    unchangedImages: local(unchangedImages),
    assembleImage: local(leavesFiles(assembleImage)),
    testImage: local(testImage),
    compareWithPublished: (input: CompareInput) => compareWithPublished(config, input),
    scanImage: local(scanImage),
    pushImage: (input: PushInput) => pushImage(config, input),
    signImage: local(signImage),
    writeProvenance: local(writeProvenance),
    attestImage: local(attestImage),
    tagImage: local(tagImage),
    verifyImage: local(verifyImage),
    previousRunFailures: (input: Parameters<typeof previousRunFailures>[1]) => previousRunFailures(config, input),
    writeRunReport: (input: RunReportInput) => writeRunReport(config, input),
    storeSummaryPart: (input: SummaryPartInput) => storeSummaryPart(config, input),
    finishRunSummary: (input: FinishSummaryInput) => finishRunSummary(config, input),
    listWatchedPackages: (input: Parameters<typeof listWatchedPackages>[1]) => listWatchedPackages(config, input),
    checkUpstream: (input: Parameters<typeof checkUpstream>[1]) => checkUpstream(config, input),
    proposeUpdate: (input: Parameters<typeof proposeUpdate>[1]) => proposeUpdate(config, input),
    startPackageUpdate: (input: Parameters<typeof startPackageUpdate>[1]) => startPackageUpdate(config, input),
    cleanState: (input: Parameters<typeof cleanState>[1]) => cleanState(config, input),
    stateWorkers: () => stateWorkers(config),
  };
}

export type KilnActivities = ReturnType<typeof createActivities>;

export type { CatalogSnapshot } from './snapshot.js';
export type { PackageBuildInput, PackageBuildResult } from './package-build.js';
export type { PackageCheckInput } from './package-test.js';
export type { PackageChecks, AbiVerdict } from './package-check.js';
export type { PublishInput } from './package-publish.js';
export type { EpochBumpInput } from './package-epoch.js';
export type { AssembleInput, AssembledImage } from './image-assemble.js';
export type { TestImageInput, ImageTestReport } from './image-test.js';
export type { CompareInput, ImageDiff } from './image-compare.js';
export type { ScanInput, ScanResult, ScanFinding } from './image-scan.js';
export type { ProvenanceInput } from './image-provenance.js';
export type { PushInput, TagInput } from './image-publish.js';
export type { SignImageInput, AttestImageInput } from './image-sign.js';
export type { VerifyImageInput } from './image-verify.js';
export type { ImageInputsInput, ImageInputsResult, FindPublishedInput, PublishedImage } from './image-inputs.js';
export type { UnchangedImagesInput, UnchangedImage } from './image-unchanged.js';
export type { RunReportInput, RunReport } from './run-report.js';
export type { StateCleanupResult } from './state-cleanup.js';
export type { SummaryPartInput, FinishSummaryInput, FinishedSummary } from './run-summary.js';
