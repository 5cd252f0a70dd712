import { proxyActivities, upsertSearchAttributes } from '@temporalio/workflow';
import type * as activities from '../activities/index.js';
import { KILN_IMAGE, KILN_STAGE } from './search-attributes.js';

export interface ImageBuildWorkflowInput {
  snapshotDir: string;
  name: string;
  /** `host[:port]/path` the image is published to. */
  repository: string;
  tags: string[];
  /** The catalog snapshot's digest: a signed annotation, so a signature says what it was built from. */
  catalogDigest?: string;
}

export interface ImageBuildWorkflowResult {
  name: string;
  digest: string;
  reference: string;
  tags: string[];
  /** False when the registry already had this digest, signed and attested, under every tag. */
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

/**
 * assemble -> push by digest (no tag yet) -> sign -> attest -> move tags -> verify. Signatures
 * and attestations refer to the pushed digest, so the digest goes first; a tag moves only after
 * everything about that digest succeeded, so nobody pulling a tag gets an unsigned image.
 */
export async function imageBuild(input: ImageBuildWorkflowInput): Promise<ImageBuildWorkflowResult> {
  const stage = (value: string) => upsertSearchAttributes([{ key: KILN_STAGE, value }]);
  upsertSearchAttributes([{ key: KILN_IMAGE, value: input.name }]);
  stage('assemble');
  const image = await assembleImage({ snapshotDir: input.snapshotDir, name: input.name });

  stage('push');
  const pushed = await registry.pushImage({ repository: input.repository, layoutDir: image.layoutDir, digest: image.digest });

  stage('sign');
  const signature = await registry.signImage({
    repository: input.repository,
    digest: image.digest,
    annotations: { 'dev.kiln/image': input.name, ...(input.catalogDigest ? { 'dev.kiln/catalog': input.catalogDigest } : {}) },
  });

  stage('attest');
  const attested = [
    await registry.attestImage({ repository: input.repository, digest: image.digest, predicateType: 'spdxjson', predicateFile: image.sbomFile }),
    ...(await Promise.all(image.manifests.map((m) =>
      registry.attestImage({ repository: input.repository, digest: m.digest, predicateType: 'spdxjson', predicateFile: m.sbomFile })))),
  ];

  stage('tag');
  const tags = await registry.tagImage({ repository: input.repository, digest: image.digest, tags: input.tags });

  stage('verify');
  await registry.verifyImage({ repository: input.repository, digest: image.digest, predicateTypes: ['spdxjson'] });
  stage('done');
  return {
    name: input.name,
    digest: image.digest,
    reference: pushed.reference,
    tags: input.tags,
    changed: pushed.pushed || signature.signed || attested.some((a) => a.attested) || tags.moved.length > 0,
    packages: image.packages,
  };
}
