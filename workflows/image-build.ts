import { proxyActivities, upsertSearchAttributes } from '@temporalio/workflow';
import type * as activities from '../activities/index.js';
import { KILN_IMAGE, KILN_STAGE } from './search-attributes.js';

export interface ImageBuildWorkflowInput {
  snapshotDir: string;
  name: string;
  /** `host[:port]/path` the image is published to. */
  repository: string;
  tags: string[];
}

export interface ImageBuildWorkflowResult {
  name: string;
  digest: string;
  reference: string;
  tags: string[];
  /** False when the registry already had this digest under every tag. */
  changed: boolean;
  packages: string[];
}

const { assembleImage } = proxyActivities<typeof activities>({
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '5 seconds', backoffCoefficient: 2, maximumAttempts: 3 },
});

// Registry calls: transient failures (5xx, 429, network) retry with backoff for a while.
const registry = proxyActivities<typeof activities>({
  startToCloseTimeout: '10 minutes',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 8 },
});

/** assemble -> push by digest -> move tags last, so a tag never points at something unfinished. */
export async function imageBuild(input: ImageBuildWorkflowInput): Promise<ImageBuildWorkflowResult> {
  const stage = (value: string) => upsertSearchAttributes([{ key: KILN_STAGE, value }]);
  upsertSearchAttributes([{ key: KILN_IMAGE, value: input.name }]);
  stage('assemble');
  const image = await assembleImage({ snapshotDir: input.snapshotDir, name: input.name });
  stage('push');
  const pushed = await registry.pushImage({ repository: input.repository, layoutDir: image.layoutDir, digest: image.digest });
  stage('tag');
  const tags = await registry.tagImage({ repository: input.repository, digest: image.digest, tags: input.tags });
  stage('done');
  return {
    name: input.name,
    digest: image.digest,
    reference: pushed.reference,
    tags: input.tags,
    changed: pushed.pushed || tags.moved.length > 0,
    packages: image.packages,
  };
}
