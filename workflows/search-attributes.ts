// Search attributes kiln sets so a person can find and follow runs in the Web UI. Defined here once,
// name and type: the workflows set them through these keys, and setup/services.ts registers this
// same list on the embedded dev server at start (docker-compose.yml's admin tools do so on a cluster).
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const KILN_PACKAGE = defineSearchAttributeKey('KilnPackage', SearchAttributeType.KEYWORD);
export const KILN_IMAGE = defineSearchAttributeKey('KilnImage', SearchAttributeType.KEYWORD);
export const KILN_STAGE = defineSearchAttributeKey('KilnStage', SearchAttributeType.KEYWORD);
export const KILN_OUTCOME = defineSearchAttributeKey('KilnOutcome', SearchAttributeType.KEYWORD);

/** Every search attribute kiln writes, as a server must have them registered. */
export const KILN_SEARCH_ATTRIBUTES: readonly { name: string; type: SearchAttributeType }[] = [
  KILN_IMAGE,
  KILN_PACKAGE,
  KILN_STAGE,
  KILN_OUTCOME,
];
