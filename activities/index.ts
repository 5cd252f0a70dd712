// Every activity the kiln worker registers, bound to the worker's configuration (dependency
// injection, as in samples-typescript's activities-dependency-injection). Workflows import the
// *type* KilnActivities only; activity functions take (config, input) and are bound here.
import type { KilnConfig } from '../config/config.js';
import { snapshotCatalog } from './snapshot.js';
import { buildPackage, type PackageBuildInput } from './package-build.js';
import { testPackage, type PackageCheckInput } from './package-test.js';
import { checkPackage } from './package-check.js';
import { publishPackage, type PublishInput } from './package-publish.js';
import { bumpEpochs, type EpochBumpInput } from './package-epoch.js';
import { assembleImage, type AssembleInput } from './image-assemble.js';
import { testImage, type TestImageInput } from './image-test.js';
import { compareWithPublished, type CompareInput } from './image-compare.js';
import { scanImage, type ScanInput } from './image-scan.js';
import { writeProvenance, type ProvenanceInput } from './image-provenance.js';
import { pushImage, tagImage, type PushInput, type TagInput } from './image-publish.js';
import { signImage, attestImage, type SignImageInput, type AttestImageInput } from './image-sign.js';
import { verifyImage, type VerifyImageInput } from './image-verify.js';
import { previousRunFailures } from './runs.js';
import { writeRunReport, type RunReportInput } from './run-report.js';
import { listWatchedPackages, checkUpstream, proposeUpdate, startPackageUpdate } from './upstream.js';

export function createActivities(config: KilnConfig) {
  return {
    snapshotCatalog: (input: Parameters<typeof snapshotCatalog>[1]) => snapshotCatalog(config, input),
    buildPackage: (input: PackageBuildInput) => buildPackage(config, input),
    testPackage: (input: PackageCheckInput) => testPackage(config, input),
    checkPackage: (input: PackageCheckInput) => checkPackage(config, input),
    publishPackage: (input: PublishInput) => publishPackage(config, input),
    bumpEpochs: (input: EpochBumpInput) => bumpEpochs(config, input),
    assembleImage: (input: AssembleInput) => assembleImage(config, input),
    testImage: (input: TestImageInput) => testImage(config, input),
    compareWithPublished: (input: CompareInput) => compareWithPublished(config, input),
    scanImage: (input: ScanInput) => scanImage(config, input),
    pushImage: (input: PushInput) => pushImage(config, input),
    signImage: (input: SignImageInput) => signImage(config, input),
    writeProvenance: (input: ProvenanceInput) => writeProvenance(config, input),
    attestImage: (input: AttestImageInput) => attestImage(config, input),
    tagImage: (input: TagInput) => tagImage(config, input),
    verifyImage: (input: VerifyImageInput) => verifyImage(config, input),
    previousRunFailures: (input: Parameters<typeof previousRunFailures>[1]) => previousRunFailures(config, input),
    writeRunReport: (input: RunReportInput) => writeRunReport(config, input),
    listWatchedPackages: (input: Parameters<typeof listWatchedPackages>[1]) => listWatchedPackages(config, input),
    checkUpstream: (input: Parameters<typeof checkUpstream>[1]) => checkUpstream(config, input),
    proposeUpdate: (input: Parameters<typeof proposeUpdate>[1]) => proposeUpdate(config, input),
    startPackageUpdate: (input: Parameters<typeof startPackageUpdate>[1]) => startPackageUpdate(config, input),
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
export type { RunReportInput, RunReport } from './run-report.js';
