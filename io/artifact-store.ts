// I/O: kiln's own artifacts in the OCI registry (config.artifacts), the store every worker shares:
// one gzip layer per artifact under a tag, with kiln's RSA signature over the layer digest and the
// tag in an annotation, so a worker only ever accepts what a kiln worker stored under that name.
import { createPrivateKey, createPublicKey, sign, verify } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { KilnConfig } from '../config/config.js';
import { sha256digest } from '../domain/digest.js';
import { corruptArtifact, failure } from '../domain/failures.js';
import { RegistryClient, parseImageRef } from '../oci/registry.js';

const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const EMPTY = Buffer.from('{}');
const EMPTY_CONFIG = {
  mediaType: 'application/vnd.oci.empty.v1+json',
  digest: sha256digest(EMPTY),
  size: EMPTY.length,
};
const SIGNATURE = 'dev.kiln.signature';

const signed = (tag: string, layerDigest: string) => Buffer.from(`kiln artifact ${tag} ${layerDigest}\n`);

function client(config: KilnConfig): RegistryClient {
  if (!config.artifacts) throw failure('ConfigInvalid', 'KILN_ARTIFACTS is none: this worker keeps no artifacts');
  return new RegistryClient(parseImageRef(config.artifacts), config.registryAuth);
}

/** Stores `layer` under `tag` (replacing what was there); returns `repository@digest` of its manifest. */
export async function putArtifact(
  config: KilnConfig,
  tag: string,
  layer: Buffer,
  artifactType: string,
): Promise<string> {
  const registry = client(config);
  const layerDigest = sha256digest(layer);
  await registry.putBlob(EMPTY_CONFIG.digest, EMPTY);
  await registry.putBlob(layerDigest, layer);
  const key = createPrivateKey(await readFile(config.paths.packageSigningKey));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MANIFEST,
      artifactType,
      config: EMPTY_CONFIG,
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layerDigest, size: layer.length }],
      annotations: { [SIGNATURE]: sign('sha256', signed(tag, layerDigest), key).toString('base64') },
    }),
  );
  const digest = await registry.putManifest(tag, MANIFEST, manifest);
  return `${config.artifacts!}@${digest}`;
}

/**
 * The layer stored under `tag`, or undefined when there is none. One whose signature does not
 * verify with kiln's package key (config.paths.packageSigningPub) is CorruptArtifact: never used.
 * `at`: the manifest digest putArtifact returned, to read exactly that one (checked against it).
 */
export async function getArtifact(config: KilnConfig, tag: string, at?: string): Promise<Buffer | undefined> {
  const registry = client(config);
  const found = await registry.getManifest(at ?? tag);
  if (!found) return undefined;
  if (at && sha256digest(found.body) !== at)
    throw corruptArtifact(`${config.artifacts!}@${at} answered a manifest of another digest`);
  const manifest = JSON.parse(found.body.toString('utf8')) as {
    layers?: { digest: string }[];
    annotations?: Record<string, string>;
  };
  const layerDigest = manifest.layers?.[0]?.digest;
  const signature = manifest.annotations?.[SIGNATURE];
  const where = `${config.artifacts!}:${tag}`;
  if (!layerDigest || !signature) throw corruptArtifact(`${where} is not a kiln artifact (no layer or no signature)`);
  const pub = createPublicKey(await readFile(config.paths.packageSigningPub));
  if (!verify('sha256', signed(tag, layerDigest), pub, Buffer.from(signature, 'base64')))
    throw corruptArtifact(`${where} is not signed by kiln's package key ${config.paths.packageSigningPub}`);
  // getBlob checks the bytes against their digest.
  return registry.getBlob(layerDigest);
}
