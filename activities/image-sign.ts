// signImage and attestImage: the pushed image's signature and its attestations (SBOM, vulnerability
// scan, provenance), as Sigstore bundles attached to the digest (signing/bundles.ts says how).
// Signing: the embedded default is the worker's ECDSA P-256 key (config.paths.imageSigningKey), no
// transparency log. KILN_SIGNING=keyless signs with a Fulcio certificate for the CI's OIDC
// identity and logs to Rekor instead.
import type { KilnConfig } from '../config/config.js';
import { RegistryClient, parseImageRef } from '../oci/registry.js';
import { attach, attachedBundles, type Attached } from '../signing/bundles.js';
import { signingMode } from '../signing/signer.js';
import {
  SIGNATURE_PREDICATE,
  STATEMENT_V1,
  canonical,
  checkDigest,
  coversDigest,
  predicateUri,
  readPredicateFile,
  valueAt,
  type Statement,
} from '../signing/statements.js';

export interface SignImageInput {
  /** `host[:port]/path`, without tag or digest. */
  repository: string;
  digest: string;
  /** Signed claims (`cosign verify -a key=value` checks them). */
  annotations?: Record<string, string>;
}

/**
 * Signs the image digest with the worker's key (or keylessly). Idempotent: an existing signature
 * by the same key over the same digest, carrying at least these annotations, is kept and nothing is
 * added (`signed: false`). `reference` is where the signature lives: `repository@<referrer digest>`.
 */
export async function signImage(
  config: KilnConfig,
  input: SignImageInput,
): Promise<{ signed: boolean; reference: string }> {
  const hex = checkDigest(input.digest);
  const client = new RegistryClient(parseImageRef(input.repository), config.registryAuth);
  const mode = await signingMode(config.signing);
  const wanted = Object.entries(input.annotations ?? {});
  const existing = (await attachedBundles(client, input.digest, mode.ours)).find(
    (a) =>
      a.trusted &&
      a.statement!.predicateType === SIGNATURE_PREDICATE &&
      coversDigest(a.statement!, hex) &&
      wanted.every(([k, v]) => a.statement!.subject.some((s) => s.digest?.sha256 === hex && s.annotations?.[k] === v)),
  );
  if (existing) return { signed: false, reference: `${input.repository}@${existing.descriptor.digest}` };
  const statement: Statement = {
    _type: STATEMENT_V1,
    subject: [{ digest: { sha256: hex }, ...(wanted.length ? { annotations: Object.fromEntries(wanted) } : {}) }],
    predicateType: SIGNATURE_PREDICATE,
    predicate: {},
  };
  const ref = await attach(client, input.repository, input.digest, mode, statement, []);
  return { signed: true, reference: `${input.repository}@${ref}` };
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
}

/**
 * Attests the image: an in-toto v1 Statement about `repository` at `digest` with the predicate
 * read from `predicateFile`, DSSE-signed. The same statement already attached -> nothing added
 * (`attested: false`); a different one of the same predicate type replaces the earlier ones, so
 * verification sees only the newest scan or SBOM.
 */
export async function attestImage(config: KilnConfig, input: AttestImageInput): Promise<{ attested: boolean }> {
  const hex = checkDigest(input.digest);
  const predicateType = predicateUri(input.predicateType);
  const predicate = await readPredicateFile(input.predicateFile);
  const statement: Statement = {
    _type: STATEMENT_V1,
    subject: [{ name: input.repository, digest: { sha256: hex } }],
    predicateType,
    predicate,
  };
  const client = new RegistryClient(parseImageRef(input.repository), config.registryAuth);
  const mode = await signingMode(config.signing);
  const sameType = (await attachedBundles(client, input.digest, mode.ours)).filter(
    (a) => a.trusted && a.statement!.predicateType === predicateType,
  );
  const want = canonical(statement);
  const { sameWhen } = input;
  const same = sameWhen
    ? (a: Attached) =>
        coversDigest(a.statement!, hex) &&
        canonical(valueAt(a.statement!.predicate, sameWhen)) === canonical(valueAt(predicate, sameWhen))
    : (a: Attached) => canonical(a.statement) === want;
  if (sameType.some(same)) return { attested: false };
  await attach(
    client,
    input.repository,
    input.digest,
    mode,
    statement,
    sameType.map((a) => a.descriptor.digest),
  );
  return { attested: true };
}
