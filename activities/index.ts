// Every activity the kiln worker registers, bound to the worker's configuration (dependency
// injection, as in samples-typescript's activities-dependency-injection). Workflows import the
// *type* KilnActivities only; activity functions take (config, input) and are bound here.
import type { KilnConfig } from '../config/config.js';
import { snapshotCatalog } from './snapshot.js';
import { buildPackage, publishPackage } from './packages.js';
import { assembleImage, pushImage, tagImage } from './images.js';
import { previousRunFailures } from './runs.js';
import { listWatchedPackages, checkUpstream, proposeUpdate, startPackageUpdate } from './upstream.js';
import { testPackage, checkPackage } from './package-checks.js';
import { signImage, attestImage, verifyImage } from './signing.js';
import { testImage, compareWithPublished, scanImage, writeProvenance } from './image-checks.js';

export function createActivities(_config: KilnConfig) {
  return {
    snapshotCatalog,
    buildPackage,
    testPackage,
    checkPackage,
    publishPackage,
    assembleImage,
    testImage,
    compareWithPublished,
    scanImage,
    pushImage,
    signImage,
    writeProvenance,
    attestImage,
    tagImage,
    verifyImage,
    previousRunFailures,
    listWatchedPackages,
    checkUpstream,
    proposeUpdate,
    startPackageUpdate,
  };
}

export type KilnActivities = ReturnType<typeof createActivities>;

export type { CatalogSnapshot } from './snapshot.js';
export type { PackageBuildInput, PackageBuildResult } from './packages.js';
export type { PackageCheckInput, PackageChecks, AbiVerdict } from './package-checks.js';
export type { AssembledImage } from './images.js';
export type { ImageTestReport, ImageDiff, ScanResult, ProvenanceInput } from './image-checks.js';
