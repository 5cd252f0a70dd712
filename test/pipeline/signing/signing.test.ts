// Image signing against real parts: an apko image from the bootstrap repository, pushed to the
// test run's Distribution 2.8 registry (no referrers API), signed and attested by kiln, then
// verified offline by the real cosign v3.1.2 and by kiln's own verifier.
import { generateKeyPairSync } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { apkoBuild } from '../../../adapters/apko.js';
import { cosignVerify } from '../../../adapters/cosign.js';
import { configWith } from '../../../config/config.js';
import { RegistryClient, parseImageRef, pushLayout } from '../../../oci/registry.js';
import {
  listReferrers,
  putReferrer,
  referrersTag,
  updateReferrersTag,
  type ReferrerDescriptor,
} from '../../../oci/referrers.js';
import { PREDICATE_TYPES, SIGNATURE_PREDICATE } from '../../../signing/statements.js';
import { attestImage, signImage } from '../../../activities/image-sign.js';
import { verifyImage } from '../../../activities/image-verify.js';

// The run's shared registry and state (keys, bootstrap repository) from global-setup. Not through
// harness.ts, which loads the whole worker: these activities need none of it.
const env = inject('kilnEnv');
const config = configWith({ ...env });
const repository = `${env.KILN_REGISTRY}/kiln-test/signing-${process.pid}`;
const client = new RegistryClient(parseImageRef(repository), config.registryAuth);
let work: string;
let imageA: string;
let imageB: string;

/** Builds a one-package image with the real apko and pushes it by digest. */
async function buildAndPush(name: string): Promise<string> {
  const dir = join(work, name);
  await mkdir(join(dir, 'layout'), { recursive: true });
  await mkdir(join(dir, 'sbom'), { recursive: true });
  // The environment variable only makes the two images differ.
  await writeFile(
    join(dir, 'apko.yaml'),
    `contents:\n  packages: [busybox]\nentrypoint:\n  command: /bin/sh\nenvironment:\n  KILN_TEST_IMAGE: ${name}\narchs: [x86_64]\n`,
  );
  const { paths } = config;
  await apkoBuild(config.tools, {
    config: join(dir, 'apko.yaml'),
    tag: `${repository}:${name}`,
    layoutDir: join(dir, 'layout'),
    sbomDir: join(dir, 'sbom'),
    arch: 'x86_64',
    repositories: [paths.bootstrap],
    keyring: [paths.packageSigningPub],
    cacheDir: join(work, 'apko-cache'),
    logFile: join(dir, 'apko.log'),
  });
  return pushLayout(client, join(dir, 'layout'));
}

/** Real cosign, offline: the key, no Rekor (no TUF is fetched then), plain HTTP to the registry. */
function cosign(command: 'verify' | 'verify-attestation', digest: string, ...extra: string[]) {
  return cosignVerify(config.tools, {
    command,
    reference: `${repository}@${digest}`,
    key: config.paths.imageSigningPub,
    extra,
    allowHttpRegistry: true,
    home: work,
  });
}

/** The in-toto statements cosign verify-attestation printed. */
function statements(
  payloads: unknown[],
): { predicateType: string; subject: { digest: { sha256: string } }[]; predicate: Record<string, unknown> }[] {
  return payloads.map((p) => JSON.parse(Buffer.from((p as { payload: string }).payload, 'base64').toString('utf8')));
}

const predicateFiles = () => ({
  spdx: join(work, 'a', 'sbom', 'sbom-index.spdx.json'),
  vuln: join(work, 'vuln.json'),
  slsa: join(work, 'provenance.json'),
});

function vulnScan(dbVersion: string, ids: string[]) {
  return JSON.stringify({
    invocation: { parameters: null, uri: 'https://kiln.example/nightly', event_id: 'test', 'builder.id': 'kiln' },
    scanner: {
      uri: 'https://kiln.example/secdb-scan',
      version: '1',
      db: { uri: 'secdb', version: dbVersion },
      result: { matches: ids },
    },
    metadata: { scanStartedOn: '2026-01-01T00:00:00Z', scanFinishedOn: '2026-01-01T00:00:01Z' },
  });
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'kiln-signing-'));
  [imageA, imageB] = [await buildAndPush('a'), await buildAndPush('b')];
  await writeFile(predicateFiles().vuln, vulnScan('2026-01-01', ['CVE-2026-0001']));
  await writeFile(
    predicateFiles().slsa,
    JSON.stringify({
      buildDefinition: { buildType: 'https://kiln.example/apko-build/v1', externalParameters: { config: 'apko.yaml' } },
      runDetails: { builder: { id: 'https://kiln.example/worker' } },
    }),
  );
});
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('signImage and attestImage', () => {
  it('write what the real cosign verifies offline', async () => {
    const signed = await signImage(config, { repository, digest: imageA, annotations: { 'dev.kiln/catalog': 'test' } });
    expect(signed.signed).toBe(true);
    expect(signed.reference).toMatch(new RegExp(`^${repository}@sha256:[0-9a-f]{64}$`));
    const files = predicateFiles();
    // At once, as a workflow may run them: all three must land in the one referrers index.
    expect(
      await Promise.all([
        attestImage(config, {
          repository,
          digest: imageA,
          predicateType: PREDICATE_TYPES.spdxjson,
          predicateFile: files.spdx,
        }),
        attestImage(config, { repository, digest: imageA, predicateType: 'vuln', predicateFile: files.vuln }),
        attestImage(config, {
          repository,
          digest: imageA,
          predicateType: PREDICATE_TYPES.slsaprovenance1,
          predicateFile: files.slsa,
        }),
      ]),
    ).toEqual([{ attested: true }, { attested: true }, { attested: true }]);

    const [sig, spdx, vuln, slsa] = await Promise.all([
      cosign('verify', imageA, '-a', 'dev.kiln/catalog=test'),
      cosign('verify-attestation', imageA, '--type', 'spdxjson'),
      cosign('verify-attestation', imageA, '--type', 'vuln'),
      cosign('verify-attestation', imageA, '--type', 'slsaprovenance1'),
    ]);
    expect(sig.ok, sig.stderr).toBe(true);
    expect(sig.payloads).toEqual([
      expect.objectContaining({
        critical: expect.objectContaining({ image: { 'docker-manifest-digest': imageA }, type: SIGNATURE_PREDICATE }),
        optional: { 'dev.kiln/catalog': 'test' },
      }),
    ]);
    for (const [result, type] of [
      [spdx, PREDICATE_TYPES.spdxjson],
      [vuln, PREDICATE_TYPES.vuln],
      [slsa, PREDICATE_TYPES.slsaprovenance1],
    ] as const) {
      expect(result.ok, result.stderr).toBe(true);
      const [statement, ...more] = statements(result.payloads);
      expect(more).toEqual([]);
      expect(statement!.predicateType).toBe(type);
      expect(statement!.subject.map((s) => `sha256:${s.digest.sha256}`)).toEqual([imageA]);
    }
    // The SBOM attested is apko's own document for this image index.
    expect(statements(spdx.payloads)[0]!.predicate.name).toBe(`sbom-${imageA}`);
  });

  it('add nothing when run again', async () => {
    const before = await listReferrers(client, imageA);
    expect(before.source).toBe('tag'); // Distribution 2.8: no referrers API
    expect(before.manifests).toHaveLength(4);
    const first = before.manifests.find(
      (m) => m.annotations?.['dev.sigstore.bundle.predicateType'] === SIGNATURE_PREDICATE,
    )!;
    expect(
      await signImage(config, { repository, digest: imageA, annotations: { 'dev.kiln/catalog': 'test' } }),
    ).toEqual({ signed: false, reference: `${repository}@${first.digest}` });
    const files = predicateFiles();
    expect(
      await attestImage(config, { repository, digest: imageA, predicateType: 'spdxjson', predicateFile: files.spdx }),
    ).toEqual({ attested: false });
    expect(
      await attestImage(config, {
        repository,
        digest: imageA,
        predicateType: PREDICATE_TYPES.vuln,
        predicateFile: files.vuln,
      }),
    ).toEqual({ attested: false });
    expect(
      await attestImage(config, {
        repository,
        digest: imageA,
        predicateType: 'slsaprovenance1',
        predicateFile: files.slsa,
      }),
    ).toEqual({ attested: false });
    expect((await listReferrers(client, imageA)).manifests.map((m) => m.digest)).toEqual(
      before.manifests.map((m) => m.digest),
    );
    // One storage format: only the referrers index tag, no legacy .sig/.att tags.
    expect(await client.listTags()).toEqual([referrersTag(imageA)]);
  });

  it('pass kiln verifyImage', async () => {
    expect(
      await verifyImage(config, { repository, digest: imageA, predicateTypes: Object.values(PREDICATE_TYPES) }),
    ).toEqual({
      signature: true,
      attestations: Object.fromEntries(Object.values(PREDICATE_TYPES).map((t) => [t, true])),
    });
    await expect(verifyImage(config, { repository, digest: imageB, predicateTypes: [] })).rejects.toMatchObject({
      nonRetryable: true,
      type: 'ImageVerificationFailed',
      message: expect.stringMatching(/no signature signed by key/),
    });
  });

  it('replace a vulnerability scan when its predicate changes', async () => {
    const isVuln = (m: ReferrerDescriptor) =>
      m.annotations?.['dev.sigstore.bundle.predicateType'] === PREDICATE_TYPES.vuln;
    const earlier = (await listReferrers(client, imageA)).manifests.find(isVuln)!;
    await writeFile(predicateFiles().vuln, vulnScan('2026-01-02', ['CVE-2026-0001', 'CVE-2026-0002']));
    expect(
      await attestImage(config, {
        repository,
        digest: imageA,
        predicateType: 'vuln',
        predicateFile: predicateFiles().vuln,
      }),
    ).toEqual({ attested: true });
    const listed = (await listReferrers(client, imageA)).manifests;
    // Replaced, not added: off the referrers index and deleted from the registry.
    expect(listed.find(isVuln)!.digest).not.toBe(earlier.digest);
    expect(await client.getManifest(earlier.digest)).toBeUndefined();
    expect(listed.map((m) => m.annotations?.['dev.sigstore.bundle.predicateType']).sort()).toEqual(
      [SIGNATURE_PREDICATE, ...Object.values(PREDICATE_TYPES)].sort(),
    );
    const vuln = await cosign('verify-attestation', imageA, '--type', 'vuln');
    expect(vuln.ok, vuln.stderr).toBe(true);
    expect(statements(vuln.payloads).map((s) => s.predicate.scanner)).toEqual([
      expect.objectContaining({
        db: { uri: 'secdb', version: '2026-01-02' },
        result: { matches: ['CVE-2026-0001', 'CVE-2026-0002'] },
      }),
    ]);
    await verifyImage(config, { repository, digest: imageA, predicateTypes: ['vuln'] });
  });

  it('reject bad input without retrying', async () => {
    await expect(
      attestImage(config, {
        repository,
        digest: imageA,
        predicateType: 'https://openvex.dev/ns',
        predicateFile: predicateFiles().vuln,
      }),
    ).rejects.toMatchObject({ nonRetryable: true, type: 'InvalidInput' });
    await expect(
      attestImage(config, {
        repository,
        digest: imageA,
        predicateType: 'vuln',
        predicateFile: join(work, 'missing.json'),
      }),
    ).rejects.toMatchObject({ nonRetryable: true, type: 'InvalidInput' });
    await expect(signImage(config, { repository, digest: 'sha256:abc' })).rejects.toMatchObject({
      nonRetryable: true,
      type: 'InvalidInput',
    });
    // Keyless signing needs Fulcio, Rekor and an OIDC token (not reachable here): only its configuration check runs.
    const keyless = configWith({ ...env, KILN_SIGNING: 'keyless' });
    await expect(signImage(keyless, { repository, digest: imageA })).rejects.toMatchObject({
      nonRetryable: true,
      type: 'SigningMisconfigured',
      message: expect.stringContaining('KILN_FULCIO_URL'),
    });
  });
});

describe('verifyImage', () => {
  it('fails when the only signature was made by another key, and signImage still signs', async () => {
    const other = join(work, 'other.key');
    await writeFile(
      other,
      generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }),
      { mode: 0o600 },
    );
    const otherKey = configWith({ ...env, KILN_IMAGE_SIGNING_KEY: other });
    expect((await signImage(otherKey, { repository, digest: imageB })).signed).toBe(true);
    await expect(verifyImage(config, { repository, digest: imageB, predicateTypes: [] })).rejects.toMatchObject({
      nonRetryable: true,
      message: expect.stringMatching(
        /no signature signed by key .*rejected sha256:[0-9a-f]{64}: signed by another key/,
      ),
    });
    const foreign = await cosign('verify', imageB);
    expect(foreign.ok).toBe(false);
    expect(foreign.stderr).toMatch(/accepted signatures do not match threshold, Found: 0/);

    // A signature by someone else does not count as kiln's own.
    expect((await signImage(config, { repository, digest: imageB })).signed).toBe(true);
    expect(await verifyImage(config, { repository, digest: imageB, predicateTypes: [] })).toEqual({
      signature: true,
      attestations: {},
    });
    expect((await cosign('verify', imageB)).ok).toBe(true);
  });

  it('fails when an attestation is about another digest', async () => {
    // Replay: image A's (validly signed) scan attached to image B as a referrer of B.
    const fromA = (await listReferrers(client, imageA)).manifests.find(
      (m) => m.annotations?.['dev.sigstore.bundle.predicateType'] === PREDICATE_TYPES.vuln,
    )!;
    const manifest = JSON.parse((await client.getManifest(fromA.digest))!.body.toString('utf8')) as { subject: object };
    const image = (await client.getManifest(imageB))!;
    manifest.subject = { mediaType: image.mediaType, digest: imageB, size: image.body.length };
    const body = Buffer.from(JSON.stringify(manifest));
    const put = await putReferrer(client, fromA.mediaType, body);
    await updateReferrersTag(client, imageB, { add: [{ ...fromA, digest: put.digest, size: body.length }] });

    await expect(verifyImage(config, { repository, digest: imageB, predicateTypes: ['vuln'] })).rejects.toMatchObject({
      nonRetryable: true,
      type: 'ImageVerificationFailed',
      message: expect.stringContaining(`is about ${imageA}, not ${imageB}`),
    });
    const replay = await cosign('verify-attestation', imageB, '--type', 'vuln');
    // cosign drops statements about other digests, so no vuln attestation is left for B.
    expect(replay.ok).toBe(false);
    expect(replay.stderr).toMatch(/none of the attestations matched the predicate type: vuln/);
  });
});
