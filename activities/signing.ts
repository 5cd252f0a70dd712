// Image signatures and attestations, stored the way cosign v3 stores them: each one a Sigstore
// bundle v0.3 holding a DSSE-signed in-toto Statement, pushed as an OCI 1.1 referrer of the image
// (a manifest with `subject`). Registries without the referrers API (Debian's Distribution 2.8)
// get the referrers tag schema `sha256-<hex>`, as `cosign sign` v3 writes it there too.
// Why this format and only this one: it is cosign v3's default (the legacy `.sig`/`.att` tags are
// deprecated there), the bundle is exactly what @sigstore/sign builds and @sigstore/verify checks,
// and cosign v3 stops reading legacy tags once any bundle is attached, so mixing would hide one
// half. Note that `cosign verify` accepts any bundle by the key about the digest, attestations
// included; verifyImage below insists on the signature statement (`sign/v1`).
//
// Signing: the embedded default is the worker's ECDSA P-256 key (kilnPaths().imageSigningKey), no
// transparency log. KILN_SIGNING=keyless signs with a Fulcio certificate for the CI's OIDC
// identity and logs to Rekor instead.
import { createHash, createPrivateKey, createPublicKey, sign, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { ApplicationFailure } from '@temporalio/common';
import { bundleFromJSON, bundleToJSON, type Bundle } from '@sigstore/bundle';
import { DSSEBundleBuilder, FulcioSigner, RekorWitness, type Signature, type Signer } from '@sigstore/sign';
import { Verifier, toSignedEntity, toTrustMaterial } from '@sigstore/verify';
import { kilnPaths } from '../config/config.js';
import { RegistryClient, parseImageRef, type ReferrerDescriptor } from '../oci/registry.js';

const BUNDLE_MEDIA_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const EMPTY_CONFIG = { mediaType: 'application/vnd.oci.empty.v1+json', digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a', size: 2 };
const IN_TOTO = 'application/vnd.in-toto+json';
const STATEMENT_V1 = 'https://in-toto.io/Statement/v1';
/** What `cosign sign` v3 signs: a Statement about the image with an empty predicate. */
export const SIGNATURE_PREDICATE = 'https://sigstore.dev/cosign/sign/v1';

/** Attestation predicate types kiln writes, by their `cosign verify-attestation --type` names. */
export const PREDICATE_TYPES = {
  spdxjson: 'https://spdx.dev/Document',
  vuln: 'https://cosign.sigstore.dev/attestation/vuln/v1',
  slsaprovenance1: 'https://slsa.dev/provenance/v1',
} as const;

interface Statement {
  _type: string;
  subject: { name?: string; digest?: Record<string, string>; annotations?: Record<string, unknown> }[];
  predicateType: string;
  predicate: unknown;
}

const sha256Hex = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

function fail(message: string, type: string): never {
  throw ApplicationFailure.nonRetryable(message, type);
}

function checkDigest(digest: string): string {
  const m = /^sha256:([0-9a-f]{64})$/.exec(digest);
  return m ? m[1]! : fail(`image digest ${JSON.stringify(digest)} is not sha256:<64 hex>`, 'InvalidInput');
}

function predicateUri(type: string): string {
  const uri = (PREDICATE_TYPES as Record<string, string>)[type] ?? type;
  if (!Object.values(PREDICATE_TYPES).includes(uri as never)) {
    fail(`predicate type ${type} is not one kiln attests (${Object.entries(PREDICATE_TYPES).map(([k, v]) => `${v} (${k})`).join(', ')})`, 'InvalidInput');
  }
  return uri;
}

/** JSON with sorted keys: statements are compared by content, not by the bytes of a signature. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    return `{${Object.keys(obj).sort().map((k) => `${JSON.stringify(k)}:${canonical(obj[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** cosign's key hint: base64 SHA-256 of the SPKI DER. Informational; verification is by key. */
function keyHint(publicKey: KeyObject): string {
  return createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('base64');
}

/** @sigstore/sign only ships the Fulcio signer; this is the local-key one (ECDSA P-256, SHA-256, DER). */
export class LocalKeySigner implements Signer {
  readonly #key: KeyObject;
  readonly publicKey: KeyObject;
  readonly hint: string;

  constructor(privateKeyPem: string) {
    this.#key = createPrivateKey(privateKeyPem);
    if (this.#key.asymmetricKeyType !== 'ec' || this.#key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
      fail('the image signing key is not an ECDSA P-256 key', 'SigningMisconfigured');
    }
    this.publicKey = createPublicKey(this.#key);
    this.hint = keyHint(this.publicKey);
  }

  async sign(data: Buffer): Promise<Signature> {
    return {
      signature: sign('sha256', data, this.#key),
      key: { $case: 'publicKey', publicKey: this.publicKey.export({ type: 'spki', format: 'pem' }).toString(), hint: this.hint },
    };
  }
}

async function readKeyFile(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    return fail(`${what} ${path} cannot be read on this worker (${(err as Error).message}); run scripts/setup or set KILN_STATE`, 'SigningMisconfigured');
  }
}

/** A verifier that trusts exactly one public key, whatever hint a bundle carries (as cosign --key does). */
function keyVerifier(publicKey: KeyObject): (bundle: Bundle) => void {
  const root: Parameters<typeof toTrustMaterial>[0] = {
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    tlogs: [], certificateAuthorities: [], ctlogs: [], timestampAuthorities: [],
  };
  const trust = toTrustMaterial(root, () => ({ publicKey, validFor: () => true }));
  // No Rekor, CT log or TSA in key mode: every threshold must be 0 (timestamps default to 1).
  const verifier = new Verifier(trust, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 });
  const ours = keyHint(publicKey);
  return (bundle) => {
    try {
      verifier.verify(toSignedEntity(bundle));
    } catch (err) {
      // The hint is unsigned, so it only makes the message clearer; the verdict is the signature's.
      const material = bundle.verificationMaterial.content;
      if (material.$case !== 'publicKey') throw new Error(`signed keylessly, not by key ${ours}`);
      if (material.publicKey.hint && material.publicKey.hint !== ours) throw new Error(`signed by another key (hint ${material.publicKey.hint})`);
      throw err;
    }
  };
}

interface Mode {
  builder: DSSEBundleBuilder;
  /** Throws unless a bundle is one this mode would have produced (used for idempotency and replacement). */
  ours: (bundle: Bundle) => void;
}

async function signingMode(env: NodeJS.ProcessEnv = process.env): Promise<Mode> {
  const mode = env.KILN_SIGNING ?? 'key';
  if (mode === 'keyless') return keylessMode(env);
  if (mode !== 'key') fail(`KILN_SIGNING=${mode}: expected key (default) or keyless`, 'SigningMisconfigured');
  const signer = new LocalKeySigner(await readKeyFile(kilnPaths(env).imageSigningKey, 'image signing key'));
  return { builder: new DSSEBundleBuilder({ signer, witnesses: [] }), ours: keyVerifier(signer.publicKey) };
}

/**
 * Production: a Fulcio certificate for the CI's OIDC identity, the signature logged in Rekor.
 * Untested here (needs Fulcio, Rekor and an OIDC issuer on the network). Existing bundles cannot be
 * verified offline against the public-good roots, so idempotency only trusts their form; deploy-time
 * verification is `cosign verify --certificate-identity … --certificate-oidc-issuer …`.
 */
function keylessMode(env: NodeJS.ProcessEnv): Mode {
  const fulcioBaseURL = env.KILN_FULCIO_URL;
  const rekorBaseURL = env.KILN_REKOR_URL;
  if (!fulcioBaseURL || !rekorBaseURL) fail('KILN_SIGNING=keyless needs KILN_FULCIO_URL and KILN_REKOR_URL', 'SigningMisconfigured');
  const identityProvider = {
    // Read on every signature: CI token files are refreshed while a worker runs.
    getToken: async () => {
      const token = env.KILN_OIDC_TOKEN ?? (env.KILN_OIDC_TOKEN_FILE ? (await readKeyFile(env.KILN_OIDC_TOKEN_FILE, 'OIDC token file')).trim() : '');
      return token || fail('KILN_SIGNING=keyless needs KILN_OIDC_TOKEN or KILN_OIDC_TOKEN_FILE', 'SigningMisconfigured');
    },
  };
  return {
    builder: new DSSEBundleBuilder({
      signer: new FulcioSigner({ fulcioBaseURL, identityProvider }),
      witnesses: [new RekorWitness({ rekorBaseURL, entryType: 'dsse' })],
    }),
    ours: (bundle) => {
      const material = bundle.verificationMaterial;
      if (material.content.$case === 'publicKey' || material.tlogEntries.length === 0) throw new Error('not a keyless bundle logged in Rekor');
    },
  };
}

/** A Sigstore bundle attached to an image, with what kiln could make of it. */
interface Attached {
  descriptor: ReferrerDescriptor;
  statement?: Statement;
  /** Signed by the trusted key (or, keyless, of the keyless form). */
  trusted: boolean;
  /** Why it is not usable, for error messages. */
  problem?: string;
}

async function attachedBundles(client: RegistryClient, digest: string, ours: (bundle: Bundle) => void): Promise<Attached[]> {
  const { manifests } = await client.referrers(digest);
  const out: Attached[] = [];
  for (const descriptor of manifests) {
    if (descriptor.artifactType && !descriptor.artifactType.startsWith('application/vnd.dev.sigstore.bundle')) continue;
    const manifest = await client.getManifest(descriptor.digest);
    if (!manifest) continue; // listed in a stale tag index after a delete
    try {
      if (`sha256:${sha256Hex(manifest.body)}` !== descriptor.digest) throw new Error(`manifest does not match its digest`);
      const layers = (JSON.parse(manifest.body.toString('utf8')) as { layers?: { mediaType: string; digest: string }[] }).layers ?? [];
      // cosign accepts exactly one bundle layer per referrer.
      if (layers.length !== 1 || !layers[0]!.mediaType.startsWith('application/vnd.dev.sigstore.bundle')) continue;
      const bundle = bundleFromJSON(JSON.parse((await client.getBlob(layers[0]!.digest)).toString('utf8')));
      if (bundle.content.$case !== 'dsseEnvelope' || bundle.content.dsseEnvelope.payloadType !== IN_TOTO) {
        throw new Error('not a DSSE bundle of an in-toto statement');
      }
      const statement = JSON.parse(bundle.content.dsseEnvelope.payload.toString('utf8')) as Statement;
      if (!Array.isArray(statement.subject) || typeof statement.predicateType !== 'string') throw new Error('not an in-toto statement');
      try {
        ours(bundle);
        out.push({ descriptor, statement, trusted: true });
      } catch (err) {
        out.push({ descriptor, statement, trusted: false, problem: (err as Error).message });
      }
    } catch (err) {
      if (err instanceof ApplicationFailure && !err.nonRetryable) throw err; // registry unavailable: retry
      out.push({ descriptor, trusted: false, problem: `unreadable: ${(err as Error).message}` });
    }
  }
  return out;
}

const coversDigest = (statement: Statement, hex: string) => statement.subject.some((s) => s.digest?.sha256 === hex);

/**
 * Signs `statement` and attaches the bundle as a referrer of the image, taking `replace` (earlier
 * referrers) off the list in the same index update. Returns the new referrer manifest's digest.
 */
async function attach(client: RegistryClient, repository: string, digest: string, mode: Mode, statement: Statement, replace: string[]): Promise<string> {
  const image = await client.getManifest(digest);
  if (!image) fail(`${repository}@${digest} is not in the registry; push the image before signing it`, 'RegistryRejected');
  const bundle = await mode.builder.create({ data: Buffer.from(JSON.stringify(statement)), type: IN_TOTO });
  // @sigstore/sign copies the key hint into the DSSE keyid, and cosign v3.1.2 then finds no valid
  // signature ("accepted signatures do not match threshold, Found: 0"). cosign writes no keyid;
  // do the same. The keyid is outside the signed PAE; the hint stays in verificationMaterial.
  if (bundle.content.$case === 'dsseEnvelope') for (const sig of bundle.content.dsseEnvelope.signatures) sig.keyid = '';
  const bundleJson = Buffer.from(JSON.stringify(bundleToJSON(bundle)));
  const layer = { mediaType: BUNDLE_MEDIA_TYPE, digest: `sha256:${sha256Hex(bundleJson)}`, size: bundleJson.length };
  await client.putBlob(EMPTY_CONFIG.digest, Buffer.from('{}'));
  await client.putBlob(layer.digest, bundleJson);
  const annotations = {
    'dev.sigstore.bundle.content': 'dsse-envelope',
    'dev.sigstore.bundle.predicateType': statement.predicateType,
    'org.opencontainers.image.created': new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
  };
  const body = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType: BUNDLE_MEDIA_TYPE,
    config: EMPTY_CONFIG,
    layers: [layer],
    subject: { mediaType: image.mediaType, digest, size: image.body.length },
    annotations,
  }));
  const put = await client.putReferrer(OCI_MANIFEST, body);
  if (!put.indexed) {
    await client.updateReferrersTag(digest, {
      add: [{ mediaType: OCI_MANIFEST, digest: put.digest, size: body.length, artifactType: BUNDLE_MEDIA_TYPE, annotations }],
      remove: replace,
    });
  }
  // Already off the tag index; deleting is what drops them from a registry's own referrers API.
  // Best effort: a registry with deletes disabled keeps an unlisted (or still listed) old bundle.
  for (const old of replace) await client.deleteManifest(old).catch(() => false);
  return put.digest;
}

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
export async function signImage(input: SignImageInput): Promise<{ signed: boolean; reference: string }> {
  const hex = checkDigest(input.digest);
  const client = new RegistryClient(parseImageRef(input.repository));
  const mode = await signingMode();
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

function valueAt(doc: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined), doc);
}

/**
 * Attests the image: an in-toto v1 Statement about `repository` at `digest` with the predicate
 * read from `predicateFile`, DSSE-signed. The same statement already attached -> nothing added
 * (`attested: false`); a different one of the same predicate type replaces the earlier ones, so
 * verification sees only the newest scan or SBOM.
 */
export async function attestImage(input: AttestImageInput): Promise<{ attested: boolean }> {
  const hex = checkDigest(input.digest);
  const predicateType = predicateUri(input.predicateType);
  let predicate: unknown;
  try {
    predicate = JSON.parse(await readFile(input.predicateFile, 'utf8'));
  } catch (err) {
    fail(`predicate ${input.predicateFile} is not a readable JSON file on this worker: ${(err as Error).message}`, 'InvalidInput');
  }
  if (!predicate || typeof predicate !== 'object' || Array.isArray(predicate)) fail(`predicate ${input.predicateFile} is not a JSON object`, 'InvalidInput');
  const statement: Statement = {
    _type: STATEMENT_V1,
    subject: [{ name: input.repository, digest: { sha256: hex } }],
    predicateType,
    predicate,
  };
  const client = new RegistryClient(parseImageRef(input.repository));
  const mode = await signingMode();
  const sameType = (await attachedBundles(client, input.digest, mode.ours)).filter((a) => a.trusted && a.statement!.predicateType === predicateType);
  const want = canonical(statement);
  const same = input.sameWhen
    ? (a: (typeof sameType)[number]) => coversDigest(a.statement!, hex) && canonical(valueAt(a.statement!.predicate, input.sameWhen!)) === canonical(valueAt(predicate, input.sameWhen!))
    : (a: (typeof sameType)[number]) => canonical(a.statement) === want;
  if (sameType.some(same)) return { attested: false };
  await attach(client, input.repository, input.digest, mode, statement, sameType.map((a) => a.descriptor.digest));
  return { attested: true };
}

export interface VerifyImageInput {
  repository: string;
  digest: string;
  /** Attestations that must be present: predicate type URIs or cosign names. */
  predicateTypes: string[];
}

/**
 * kiln's own offline check of what signImage/attestImage attached, against the worker's public key
 * (kilnPaths().imageSigningPub): a signature, one valid attestation per requested type, and every
 * statement signed by the key must be about `digest` (one about another image, copied onto this
 * one, fails the check). Bundles by other keys are ignored, as cosign ignores them.
 */
export async function verifyImage(input: VerifyImageInput): Promise<{ signature: true; attestations: Record<string, true> }> {
  const hex = checkDigest(input.digest);
  if ((process.env.KILN_SIGNING ?? 'key') !== 'key') {
    fail('verifyImage checks key-signed images; keyless signatures are verified with cosign verify --certificate-identity against the Sigstore trust root', 'SigningMisconfigured');
  }
  const types = input.predicateTypes.map((t) => [t, predicateUri(t)] as const);
  const publicKey = createPublicKey(await readKeyFile(kilnPaths().imageSigningPub, 'image signing public key'));
  const client = new RegistryClient(parseImageRef(input.repository));
  const attached = await attachedBundles(client, input.digest, keyVerifier(publicKey));
  const ref = `${input.repository}@${input.digest}`;

  const problems: string[] = [];
  for (const a of attached) {
    if (a.trusted && !coversDigest(a.statement!, hex)) {
      const subjects = a.statement!.subject.map((s) => `sha256:${s.digest?.sha256 ?? '?'}`).join(', ');
      problems.push(`${a.statement!.predicateType} statement ${a.descriptor.digest} is about ${subjects}, not ${input.digest}`);
    }
  }
  const valid = (uri: string) => attached.some((a) => a.trusted && a.statement!.predicateType === uri && coversDigest(a.statement!, hex));
  const rejected = (uri: string) =>
    attached
      .filter((a) => !a.trusted && (a.statement?.predicateType ?? uri) === uri)
      .map((a) => `${a.descriptor.digest}: ${a.problem}`);
  const missing = (what: string, uri: string) => {
    const others = rejected(uri);
    problems.push(`no ${what} signed by key ${keyHint(publicKey)}${others.length ? ` (rejected ${others.join('; ')})` : ''}`);
  };
  if (!valid(SIGNATURE_PREDICATE)) missing('signature', SIGNATURE_PREDICATE);
  for (const [name, uri] of types) if (!valid(uri)) missing(`${name} attestation`, uri);
  if (problems.length) fail(`${ref} does not verify: ${problems.join('; ')}`, 'ImageVerificationFailed');
  return { signature: true, attestations: Object.fromEntries(types.map(([name]) => [name, true as const])) };
}
