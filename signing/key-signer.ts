// The embedded default signer: the worker's ECDSA P-256 key (config.paths.imageSigningKey), no
// transparency log, and the matching verifier that trusts exactly that key, as `cosign --key` does.
import { createPrivateKey, createPublicKey, sign, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Signature, Signer } from '@sigstore/sign';
import { Verifier, toSignedEntity, toTrustMaterial } from '@sigstore/verify';
import { sha256hex } from '../domain/digest.js';
import { failure } from '../domain/failures.js';
import type { BundleCheck } from './bundles.js';

/** A key or token file the worker must be able to read (SigningMisconfigured otherwise). */
export async function readKeyFile(
  path: string,
  what: string,
  fix = 'run scripts/setup or set KILN_STATE',
): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw failure(
      'SigningMisconfigured',
      `${what} ${path} cannot be read on this worker (${(err as Error).message}); ${fix}`,
    );
  }
}

/** cosign's key hint: base64 SHA-256 of the SPKI DER. Informational; verification is by key. */
export function keyHint(publicKey: KeyObject): string {
  return Buffer.from(sha256hex(publicKey.export({ type: 'spki', format: 'der' })), 'hex').toString('base64');
}

/** @sigstore/sign only ships the Fulcio signer; this is the local-key one (ECDSA P-256, SHA-256, DER). */
export class LocalKeySigner implements Signer {
  readonly #key: KeyObject;
  readonly publicKey: KeyObject;
  readonly hint: string;

  constructor(privateKeyPem: string) {
    this.#key = createPrivateKey(privateKeyPem);
    if (this.#key.asymmetricKeyType !== 'ec' || this.#key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
      throw failure('SigningMisconfigured', 'the image signing key is not an ECDSA P-256 key');
    }
    this.publicKey = createPublicKey(this.#key);
    this.hint = keyHint(this.publicKey);
  }

  async sign(data: Buffer): Promise<Signature> {
    return {
      signature: sign('sha256', data, this.#key),
      key: {
        $case: 'publicKey',
        publicKey: this.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
        hint: this.hint,
      },
    };
  }
}

/**
 * A check that trusts exactly one public key, whatever hint a bundle carries (as cosign --key does).
 * It throws, saying why, for a bundle that key did not sign; callers collect that as a verdict.
 */
export function keyVerifier(publicKey: KeyObject): BundleCheck {
  const root: Parameters<typeof toTrustMaterial>[0] = {
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    tlogs: [],
    certificateAuthorities: [],
    ctlogs: [],
    timestampAuthorities: [],
  };
  const trust = toTrustMaterial(root, () => ({ publicKey, validFor: () => true }));
  // No Rekor, CT log or TSA in key mode: every threshold must be 0 (timestamps default to 1).
  const verifier = new Verifier(trust, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 });
  const ours = keyHint(publicKey);
  return (bundle) => {
    try {
      verifier.verify(toSignedEntity(bundle));
      return {};
    } catch (err) {
      // The hint is unsigned, so it only makes the message clearer; the verdict is the signature's.
      const material = bundle.verificationMaterial.content;
      if (material.$case !== 'publicKey')
        throw failure('ImageVerificationFailed', `signed keylessly, not by key ${ours}`);
      if (material.publicKey.hint && material.publicKey.hint !== ours)
        throw failure('ImageVerificationFailed', `signed by another key (hint ${material.publicKey.hint})`);
      throw err;
    }
  };
}
