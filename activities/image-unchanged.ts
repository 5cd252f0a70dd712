// unchangedImages: a night's "nothing changed" check for many images in one activity. Each image's
// input digest (imageInputs) is compared with its published, verified provenance
// (findPublishedImage), several images at a time: what is unchanged needs no child workflow at all,
// so a no-op night costs registry round trips, not a workflow and two activities per image.
import { Context } from '@temporalio/activity';
import type { KilnConfig } from '../config/config.js';
import { FAILURES, type FailureType } from '../domain/failures.js';
import { ApplicationFailure } from '@temporalio/common';
import { findPublishedImage, imageInputs, type PublishedImage } from './image-inputs.js';

/** Registry reads in flight at once: round trips overlap, the registry is not flooded. */
const CHECKS_AT_ONCE = 8;

export interface UnchangedImagesInput {
  snapshotDir: string;
  images: { name: string; repository: string; tags: string[] }[];
}

export interface UnchangedImage extends PublishedImage {
  name: string;
  scanned: boolean;
}

/**
 * The images whose published image was built from the same inputs and verifies, by name. An image
 * missing from the answer goes through its own imageBuild, which judges and reports it; only a
 * failure worth retrying (a registry outage) fails the whole check, and Temporal retries it.
 */
export async function unchangedImages(
  config: KilnConfig,
  input: UnchangedImagesInput,
): Promise<{ unchanged: UnchangedImage[] }> {
  const unchanged: UnchangedImage[] = [];
  let checked = 0;
  const check = async (image: UnchangedImagesInput['images'][number]) => {
    const inputs = await imageInputs(config, { snapshotDir: input.snapshotDir, name: image.name });
    if (!inputs.inputDigest) return;
    const published = await findPublishedImage(config, {
      repository: image.repository,
      tags: image.tags,
      inputDigest: inputs.inputDigest,
      scanned: inputs.scanned,
      snapshotDir: input.snapshotDir,
    });
    if (published) unchanged.push({ name: image.name, scanned: inputs.scanned, ...published });
  };
  for (let i = 0; i < input.images.length; i += CHECKS_AT_ONCE) {
    await Promise.all(
      input.images.slice(i, i + CHECKS_AT_ONCE).map((image) =>
        check(image).catch((err: unknown) => {
          if (retryable(err)) throw err;
          // The image's own imageBuild meets the same problem and reports it with its stage.
        }),
      ),
    );
    checked = Math.min(input.images.length, i + CHECKS_AT_ONCE);
    heartbeat(checked);
  }
  return { unchanged: unchanged.sort((a, b) => a.name.localeCompare(b.name)) };
}

function retryable(err: unknown): boolean {
  if (!(err instanceof ApplicationFailure)) return true; // not judged: let Temporal try again
  return err.type !== undefined && err.type !== null && err.type in FAILURES
    ? FAILURES[err.type as FailureType].retryable && !err.nonRetryable
    : !err.nonRetryable;
}

function heartbeat(checked: number): void {
  try {
    Context.current().heartbeat({ checked });
  } catch {
    // Not in an activity (a test calling the function): nothing to tell.
  }
}
