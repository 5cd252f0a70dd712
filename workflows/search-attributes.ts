// Search attributes kiln sets so a person can find and follow runs in the Web UI. They are
// registered on the embedded dev server at start (setup/services.ts).
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const KILN_PACKAGE = defineSearchAttributeKey('KilnPackage', SearchAttributeType.KEYWORD);
export const KILN_IMAGE = defineSearchAttributeKey('KilnImage', SearchAttributeType.KEYWORD);
export const KILN_STAGE = defineSearchAttributeKey('KilnStage', SearchAttributeType.KEYWORD);
export const KILN_OUTCOME = defineSearchAttributeKey('KilnOutcome', SearchAttributeType.KEYWORD);
