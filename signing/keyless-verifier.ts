// The keyless check (KILN_SIGNING=keyless): a bundle counts as kiln's only if its certificate chains
// to the CA certificates in KILN_FULCIO_CA, its SAN and Fulcio issuer extension satisfy catalog.yaml's
// `signing:` policy, and its signature over the DSSE envelope verifies with the certificate's key.
// Why not @sigstore/verify's Verifier alone: it checks a certificate only at a verified timestamp
// (Rekor or a TSA), and offline kiln has neither Rekor's key nor a TSA; like `cosign verify
// --insecure-ignore-tlog`, the chain is checked at the current time instead. Rekor entries in a
// bundle are therefore not checked here, and an SCT is not required (`--insecure-ignore-sct`).
import { createPublicKey } from 'node:crypto';
import type { Bundle } from '@sigstore/bundle';
import { toSignedEntity, toTrustMaterial, type TrustMaterial } from '@sigstore/verify';
import type { SigningPolicy } from '../domain/catalog.js';
import { failure } from '../domain/failures.js';
import { identityProblem } from '../domain/signing-policy.js';
import type { BundleCheck } from './bundles.js';
import { readKeyFile } from './key-signer.js';

type Certificate = TrustMaterial['certificateAuthorities'][number]['certChain'][number];

const OID_ISSUER_V1 = '1.3.6.1.4.1.57264.1.1';
const OID_ISSUER_V2 = '1.3.6.1.4.1.57264.1.8';
const OID_EXTENDED_KEY_USAGE = '2.5.29.37';
const OID_CODE_SIGNING = '1.3.6.1.5.5.7.3.3';

/** The certificates of a PEM CA bundle, parsed (SigningMisconfigured when there are none). */
export function trustedCertificates(pem: string, file: string): Certificate[] {
  const ders = [...pem.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g)].map((m) =>
    Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64'),
  );
  if (ders.length === 0) throw failure('SigningMisconfigured', `KILN_FULCIO_CA ${file} holds no PEM certificate`);
  try {
    const trust = toTrustMaterial(
      {
        mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
        certificateAuthorities: [
          {
            subject: undefined,
            uri: '',
            operator: '',
            certChain: { certificates: ders.map((rawBytes) => ({ rawBytes })) },
            validFor: undefined,
          },
        ],
        tlogs: [],
        ctlogs: [],
        timestampAuthorities: [],
      },
      {},
    );
    return trust.certificateAuthorities[0]!.certChain;
  } catch (err) {
    throw failure('SigningMisconfigured', `KILN_FULCIO_CA ${file} is not readable: ${(err as Error).message}`);
  }
}

/** The OIDC issuer Fulcio wrote into the certificate (v2 extension, else the deprecated v1). */
function fulcioIssuer(cert: Certificate): string | undefined {
  const v2 = cert.extension(OID_ISSUER_V2);
  if (v2) return v2.valueObj.subs[0]?.value.toString('utf8');
  return cert.extension(OID_ISSUER_V1)?.value.toString('ascii');
}

/** Whether `issuer` signed `cert` (a key of another type is simply "no"). */
function signedBy(cert: Certificate, issuer?: Certificate): boolean {
  try {
    return cert.verify(issuer);
  } catch {
    return false;
  }
}

const selfSigned = (cert: Certificate) => cert.subject.equals(cert.issuer) && signedBy(cert);

/** The path leaf -> trusted root, or why there is none. */
function chainOf(leaf: Certificate, trusted: Certificate[]): Certificate[] | string {
  if (leaf.isCA) return 'the certificate is a CA certificate, not a signing certificate';
  const eku = leaf.extension(OID_EXTENDED_KEY_USAGE);
  if (eku && !eku.valueObj.subs[0]?.subs.some((oid) => oid.toOID() === OID_CODE_SIGNING))
    return 'the certificate is not for code signing (extended key usage)';
  const path = [leaf];
  for (let cert = leaf; path.length <= 8;) {
    const issuer = trusted.find((ca) => ca.isCA && ca.subject.equals(cert.issuer) && signedBy(cert, ca));
    if (!issuer) return 'the certificate was not issued by a CA in KILN_FULCIO_CA';
    path.push(issuer);
    if (selfSigned(issuer)) {
      // pathLenConstraint: how many CA certificates may follow below this one, leaf excluded.
      const tooDeep = path.some((ca, i) => {
        const limit = ca.extBasicConstraints?.pathLenConstraint;
        return i > 0 && limit !== undefined && limit < BigInt(i - 1);
      });
      return tooDeep ? 'the certificate chain exceeds a CA path length constraint' : path;
    }
    cert = issuer;
  }
  return 'the certificate chain is too long';
}

/**
 * A check that trusts exactly the certificates issued under `roots` to the policy's identity. It
 * throws, saying why, for any other bundle. A bundle that satisfied the policy when its certificate
 * was issued but has expired since (Fulcio certificates live minutes) comes back `expired`: no
 * longer valid, yet kiln's own, so signImage and attestImage replace it.
 */
export function identityVerifier(
  policy: SigningPolicy,
  roots: Certificate[],
  clock: () => Date = () => new Date(),
): BundleCheck {
  const reject = (message: string) => failure('ImageVerificationFailed', message);
  return (bundle: Bundle) => {
    const entity = toSignedEntity(bundle);
    if (entity.key.$case !== 'certificate') throw reject('signed with a key, not with a keyless certificate');
    const leaf = entity.key.certificate;
    const san = leaf.subjectAltName;
    const chain = chainOf(leaf, roots);
    if (typeof chain === 'string') throw reject(`${chain} (identity ${san ?? 'none'})`);
    const problem = identityProblem(policy, san, fulcioIssuer(leaf));
    if (problem) throw reject(problem);
    if (!entity.signature.verifySignature(createPublicKey({ key: leaf.publicKey, format: 'der', type: 'spki' })))
      throw reject(`signature does not verify with the certificate of ${san}`);
    if (!chain.every((c) => c.validForDate(leaf.notBefore)))
      throw reject(`the certificate of ${san} was issued outside its CA's validity`);
    const now = clock();
    if (chain.every((c) => c.validForDate(now))) return {};
    const expiry = chain.reduce((end, c) => (c.notAfter < end ? c.notAfter : end), leaf.notAfter);
    if (expiry < now) return { expired: `the certificate of ${san} expired at ${expiry.toISOString()}` };
    throw reject(`the certificate of ${san} is not valid before ${leaf.notBefore.toISOString()}`);
  };
}

/** The keyless check for a worker: the CA file from KILN_FULCIO_CA and catalog.yaml's policy. */
export async function identityVerifierFrom(policy: SigningPolicy, caFile: string): Promise<BundleCheck> {
  const pem = await readKeyFile(caFile, 'KILN_FULCIO_CA', 'set KILN_FULCIO_CA to the PEM file of your Fulcio CA');
  return identityVerifier(policy, trustedCertificates(pem, caFile));
}
