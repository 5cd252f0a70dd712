// verifyImage: kiln's own offline check, after the tags moved, that the published digest carries
// its signature and every attestation, signed by the worker's key.
import { createPublicKey } from 'node:crypto';
import type { KilnConfig } from '../config/config.js';
import { failure } from '../domain/failures.js';
import { RegistryClient, parseImageRef } from '../oci/registry.js';
import { attachedBundles } from '../signing/bundles.js';
import { keyHint, keyVerifier, readKeyFile } from '../signing/key-signer.js';
import { SIGNATURE_PREDICATE, checkDigest, coversDigest, predicateUri } from '../signing/statements.js';

export interface VerifyImageInput {
  repository: string;
  digest: string;
  /** Attestations that must be present: predicate type URIs or cosign names. */
  predicateTypes: string[];
}

/**
 * Checks what signImage/attestImage attached, against the worker's public key
 * (config.paths.imageSigningPub): a signature, one valid attestation per requested type, and every
 * statement signed by the key must be about `digest` (one about another image, copied onto this
 * one, fails the check). Bundles by other keys are ignored, as cosign ignores them.
 */
export async function verifyImage(
  config: KilnConfig,
  input: VerifyImageInput,
): Promise<{ signature: true; attestations: Record<string, true> }> {
  const hex = checkDigest(input.digest);
  if (config.signing.mode !== 'key') {
    throw failure(
      'SigningMisconfigured',
      'verifyImage checks key-signed images; keyless signatures are verified with cosign verify --certificate-identity against the Sigstore trust root',
    );
  }
  const types = input.predicateTypes.map((t) => [t, predicateUri(t)] as const);
  const publicKey = createPublicKey(await readKeyFile(config.paths.imageSigningPub, 'image signing public key'));
  const client = new RegistryClient(parseImageRef(input.repository), config.registryAuth);
  const attached = await attachedBundles(client, input.digest, keyVerifier(publicKey));
  const ref = `${input.repository}@${input.digest}`;

  const problems: string[] = [];
  for (const a of attached) {
    if (a.trusted && !coversDigest(a.statement!, hex)) {
      const subjects = a.statement!.subject.map((s) => `sha256:${s.digest?.sha256 ?? '?'}`).join(', ');
      problems.push(
        `${a.statement!.predicateType} statement ${a.descriptor.digest} is about ${subjects}, not ${input.digest}`,
      );
    }
  }
  const valid = (uri: string) =>
    attached.some((a) => a.trusted && a.statement!.predicateType === uri && coversDigest(a.statement!, hex));
  const rejected = (uri: string) =>
    attached
      .filter((a) => !a.trusted && (a.statement?.predicateType ?? uri) === uri)
      .map((a) => `${a.descriptor.digest}: ${a.problem}`);
  const missing = (what: string, uri: string) => {
    const others = rejected(uri);
    problems.push(
      `no ${what} signed by key ${keyHint(publicKey)}${others.length ? ` (rejected ${others.join('; ')})` : ''}`,
    );
  };
  if (!valid(SIGNATURE_PREDICATE)) missing('signature', SIGNATURE_PREDICATE);
  for (const [name, uri] of types) if (!valid(uri)) missing(`${name} attestation`, uri);
  if (problems.length) throw failure('ImageVerificationFailed', `${ref} does not verify: ${problems.join('; ')}`);
  return { signature: true, attestations: Object.fromEntries(types.map(([name]) => [name, true as const])) };
}
