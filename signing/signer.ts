// Which signer signs images on this worker (config.signing): the worker's key by default, or
// keylessly with Fulcio and Rekor; and how to recognise a bundle that signer made (the key, or
// keyless the certificate identity catalog.yaml's `signing:` names).
import { createPublicKey } from 'node:crypto';
import { DSSEBundleBuilder } from '@sigstore/sign';
import type { KilnConfig } from '../config/config.js';
import type { SigningPolicy } from '../domain/catalog.js';
import { readSnapshot } from '../io/catalog-snapshot.js';
import type { BundleCheck } from './bundles.js';
import { LocalKeySigner, keyHint, keyVerifier, readKeyFile } from './key-signer.js';
import { keylessMode, keylessTrust } from './keyless-signer.js';

/** The signer kiln trusts: only bundles it made count as kiln's. */
export interface TrustedSigner {
  /** Throws unless a bundle is one this signer made (used for verification, idempotency and replacement). */
  ours: BundleCheck;
  /** Who, in words, for messages: `key <hint>` or `identity … (issuer …)`. */
  signer: string;
}

export interface SigningMode extends TrustedSigner {
  builder: DSSEBundleBuilder;
}

/**
 * The catalog's keyless signing policy, from the snapshot a run validated (undefined without a
 * snapshot, or when catalog.yaml has no `signing:`).
 */
export async function signingPolicy(snapshotDir: string | undefined): Promise<SigningPolicy | undefined> {
  return snapshotDir ? (await readSnapshot(snapshotDir)).settings.signing : undefined;
}

/** How this worker signs, and what it counts as its own. */
export async function signingMode(config: KilnConfig, policy: SigningPolicy | undefined): Promise<SigningMode> {
  const { signing } = config;
  if (signing.mode === 'keyless') return keylessMode(signing, policy);
  const signer = new LocalKeySigner(await readKeyFile(signing.keyFile, 'image signing key'));
  return {
    builder: new DSSEBundleBuilder({ signer, witnesses: [] }),
    ours: keyVerifier(signer.publicKey),
    signer: `key ${signer.hint}`,
  };
}

/**
 * What verification trusts, without the means to sign: the worker's public key
 * (config.paths.imageSigningPub), or keyless the catalog's identity under KILN_FULCIO_CA.
 */
export async function trustedSigner(config: KilnConfig, policy: SigningPolicy | undefined): Promise<TrustedSigner> {
  if (config.signing.mode === 'keyless') return keylessTrust(config.signing, policy);
  const publicKey = createPublicKey(await readKeyFile(config.paths.imageSigningPub, 'image signing public key'));
  return { ours: keyVerifier(publicKey), signer: `key ${keyHint(publicKey)}` };
}
