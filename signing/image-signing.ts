// What signImage and attestImage do once the signer is chosen (signing/signer.ts): count only the
// bundles that signer made, keep the valid ones that already say the same, and replace kiln's own
// outdated or expired ones. Separate from the activities so a test can sign with its own signer.
import type { RegistryClient } from '../oci/registry.js';
import { attach, attachedBundles, type Attached } from './bundles.js';
import type { SigningMode } from './signer.js';
import {
  SIGNATURE_PREDICATE,
  STATEMENT_V1,
  canonical,
  checkDigest,
  coversDigest,
  valueAt,
  type Statement,
} from './statements.js';

/**
 * Signs `digest`. A valid signature by the same signer over the same digest carrying at least
 * these annotations is kept and nothing is added (`signed: false`); the signer's expired ones
 * (keyless) are replaced. `reference` is `repository@<referrer digest>` of the signature.
 */
export async function signDigest(
  client: RegistryClient,
  mode: SigningMode,
  input: { repository: string; digest: string; annotations?: Record<string, string> },
): Promise<{ signed: boolean; reference: string }> {
  const hex = checkDigest(input.digest);
  const wanted = Object.entries(input.annotations ?? {});
  const signatures = (await attachedBundles(client, input.digest, mode.ours)).filter(
    (a) => a.statement?.predicateType === SIGNATURE_PREDICATE && coversDigest(a.statement, hex),
  );
  const existing = signatures.find(
    (a) =>
      a.trusted &&
      wanted.every(([k, v]) => a.statement!.subject.some((s) => s.digest?.sha256 === hex && s.annotations?.[k] === v)),
  );
  if (existing) return { signed: false, reference: `${input.repository}@${existing.descriptor.digest}` };
  const statement: Statement = {
    _type: STATEMENT_V1,
    subject: [{ digest: { sha256: hex }, ...(wanted.length ? { annotations: Object.fromEntries(wanted) } : {}) }],
    predicateType: SIGNATURE_PREDICATE,
    predicate: {},
  };
  const expired = signatures.filter((a) => a.expired).map((a) => a.descriptor.digest);
  const ref = await attach(client, input.repository, input.digest, mode, statement, expired);
  return { signed: true, reference: `${input.repository}@${ref}` };
}

/**
 * Attests `digest` with `predicate` (an in-toto v1 Statement about `repository`). The same
 * statement already attached by this signer -> nothing added (`attested: false`); otherwise the
 * new one replaces the signer's earlier ones of this type (expired ones included), so verification
 * sees only the newest. Another signer's bundles are never replaced.
 */
export async function attestDigest(
  client: RegistryClient,
  mode: SigningMode,
  input: { repository: string; digest: string; predicateType: string; predicate: object; sameWhen?: string },
): Promise<{ attested: boolean }> {
  const hex = checkDigest(input.digest);
  const { predicateType, predicate, sameWhen } = input;
  const statement: Statement = {
    _type: STATEMENT_V1,
    subject: [{ name: input.repository, digest: { sha256: hex } }],
    predicateType,
    predicate,
  };
  const sameType = (await attachedBundles(client, input.digest, mode.ours)).filter(
    (a) => (a.trusted || a.expired) && a.statement!.predicateType === predicateType,
  );
  const want = canonical(statement);
  const same = sameWhen
    ? (a: Attached) =>
        coversDigest(a.statement!, hex) &&
        canonical(valueAt(a.statement!.predicate, sameWhen)) === canonical(valueAt(predicate, sameWhen))
    : (a: Attached) => canonical(a.statement) === want;
  if (sameType.some((a) => a.trusted && same(a))) return { attested: false };
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
