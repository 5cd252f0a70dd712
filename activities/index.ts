// Every activity the kiln worker registers. Workflows import this module's *types* only.
export { snapshotCatalog } from './snapshot.js';
export { buildPackage, publishPackage } from './packages.js';
export { assembleImage, pushImage, tagImage } from './images.js';
export { previousRunFailures } from './runs.js';
export { listWatchedPackages, checkUpstream, proposeUpdate, startPackageUpdate } from './upstream.js';
export { testPackage, checkPackage } from './package-checks.js';
export { signImage, attestImage, verifyImage } from './signing.js';
export { testImage, compareWithPublished, scanImage, writeProvenance } from './image-checks.js';
export type { CatalogSnapshot } from './snapshot.js';
export type { PackageBuildInput, PackageBuildResult } from './packages.js';
export type { PackageCheckInput, PackageChecks, AbiVerdict } from './package-checks.js';
export type { AssembledImage } from './images.js';
export type { ImageTestReport, ImageDiff, ScanResult, ProvenanceInput } from './image-checks.js';
