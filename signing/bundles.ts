// Sigstore bundles on an image, stored the way cosign v3 stores them: each one a bundle v0.3 holding
// a DSSE-signed in-toto Statement, pushed as an OCI 1.1 referrer of the image (a manifest with
// `subject`). Registries without the referrers API (Debian's Distribution 2.8) get the referrers
// tag schema `sha256-<hex>`, as `cosign sign` v3 writes it there too.
// Why this format and only this one: it is cosign v3's default (the legacy `.sig`/`.att` tags are
// deprecated there), the bundle is exactly what @sigstore/sign builds and @sigstore/verify checks,
// and cosign v3 stops reading legacy tags once any bundle is attached, so mixing would hide one
// half. Note that `cosign verify` accepts any bundle by the key about the digest, attestations
// included; verifyImage insists on the signature statement (`sign/v1`).
import { ApplicationFailure } from '@temporalio/common';
import { bundleFromJSON, bundleToJSON, type Bundle } from '@sigstore/bundle';
import { sha256digest } from '../domain/digest.js';
import { failure } from '../domain/failures.js';
import { listReferrers, putReferrer, updateReferrersTag, type ReferrerDescriptor } from '../oci/referrers.js';
import type { RegistryClient } from '../oci/registry.js';
import { IN_TOTO, type Statement } from './statements.js';
import type { SigningMode } from './signer.js';

const BUNDLE_MEDIA_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const EMPTY_CONFIG = {
  mediaType: 'application/vnd.oci.empty.v1+json',
  digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a',
  size: 2,
};

/**
 * Whether a bundle was made by the signer kiln trusts (the key, or keyless the catalog's identity):
 * throws, saying why, if not. `expired` (keyless): it was, but its certificate has expired since.
 */
export type BundleCheck = (bundle: Bundle) => { expired?: string };

/** A Sigstore bundle attached to an image, with what kiln could make of it. */
export interface Attached {
  descriptor: ReferrerDescriptor;
  statement?: Statement;
  /** Made by the trusted signer (key, or keyless identity), valid now. */
  trusted: boolean;
  /** Made by the trusted signer, but its certificate has expired since: never counts, is replaced. */
  expired?: boolean;
  /** Why it is not usable, for error messages. */
  problem?: string;
}

/** Why a referrer is not a usable bundle; collected as a verdict, never thrown out of here. */
const unusable = (message: string) => failure('ImageVerificationFailed', message);

/**
 * Every bundle attached to `digest`, each judged by `ours`. Unreadable or foreign bundles are
 * listed as untrusted with the reason; only a registry outage (retryable) is thrown.
 */
export async function attachedBundles(client: RegistryClient, digest: string, ours: BundleCheck): Promise<Attached[]> {
  const { manifests } = await listReferrers(client, digest);
  const out: Attached[] = [];
  for (const descriptor of manifests) {
    if (descriptor.artifactType && !descriptor.artifactType.startsWith('application/vnd.dev.sigstore.bundle')) continue;
    const manifest = await client.getManifest(descriptor.digest);
    if (!manifest) continue; // listed in a stale tag index after a delete
    try {
      if (sha256digest(manifest.body) !== descriptor.digest) throw unusable('manifest does not match its digest');
      const layers =
        (JSON.parse(manifest.body.toString('utf8')) as { layers?: { mediaType: string; digest: string }[] }).layers ??
        [];
      // cosign accepts exactly one bundle layer per referrer.
      if (layers.length !== 1 || !layers[0]!.mediaType.startsWith('application/vnd.dev.sigstore.bundle')) continue;
      const bundle = bundleFromJSON(JSON.parse((await client.getBlob(layers[0]!.digest)).toString('utf8')));
      if (bundle.content.$case !== 'dsseEnvelope' || bundle.content.dsseEnvelope.payloadType !== IN_TOTO) {
        throw unusable('not a DSSE bundle of an in-toto statement');
      }
      const statement = JSON.parse(bundle.content.dsseEnvelope.payload.toString('utf8')) as Statement;
      if (!Array.isArray(statement.subject) || typeof statement.predicateType !== 'string')
        throw unusable('not an in-toto statement');
      let verdict: { expired?: string };
      try {
        verdict = ours(bundle);
      } catch (err) {
        out.push({ descriptor, statement, trusted: false, problem: (err as Error).message });
        continue;
      }
      out.push(
        verdict.expired
          ? { descriptor, statement, trusted: false, expired: true, problem: verdict.expired }
          : { descriptor, statement, trusted: true },
      );
    } catch (err) {
      if (err instanceof ApplicationFailure && !err.nonRetryable) throw err; // registry unavailable: retry
      out.push({ descriptor, trusted: false, problem: `unreadable: ${(err as Error).message}` });
    }
  }
  return out;
}

/**
 * Signs `statement` and attaches the bundle as a referrer of the image, taking `replace` (earlier
 * referrers) off the list in the same index update. Returns the new referrer manifest's digest.
 */
export async function attach(
  client: RegistryClient,
  repository: string,
  digest: string,
  mode: SigningMode,
  statement: Statement,
  replace: string[],
): Promise<string> {
  const image = await client.getManifest(digest);
  if (!image)
    throw failure(
      'RegistryRejected',
      `${repository}@${digest} is not in the registry; push the image before signing it`,
    );
  const bundle = await mode.builder.create({ data: Buffer.from(JSON.stringify(statement)), type: IN_TOTO });
  // @sigstore/sign copies the key hint into the DSSE keyid, and cosign v3.1.2 then finds no valid
  // signature ("accepted signatures do not match threshold, Found: 0"). cosign writes no keyid;
  // do the same. The keyid is outside the signed PAE; the hint stays in verificationMaterial.
  if (bundle.content.$case === 'dsseEnvelope') for (const sig of bundle.content.dsseEnvelope.signatures) sig.keyid = '';
  // A signature kiln would not count as its own is never attached: keyless, Fulcio certified the
  // OIDC token's identity, which must be the one catalog.yaml names.
  let verdict: { expired?: string };
  try {
    verdict = mode.ours(bundle);
  } catch (err) {
    throw failure(
      'SigningMisconfigured',
      `the new signature would not count as kiln's own (${mode.signer}): ${(err as Error).message}`,
    );
  }
  if (verdict.expired)
    throw failure('SigningMisconfigured', `the new signature is already invalid: ${verdict.expired}`);
  const bundleJson = Buffer.from(JSON.stringify(bundleToJSON(bundle)));
  const layer = { mediaType: BUNDLE_MEDIA_TYPE, digest: sha256digest(bundleJson), size: bundleJson.length };
  await client.putBlob(EMPTY_CONFIG.digest, Buffer.from('{}'));
  await client.putBlob(layer.digest, bundleJson);
  const annotations = {
    'dev.sigstore.bundle.content': 'dsse-envelope',
    'dev.sigstore.bundle.predicateType': statement.predicateType,
    'org.opencontainers.image.created': new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
  };
  const body = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: BUNDLE_MEDIA_TYPE,
      config: EMPTY_CONFIG,
      layers: [layer],
      subject: { mediaType: image.mediaType, digest, size: image.body.length },
      annotations,
    }),
  );
  const put = await putReferrer(client, OCI_MANIFEST, body);
  if (!put.indexed) {
    await updateReferrersTag(client, digest, {
      add: [
        {
          mediaType: OCI_MANIFEST,
          digest: put.digest,
          size: body.length,
          artifactType: BUNDLE_MEDIA_TYPE,
          annotations,
        },
      ],
      remove: replace,
    });
  }
  // Already off the tag index; deleting is what drops them from a registry's own referrers API.
  // Best effort: a registry with deletes disabled keeps an unlisted (or still listed) old bundle.
  for (const old of replace) await client.deleteManifest(old).catch(() => false);
  return put.digest;
}
