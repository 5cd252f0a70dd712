// verifyImage: kiln's own offline check that the published digest carries its signature and every
// attestation, signed by the worker's key or, keyless, by the identity catalog.yaml's `signing:`
// names under the CA in KILN_FULCIO_CA (signing/image-verification.ts says what is checked).
import type { KilnConfig } from '../config/config.js';
import { RegistryClient, parseImageRef } from '../oci/registry.js';
import { verifyDigest } from '../signing/image-verification.js';
import { signingPolicy, trustedSigner } from '../signing/signer.js';
import { checkDigest, predicateUri } from '../signing/statements.js';

export interface VerifyImageInput {
  repository: string;
  digest: string;
  /** Attestations that must be present: predicate type URIs or cosign names. */
  predicateTypes: string[];
  /** The run's catalog snapshot, whose `signing:` policy keyless verification needs. */
  snapshotDir?: string;
}

/**
 * Checks what signImage/attestImage attached against the signer kiln trusts: the worker's public
 * key (config.paths.imageSigningPub), or keyless a certificate under KILN_FULCIO_CA for the
 * catalog's identity and issuer. Bundles by other keys or identities are ignored, as cosign
 * ignores them.
 */
export async function verifyImage(
  config: KilnConfig,
  input: VerifyImageInput,
): Promise<{ signature: true; attestations: Record<string, true> }> {
  checkDigest(input.digest);
  input.predicateTypes.forEach(predicateUri);
  const trusted = await trustedSigner(config, await signingPolicy(input.snapshotDir));
  const client = new RegistryClient(parseImageRef(input.repository), config.registryAuth);
  return verifyDigest(client, trusted, input);
}
