// signImage and attestImage: the pushed image's signature and its attestations (SBOM, vulnerability
// scan, provenance), as Sigstore bundles attached to the digest (signing/bundles.ts says how).
// Signing: the embedded default is the worker's ECDSA P-256 key (config.paths.imageSigningKey), no
// transparency log. KILN_SIGNING=keyless signs with a Fulcio certificate for the CI's OIDC
// identity and logs to Rekor instead; then only certificates for the identity catalog.yaml's
// `signing:` names count as kiln's (read from the run's catalog snapshot, `snapshotDir`).
import type { KilnConfig } from '../config/config.js';
import { RegistryClient, parseImageRef } from '../oci/registry.js';
import { attestDigest, signDigest } from '../signing/image-signing.js';
import { signingMode, signingPolicy } from '../signing/signer.js';
import { checkDigest, predicateUri, readPredicateFile } from '../signing/statements.js';

export interface SignImageInput {
  /** `host[:port]/path`, without tag or digest. */
  repository: string;
  digest: string;
  /** Signed claims (`cosign verify -a key=value` checks them). */
  annotations?: Record<string, string>;
  /** The run's catalog snapshot: its `signing:` policy says whose keyless signatures are kiln's. */
  snapshotDir?: string;
}

/**
 * Signs the image digest with the worker's key (or keylessly). Idempotent: an existing signature
 * by the same signer over the same digest, carrying at least these annotations, is kept and nothing
 * is added (`signed: false`). `reference` is where the signature lives: `repository@<referrer digest>`.
 */
export async function signImage(
  config: KilnConfig,
  input: SignImageInput,
): Promise<{ signed: boolean; reference: string }> {
  checkDigest(input.digest);
  const client = new RegistryClient(parseImageRef(input.repository), config.registryAuth);
  const mode = await signingMode(config, await signingPolicy(input.snapshotDir));
  return signDigest(client, mode, input);
}

export interface AttestImageInput {
  repository: string;
  digest: string;
  /** A predicate type URI (or its cosign name: spdxjson, vuln, slsaprovenance1). */
  predicateType: string;
  /** JSON predicate on the worker's disk (SPDX document, vulnerability scan, SLSA provenance). */
  predicateFile: string;
  /**
   * Dotted path into the predicate whose value alone decides whether an attached attestation is
   * the same (a re-scan with the same findings but new timestamps is not attested again).
   */
  sameWhen?: string;
  /** The run's catalog snapshot: its `signing:` policy says whose keyless signatures are kiln's. */
  snapshotDir?: string;
}

/**
 * Attests the image: an in-toto v1 Statement about `repository` at `digest` with the predicate
 * read from `predicateFile`, DSSE-signed. The same statement already attached -> nothing added
 * (`attested: false`); a different one of the same predicate type replaces the earlier ones, so
 * verification sees only the newest scan or SBOM.
 */
export async function attestImage(config: KilnConfig, input: AttestImageInput): Promise<{ attested: boolean }> {
  checkDigest(input.digest);
  const predicateType = predicateUri(input.predicateType);
  const predicate = await readPredicateFile(input.predicateFile);
  const client = new RegistryClient(parseImageRef(input.repository), config.registryAuth);
  const mode = await signingMode(config, await signingPolicy(input.snapshotDir));
  return attestDigest(client, mode, {
    repository: input.repository,
    digest: input.digest,
    predicateType,
    predicate,
    ...(input.sameWhen ? { sameWhen: input.sameWhen } : {}),
  });
}
