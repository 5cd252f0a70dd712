// Production signing (KILN_SIGNING=keyless): a Fulcio certificate for the CI's OIDC identity, the
// signature logged in Rekor.
import type { Bundle } from '@sigstore/bundle';
import { DSSEBundleBuilder, FulcioSigner, RekorWitness } from '@sigstore/sign';
import type { SigningConfig } from '../config/config.js';
import { failure } from '../domain/failures.js';
import { readKeyFile } from './key-signer.js';
import type { SigningMode } from './signer.js';

/**
 * Untested here (needs Fulcio, Rekor and an OIDC issuer on the network). Existing bundles cannot be
 * verified offline against the public-good roots, so idempotency only trusts their form; deploy-time
 * verification is `cosign verify --certificate-identity … --certificate-oidc-issuer …`.
 */
export function keylessMode(signing: Extract<SigningConfig, { mode: 'keyless' }>): SigningMode {
  const { fulcioUrl: fulcioBaseURL, rekorUrl: rekorBaseURL } = signing;
  if (!fulcioBaseURL || !rekorBaseURL)
    throw failure('SigningMisconfigured', 'KILN_SIGNING=keyless needs KILN_FULCIO_URL and KILN_REKOR_URL');
  const identityProvider = {
    // Read on every signature: CI token files are refreshed while a worker runs.
    getToken: async () => {
      const token =
        signing.oidcToken ??
        (signing.oidcTokenFile ? (await readKeyFile(signing.oidcTokenFile, 'OIDC token file')).trim() : '');
      if (!token)
        throw failure('SigningMisconfigured', 'KILN_SIGNING=keyless needs KILN_OIDC_TOKEN or KILN_OIDC_TOKEN_FILE');
      return token;
    },
  };
  return {
    builder: new DSSEBundleBuilder({
      signer: new FulcioSigner({ fulcioBaseURL, identityProvider }),
      witnesses: [new RekorWitness({ rekorBaseURL, entryType: 'dsse' })],
    }),
    ours: (bundle: Bundle) => {
      const material = bundle.verificationMaterial;
      if (material.content.$case === 'publicKey' || material.tlogEntries.length === 0) {
        throw failure('ImageVerificationFailed', 'not a keyless bundle logged in Rekor');
      }
    },
  };
}
