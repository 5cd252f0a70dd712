// Keyless signing without Fulcio: a test CA made here (openssl) issues Fulcio-shaped certificates,
// a test Signer signs with them, and kiln's own code attaches the bundles to images in the run's
// registry. Then kiln's verifier (KILN_FULCIO_CA and catalog.yaml's `signing:` policy) and the real
// cosign v3.1.2 judge them offline: no Rekor entry, no SCT.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { bundleFromJSON } from '@sigstore/bundle';
import { DSSEBundleBuilder } from '@sigstore/sign';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cosignTrustedRoot, cosignVerify, type CosignIdentity } from '../../../adapters/cosign.js';
import { attestImage, signImage } from '../../../activities/image-sign.js';
import { verifyImage } from '../../../activities/image-verify.js';
import { REPO_ROOT, configWith, type KilnConfig } from '../../../config/config.js';
import type { CatalogProblem, SigningPolicy } from '../../../domain/catalog.js';
import { FileCheck } from '../../../domain/catalog-rules.js';
import { validateSettings } from '../../../domain/catalog-settings.js';
import { sha256digest } from '../../../domain/digest.js';
import { describePolicy } from '../../../domain/signing-policy.js';
import { loadCatalog } from '../../../io/catalog-loader.js';
import { writeSnapshot } from '../../../io/catalog-snapshot.js';
import { listReferrers } from '../../../oci/referrers.js';
import { RegistryClient, parseImageRef } from '../../../oci/registry.js';
import { attestDigest, signDigest } from '../../../signing/image-signing.js';
import { verifyDigest } from '../../../signing/image-verification.js';
import { identityVerifier, trustedCertificates } from '../../../signing/keyless-verifier.js';
import type { SigningMode } from '../../../signing/signer.js';
import { PREDICATE_TYPES, SIGNATURE_PREDICATE } from '../../../signing/statements.js';
import { CertificateSigner, makeCa, type Leaf, type LeafOptions, type TestCa } from './test-ca.js';

const env = inject('kilnEnv');
const keyConfig = configWith({ ...env });
const repository = `${env.KILN_REGISTRY}/kiln-test/keyless-${process.pid}`;
const client = new RegistryClient(parseImageRef(repository), keyConfig.registryAuth);
// What test/fixtures/keyless/catalog.yaml names.
const IDENTITY = 'https://ci.kiln.test/catalog/.github/workflows/nightly.yml@refs/heads/main';
const ISSUER = 'https://token.kiln.test';
const VULN = { scanner: { uri: 'https://kiln.example/secdb-scan', result: { matches: [] } } };

let work: string;
let ca: TestCa;
let otherCa: TestCa;
let policy: SigningPolicy;
let snapshotDir: string;
let keyless: KilnConfig;
let good: Leaf;
let vulnFile: string;

/** A one-layer OCI image pushed by digest; `name` makes each image different. */
async function pushImage(name: string): Promise<string> {
  const tar = Buffer.alloc(1024);
  const layer = gzipSync(tar);
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Labels: { 'dev.kiln.test': name } },
      rootfs: { type: 'layers', diff_ids: [sha256digest(tar)] },
    }),
  );
  await client.putBlob(sha256digest(layer), layer);
  await client.putBlob(sha256digest(config), config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: sha256digest(config),
        size: config.length,
      },
      layers: [
        { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256digest(layer), size: layer.length },
      ],
    }),
  );
  const digest = sha256digest(manifest);
  await client.putManifest(digest, 'application/vnd.oci.image.manifest.v1+json', manifest);
  return digest;
}

const leafFor = (from: TestCa, options: Partial<LeafOptions> = {}) =>
  from.leaf({ san: `URI:${IDENTITY}`, issuer: ISSUER, ...options });

/** kiln's signing with the test Signer; `ours` is kiln's keyless check under the test CA. */
function modeFor(leaf: Leaf, clock?: () => Date): SigningMode {
  return {
    builder: new DSSEBundleBuilder({ signer: new CertificateSigner(leaf), witnesses: [] }),
    ours: identityVerifier(policy, trustedCertificates(ca.chainPem, ca.chainFile), clock),
    signer: describePolicy(policy),
  };
}

/** Someone else signing through the same code: they count their own bundles as theirs. */
const foreignMode = (leaf: Leaf): SigningMode => ({
  builder: new DSSEBundleBuilder({ signer: new CertificateSigner(leaf), witnesses: [] }),
  ours: () => ({}),
  signer: 'someone else',
});

const verifyKeyless = (digest: string, predicateTypes: string[] = []) =>
  verifyImage(keyless, { repository, digest, predicateTypes, snapshotDir });

function cosign(digest: string, identity: Partial<CosignIdentity>, ...extra: string[]) {
  return cosignVerify(keyConfig.tools, {
    command: extra.includes('--type') ? 'verify-attestation' : 'verify',
    reference: `${repository}@${digest}`,
    keyless: { identity: IDENTITY, issuer: ISSUER, ...identity },
    extra,
    allowHttpRegistry: true,
    home: work,
  });
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'kiln-keyless-'));
  [ca, otherCa] = [await makeCa(work, 'kiln'), await makeCa(work, 'other')];
  good = await leafFor(ca);
  // The policy comes from catalog.yaml through validation and a run's snapshot, as in a run.
  const catalog = await loadCatalog(join(REPO_ROOT, 'test', 'fixtures', 'keyless'), { env: keyConfig.catalogEnv });
  policy = catalog.settings.signing!;
  snapshotDir = join(work, 'snapshot');
  await mkdir(snapshotDir);
  await writeSnapshot(snapshotDir, catalog);
  keyless = configWith({ ...env, KILN_SIGNING: 'keyless', KILN_FULCIO_CA: ca.chainFile });
  vulnFile = join(work, 'vuln.json');
  await writeFile(vulnFile, JSON.stringify(VULN));
});
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe("catalog.yaml's signing policy", () => {
  const settings = (signing: unknown) => {
    const problems: CatalogProblem[] = [];
    const doc = { registry: '127.0.0.1:5000/kiln', packageRepository: '/tmp/repo', signing };
    const parsed = validateSettings(doc, '/tmp', {}, new FileCheck('catalog.yaml', problems));
    return { signing: parsed.signing, problems };
  };

  it('is read from the fixture catalog', () => {
    expect(policy).toEqual({ identity: IDENTITY, issuer: ISSUER });
  });

  it('names the file, the field and the fix for every mistake', () => {
    const cases: [unknown, string, RegExp][] = [
      ['ci', 'signing', /must be a mapping/],
      [{ identity: IDENTITY }, 'signing.issuer', /missing/],
      [{ issuer: ISSUER }, 'signing.identity', /missing/],
      [{ identity: IDENTITY, identityRegexp: '^x$', issuer: ISSUER }, 'signing.identityRegexp', /together/],
      [{ identityRegexp: 'ci\\.kiln\\.test', issuer: ISSUER }, 'signing.identityRegexp', /not anchored/],
      [{ identityRegexp: '^(ci$', issuer: ISSUER }, 'signing.identityRegexp', /not a regular expression/],
      [{ identity: '${CI_IDENTITY}', issuer: ISSUER }, 'signing.identity', /not expanded from the environment/],
      [{ identity: IDENTITY, issuer: 'token.kiln.test' }, 'signing.issuer', /not an OIDC issuer URL/],
      [{ identity: IDENTITY, issuer: ISSUER, subject: 'x' }, 'signing.subject', /unknown key/],
    ];
    for (const [signing, field, message] of cases) {
      const { signing: parsed, problems } = settings(signing);
      expect(parsed, JSON.stringify(signing)).toBeUndefined();
      expect(problems, JSON.stringify(signing)).toContainEqual({
        file: 'catalog.yaml',
        field,
        message: expect.stringMatching(message),
        fix: expect.any(String),
      });
    }
    const regexp = { identityRegexp: '^https://ci\\.kiln\\.test/catalog/.*$', issuer: ISSUER };
    expect(settings(regexp)).toEqual({ signing: regexp, problems: [] });
  });
});

describe('keyless signatures from a test CA', () => {
  let imageA: string;

  it("are attached by kiln's code and accepted by kiln's verifier", async () => {
    imageA = await pushImage('a');
    const mode = modeFor(good);
    const sign = () => signDigest(client, mode, { repository, digest: imageA, annotations: { 'dev.kiln/image': 'a' } });
    const attest = () =>
      attestDigest(client, mode, { repository, digest: imageA, predicateType: PREDICATE_TYPES.vuln, predicate: VULN });
    expect((await sign()).signed).toBe(true);
    expect(await attest()).toEqual({ attested: true });
    // Idempotent: kiln's own valid bundles count as already there.
    expect((await sign()).signed).toBe(false);
    expect(await attest()).toEqual({ attested: false });
    expect(await verifyKeyless(imageA, ['vuln'])).toEqual({ signature: true, attestations: { vuln: true } });

    // What was stored: a v0.3 bundle with the leaf certificate, no Rekor entry.
    const { manifests } = await listReferrers(client, imageA);
    expect(manifests).toHaveLength(2);
    const manifest = JSON.parse((await client.getManifest(manifests[0]!.digest))!.body.toString()) as {
      layers: { digest: string }[];
    };
    const bundle = bundleFromJSON(JSON.parse((await client.getBlob(manifest.layers[0]!.digest)).toString()));
    expect(bundle.mediaType).toBe('application/vnd.dev.sigstore.bundle.v0.3+json');
    expect(bundle.verificationMaterial.content.$case).toBe('certificate');
    expect(bundle.verificationMaterial.tlogEntries).toEqual([]);

    // The worker's key does not make them kiln's in key mode, and vice versa below.
    await expect(verifyImage(keyConfig, { repository, digest: imageA, predicateTypes: [] })).rejects.toMatchObject({
      type: 'ImageVerificationFailed',
      message: expect.stringMatching(/no signature signed by key .*signed keylessly, not by key/),
    });
  });

  it('say why keyless verification cannot run without its policy or CA', async () => {
    await expect(verifyImage(keyless, { repository, digest: imageA, predicateTypes: [] })).rejects.toMatchObject({
      nonRetryable: true,
      type: 'SigningMisconfigured',
      message: expect.stringContaining("catalog.yaml's signing policy"),
    });
    const noCa = configWith({ ...env, KILN_SIGNING: 'keyless' });
    await expect(
      verifyImage(noCa, { repository, digest: imageA, predicateTypes: [], snapshotDir }),
    ).rejects.toMatchObject({
      nonRetryable: true,
      type: 'SigningMisconfigured',
      message: expect.stringContaining('KILN_FULCIO_CA'),
    });
    const notPem = configWith({
      ...env,
      KILN_SIGNING: 'keyless',
      KILN_FULCIO_CA: join(snapshotDir, '.kiln-catalog.json'),
    });
    await expect(
      verifyImage(notPem, { repository, digest: imageA, predicateTypes: [], snapshotDir }),
    ).rejects.toMatchObject({
      type: 'SigningMisconfigured',
      message: expect.stringContaining('holds no PEM certificate'),
    });
  });

  it('count only for the identity, issuer and CA of the policy', async () => {
    const cases: [string, Leaf, RegExp][] = [
      [
        'identity',
        await leafFor(ca, { san: 'URI:https://ci.kiln.test/fork/.github/workflows/nightly.yml@refs/heads/main' }),
        /certificate identity https:\/\/ci\.kiln\.test\/fork\/\S+ is not https:\/\/ci\.kiln\.test\/catalog\//,
      ],
      ['email', await leafFor(ca, { san: 'email:dev@kiln.test' }), /certificate identity dev@kiln\.test is not /],
      [
        'issuer',
        await leafFor(ca, { issuer: 'https://accounts.kiln.test' }),
        /certificate issuer https:\/\/accounts\.kiln\.test is not https:\/\/token\.kiln\.test/,
      ],
      ['ca', await leafFor(otherCa), /was not issued by a CA in KILN_FULCIO_CA/],
    ];
    for (const [name, leaf, why] of cases) {
      const digest = await pushImage(name);
      // kiln itself never attaches a signature it would not count as its own...
      await expect(signDigest(client, modeFor(leaf), { repository, digest })).rejects.toMatchObject({
        nonRetryable: true,
        type: 'SigningMisconfigured',
        message: expect.stringMatching(/would not count as kiln's own/),
      });
      // ...someone else may; their bundle is rejected, saying why.
      expect((await signDigest(client, foreignMode(leaf), { repository, digest })).signed).toBe(true);
      const rejected = await verifyKeyless(digest).catch((err: Error) => err);
      expect(rejected, name).toMatchObject({ type: 'ImageVerificationFailed', nonRetryable: true });
      expect((rejected as Error).message, name).toContain(`no signature signed by ${describePolicy(policy)}`);
      expect((rejected as Error).message, name).toMatch(why);
      if (name === 'ca') continue; // stays signed by the other CA only, for cosign below
      // It is not kiln's, so kiln signs; then the image verifies.
      expect((await signDigest(client, modeFor(good), { repository, digest })).signed, name).toBe(true);
      await verifyKeyless(digest);
    }

    // A bundle by the worker's key is not a keyless signature.
    const keySigned = await pushImage('key');
    await signImage(keyConfig, { repository, digest: keySigned });
    await expect(verifyKeyless(keySigned)).rejects.toMatchObject({
      message: expect.stringContaining('signed with a key, not with a keyless certificate'),
    });
    // attestImage in key mode replaces only the key's attestations, never a keyless one.
    expect(
      await attestImage(keyConfig, {
        repository,
        digest: imageA,
        predicateType: 'vuln',
        predicateFile: vulnFile,
      }),
    ).toEqual({ attested: true });
    await verifyKeyless(imageA, ['vuln']);
  });

  it('read the issuer from either Fulcio extension', async () => {
    for (const options of [{ v1Only: true }, { v2Only: true }]) {
      const digest = await pushImage(JSON.stringify(options));
      expect((await signDigest(client, modeFor(await leafFor(ca, options)), { repository, digest })).signed).toBe(true);
      await verifyKeyless(digest);
    }
  });

  it('stop counting when the certificate expires, and are replaced', async () => {
    const digest = await pushImage('expiring');
    const now = modeFor(await leafFor(ca, { days: 1 }));
    await signDigest(client, now, { repository, digest });
    await attestDigest(client, now, { repository, digest, predicateType: PREDICATE_TYPES.vuln, predicate: VULN });
    const before = (await listReferrers(client, digest)).manifests.map((m) => m.digest);

    // Three days later: the leaf (one day) has expired, the CAs (30 days) have not.
    const later = () => new Date(Date.now() + 3 * 86_400_000);
    const trustLater = {
      ours: identityVerifier(policy, trustedCertificates(ca.chainPem, ca.chainFile), later),
      signer: 'kiln',
    };
    await expect(
      verifyDigest(client, trustLater, { repository, digest, predicateTypes: ['vuln'] }),
    ).rejects.toMatchObject({
      message: expect.stringMatching(
        /no signature signed by kiln \(rejected sha256:[0-9a-f]{64}: the certificate of \S+ expired at /,
      ),
    });
    const fresh = modeFor(await leafFor(ca, { days: 10 }), later);
    expect((await signDigest(client, fresh, { repository, digest })).signed).toBe(true);
    expect(
      await attestDigest(client, fresh, { repository, digest, predicateType: PREDICATE_TYPES.vuln, predicate: VULN }),
    ).toEqual({ attested: true });
    const after = (await listReferrers(client, digest)).manifests;
    expect(after).toHaveLength(2);
    expect(after.map((m) => m.digest).filter((d) => before.includes(d))).toEqual([]);
    expect(await verifyDigest(client, trustLater, { repository, digest, predicateTypes: ['vuln'] })).toMatchObject({
      signature: true,
    });
  });

  it('verify with the real cosign against a trusted root holding the test CA', async () => {
    // The flags a deployer would try first. cosign v3 reads the OCI bundle format and refuses them.
    const chain = await cosign(imageA, { certificateChain: ca.chainFile }, '-a', 'dev.kiln/image=a');
    expect(chain.ok).toBe(false);
    expect(chain.stderr).toMatch(
      /unsupported: certificate chain must be in bundle and may not be provided using --certificate-chain when using --new-bundle-format/,
    );
    // Switching the bundle format off makes cosign look for legacy `.sig` signatures, of which kiln writes none.
    const legacy = await cosign(imageA, { certificateChain: ca.chainFile }, '--new-bundle-format=false');
    expect(legacy.ok).toBe(false);
    expect(legacy.stderr).toMatch(/Error: no signatures found/);

    // cosign's own way for a private Fulcio: a trusted root made from the same PEM chain.
    const trustedRoot = join(work, 'trusted-root.json');
    const created = await cosignTrustedRoot(keyConfig.tools, {
      certificateChain: ca.chainFile,
      fulcioUrl: 'https://fulcio.kiln.test',
      out: trustedRoot,
      home: work,
    });
    expect(created.ok, created.stderr).toBe(true);
    const sig = await cosign(imageA, { trustedRoot }, '-a', 'dev.kiln/image=a');
    expect(sig.ok, sig.stderr).toBe(true);
    expect(sig.payloads).toEqual([
      expect.objectContaining({
        critical: expect.objectContaining({ image: { 'docker-manifest-digest': imageA }, type: SIGNATURE_PREDICATE }),
        optional: { 'dev.kiln/image': 'a' },
      }),
    ]);
    const att = await cosign(imageA, { trustedRoot }, '--type', 'vuln');
    expect(att.ok, att.stderr).toBe(true);

    // The same identity policy as kiln's: another identity or issuer, or another CA, fails.
    const otherIdentity = await cosign(imageA, { trustedRoot, identity: `${IDENTITY}x` });
    expect(otherIdentity.ok).toBe(false);
    expect(otherIdentity.stderr).toMatch(/expected SAN value "\S+mainx", got "\S+main"/);
    const otherIssuer = await cosign(imageA, { trustedRoot, issuer: 'https://accounts.kiln.test' });
    expect(otherIssuer.ok).toBe(false);
    expect(otherIssuer.stderr).toMatch(
      /expected issuer value "https:\/\/accounts\.kiln\.test", got "https:\/\/token\.kiln\.test"/,
    );
    const foreign = await pushImage('cosign-foreign');
    await signDigest(client, foreignMode(await leafFor(otherCa)), { repository, digest: foreign });
    const otherCaVerdict = await cosign(foreign, { trustedRoot });
    expect(otherCaVerdict.ok).toBe(false);
    expect(otherCaVerdict.stderr).toMatch(/failed to verify leaf certificate/);
  });
});
