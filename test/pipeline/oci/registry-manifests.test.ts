// Manifests against the real test registry: a manifest naming a blob the registry does not hold
// yet is a retryable refusal. Two identical runs at once upload the same blobs, and the registry
// can answer MANIFEST_BLOB_UNKNOWN while the other writer's upload rewrites its link (CI saw it);
// a retry finds the blob in place, so the run must not fail for good on the first answer.
import { describe, expect, it } from 'vitest';
import { sha256digest } from '../../../domain/digest.js';
import { RegistryClient, parseImageRef } from '../../../oci/registry.js';
import { kilnTestEnv } from '../harness.js';

const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const registry = new RegistryClient(parseImageRef(`${kilnTestEnv().KILN_REGISTRY}/manifests-${Date.now()}`), {});
const config = Buffer.from('{}');
const layer = Buffer.from(`layer ${Date.now()}\n`);

const manifest = () =>
  Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MANIFEST,
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256digest(config), size: config.length },
      layers: [{ mediaType: 'application/octet-stream', digest: sha256digest(layer), size: layer.length }],
    }),
  );

describe('putting a manifest', () => {
  it('naming a blob the registry lacks: RegistryRejected, retryable, naming the tag', async () => {
    await registry.putBlob(sha256digest(config), config);
    const err = await registry.putManifest('early', MANIFEST, manifest()).catch((e: unknown) => e);
    expect(err).toMatchObject({ type: 'RegistryRejected', nonRetryable: false });
    expect((err as Error).message).toMatch(/putting manifest early .*not in place yet/);
  });

  it('once the blob is there, the same put (the retry) succeeds and names the manifest digest', async () => {
    await registry.putBlob(sha256digest(layer), layer);
    const body = manifest();
    expect(await registry.putManifest('early', MANIFEST, body)).toBe(sha256digest(body));
  });

  it('any other refusal stays final: a manifest that is not JSON', async () => {
    await expect(registry.putManifest('broken', MANIFEST, Buffer.from('not json'))).rejects.toMatchObject({
      type: 'RegistryRejected',
      nonRetryable: true,
    });
  });
});
