// kiln's own offline check of a published digest: its signature and every attestation, made by the
// signer kiln trusts (signing/signer.ts: the worker's key, or keyless the catalog's identity).
// Separate from the verifyImage activity so a test can verify against its own trust.
import { failure } from '../domain/failures.js';
import type { RegistryClient } from '../oci/registry.js';
import { attachedBundles } from './bundles.js';
import type { TrustedSigner } from './signer.js';
import { SIGNATURE_PREDICATE, checkDigest, coversDigest, predicateUri, type Statement } from './statements.js';

/**
 * A signature, one valid attestation per requested type (URIs or cosign names), and every
 * statement the trusted signer made must be about `digest` (one about another image, copied onto
 * this one, fails the check). Bundles by anyone else are ignored, as cosign ignores them, and are
 * listed with why they were rejected when something is missing.
 */
export async function verifyDigest(
  client: RegistryClient,
  trusted: TrustedSigner,
  input: { repository: string; digest: string; predicateTypes: string[] },
): Promise<{ signature: true; attestations: Record<string, true> }> {
  await verifiedStatements(client, trusted, input);
  return {
    signature: true,
    attestations: Object.fromEntries(input.predicateTypes.map((name) => [name, true as const])),
  };
}

/** verifyDigest's check, returning the statements the trusted signer made about the digest. */
export async function verifiedStatements(
  client: RegistryClient,
  trusted: TrustedSigner,
  input: { repository: string; digest: string; predicateTypes: string[] },
): Promise<Statement[]> {
  const hex = checkDigest(input.digest);
  const types = input.predicateTypes.map((t) => [t, predicateUri(t)] as const);
  const attached = await attachedBundles(client, input.digest, trusted.ours);
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
    problems.push(`no ${what} signed by ${trusted.signer}${others.length ? ` (rejected ${others.join('; ')})` : ''}`);
  };
  if (!valid(SIGNATURE_PREDICATE)) missing('signature', SIGNATURE_PREDICATE);
  for (const [name, uri] of types) if (!valid(uri)) missing(`${name} attestation`, uri);
  if (problems.length) throw failure('ImageVerificationFailed', `${ref} does not verify: ${problems.join('; ')}`);
  return attached.filter((a) => a.trusted).map((a) => a.statement!);
}
