// Which signer signs images on this worker (config.signing): the worker's key by default, or
// keylessly with Fulcio and Rekor; and how to recognise a bundle that signer would have made.
import type { Bundle } from '@sigstore/bundle';
import { DSSEBundleBuilder } from '@sigstore/sign';
import type { SigningConfig } from '../config/config.js';
import { LocalKeySigner, keyVerifier, readKeyFile } from './key-signer.js';
import { keylessMode } from './keyless-signer.js';

export interface SigningMode {
  builder: DSSEBundleBuilder;
  /** Throws unless a bundle is one this mode would have produced (used for idempotency and replacement). */
  ours: (bundle: Bundle) => void;
}

export async function signingMode(signing: SigningConfig): Promise<SigningMode> {
  if (signing.mode === 'keyless') return keylessMode(signing);
  const signer = new LocalKeySigner(await readKeyFile(signing.keyFile, 'image signing key'));
  return { builder: new DSSEBundleBuilder({ signer, witnesses: [] }), ours: keyVerifier(signer.publicKey) };
}
