// Production signing (KILN_SIGNING=keyless): a Fulcio certificate for the CI's OIDC identity, the
// signature logged in Rekor; only certificates for the identity catalog.yaml names count as kiln's.
import { DSSEBundleBuilder, FulcioSigner, RekorWitness } from '@sigstore/sign';
import type { SigningConfig } from '../config/config.js';
import type { SigningPolicy } from '../domain/catalog.js';
import { failure } from '../domain/failures.js';
import { describePolicy } from '../domain/signing-policy.js';
import { readKeyFile } from './key-signer.js';
import { identityVerifierFrom } from './keyless-verifier.js';
import type { SigningMode, TrustedSigner } from './signer.js';

type Keyless = Extract<SigningConfig, { mode: 'keyless' }>;

/**
 * What keyless verification trusts: certificates under KILN_FULCIO_CA for catalog.yaml's identity.
 * The public-good Sigstore roots come from its TUF repository, which kiln does not fetch (workers
 * verify offline): for public-good Fulcio, export its chain once and point KILN_FULCIO_CA at it.
 */
export async function keylessTrust(signing: Keyless, policy: SigningPolicy | undefined): Promise<TrustedSigner> {
  if (!policy)
    throw failure(
      'SigningMisconfigured',
      "KILN_SIGNING=keyless needs catalog.yaml's signing policy, e.g. signing: { identity: <certificate SAN>, issuer: <OIDC issuer URL> }, and the run's catalog snapshot (snapshotDir) to read it from",
    );
  if (!signing.fulcioCa)
    throw failure(
      'SigningMisconfigured',
      'KILN_SIGNING=keyless needs KILN_FULCIO_CA: a PEM file with the Fulcio root and intermediate certificates that signatures must chain to (kiln does not fetch the public-good TUF root)',
    );
  return { ours: await identityVerifierFrom(policy, signing.fulcioCa), signer: describePolicy(policy) };
}

/**
 * Untested here against a real Fulcio and Rekor (needs an OIDC issuer on the network); the
 * certificate checks are tested with a test CA. Deploy-time verification is `cosign verify
 * --trusted-root … --certificate-identity … --certificate-oidc-issuer …`.
 */
export async function keylessMode(signing: Keyless, policy: SigningPolicy | undefined): Promise<SigningMode> {
  const { fulcioUrl: fulcioBaseURL, rekorUrl: rekorBaseURL } = signing;
  if (!fulcioBaseURL || !rekorBaseURL)
    throw failure('SigningMisconfigured', 'KILN_SIGNING=keyless needs KILN_FULCIO_URL and KILN_REKOR_URL');
  const trust = await keylessTrust(signing, policy);
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
    ...trust,
    builder: new DSSEBundleBuilder({
      signer: new FulcioSigner({ fulcioBaseURL, identityProvider }),
      witnesses: [new RekorWitness({ rekorBaseURL, entryType: 'dsse' })],
    }),
  };
}
