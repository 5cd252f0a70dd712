// The workflow types the kiln worker registers (bundled for Temporal's deterministic sandbox).
export { catalogRebuild } from './catalog-rebuild.js';
export { packageBuild } from './package-build.js';
export { imageBuild } from './image-build.js';
export { publishTurn } from './turns.js';
export { upstreamWatch } from './upstream-watch.js';
export { packageUpdate } from './package-update.js';
export { stateCleanup } from './state-cleanup.js';
export { hostLimit } from './host-limit.js';
