// What stops an image from being published, end to end through catalogRebuild on a real worker:
// a failing functional test, a CVE over the policy's threshold, a package tampered with in the
// repository; and that re-running an unchanged image adds nothing to what it carries. Real
// Temporal, melange, apko, bubblewrap, registry and cosign; the registry is read over plain HTTP.
import { createHash } from 'node:crypto';
import { cp, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { catalogRebuild } from '../../../workflows/catalog-rebuild.js';
import { formatSummary, type RebuildSummary } from '../../../domain/summary.js';
import { splitGzipMembers } from '../../../apk/writer.js';
import { SIGNATURE_PREDICATE, PREDICATE_TYPES } from '../../../signing/statements.js';
import { cosignVerify } from '../../../adapters/cosign.js';
import {
  installedPackages,
  kilnTestConfig,
  kilnTestEnv,
  registryGet,
  useTemporal,
  rebuildSummary,
} from '../harness.js';
import { FIXTURES } from '../../fixtures/paths.js';
import {
  activityRuns as activityRunsOf,
  assembled,
  image,
  referrersOf as referrersIn,
  tagged as taggedIn,
} from './image-registry.js';

const env = kilnTestEnv();
const temporal = useTemporal(env);

async function copyFixture(name: string): Promise<string> {
  // Under the test state directory, which global teardown removes.
  const dir = await mkdtemp(join(env.KILN_STATE, `catalog-${name}-`));
  await cp(join(FIXTURES, name), dir, { recursive: true });
  return dir;
}

/** A production run: the worker's configured catalog (KILN_CATALOG) is this one. */
async function rebuild(catalogDir: string, workflowId: string): Promise<RebuildSummary> {
  const worker = await temporal().worker('imgpipe', kilnTestConfig(env, { KILN_CATALOG: catalogDir }));
  return rebuildSummary(
    await worker.runUntil(
      temporal().client.workflow.execute(catalogRebuild, { taskQueue: 'imgpipe', workflowId, args: [{ catalogDir }] }),
    ),
  );
}

async function edit(catalogDir: string, file: string, from: string | RegExp, to: string): Promise<void> {
  const path = join(catalogDir, file);
  const text = await readFile(path, 'utf8');
  const next = text.replace(from, to);
  expect(next, `${file} should contain ${String(from)}`).not.toBe(text);
  await writeFile(path, next);
}

/** The digest a tag resolves to in the registry, or undefined when there is no such tag. */
const tagged = (name: string, tag: string) => taggedIn(env, `imgpipe/${name}`, tag);
const referrersOf = (name: string, digest: string) => referrersIn(env, `imgpipe/${name}`, digest);
const activityRuns = (workflowId: string) => activityRunsOf(temporal().client, workflowId);
/** The digest assembleImage produced in an image's child workflow (also when a later stage failed). */
const assembledDigest = async (runId: string, name: string) => (await assembled(temporal().client, runId, name)).digest;

describe('a catalog whose images change between two runs', () => {
  const stamp = Date.now();
  const firstId = `imgpipe-first-${stamp}`;
  const secondId = `imgpipe-second-${stamp}`;
  let catalogDir: string;
  let first: RebuildSummary;
  let second: RebuildSummary;
  // What a person would note from the registry after the first run.
  let gateLatest: string | undefined;
  let stableReferrers: { digest: string; predicateType: string }[];
  let stablePlatformReferrers: { digest: string; predicateType: string }[];
  const apkRepo = () => join(env.KILN_STATE, 'repo-imgpipe', 'x86_64');
  let indexBefore: Buffer;

  beforeAll(async () => {
    catalogDir = await copyFixture('imgpipe-main');
    first = await rebuild(catalogDir, firstId);

    gateLatest = await tagged('imgpipe-gate', 'latest');
    const stable = image(first, 'imgpipe-stable');
    stableReferrers = await referrersOf('imgpipe-stable', stable.digest!);
    const stableIndex = JSON.parse(
      (await registryGet(env, `imgpipe/imgpipe-stable/manifests/${stable.digest}`)).body.toString(),
    ) as { manifests: { digest: string }[] };
    stablePlatformReferrers = await referrersOf('imgpipe-stable', stableIndex.manifests[0]!.digest);

    // The gated image changes (new env, so a new digest) and gains a test it fails.
    await edit(catalogDir, 'images/imgpipe-gate/apko.yaml', 'GATE_RELEASE: "1"', 'GATE_RELEASE: "2"');
    await edit(
      catalogDir,
      'images/imgpipe-gate/image.yaml',
      /\n$/,
      '\n  - { name: ships-changelog, command: [/bin/cat, /usr/share/doc/imgpipe-gate/CHANGELOG] }\n',
    );

    // Someone swaps the payload of the published package in the repository, leaving the signed
    // APKINDEX (and the signed control member) alone; then a new image installs it.
    indexBefore = await readFile(join(apkRepo(), 'APKINDEX.tar.gz'));
    await tamperWithData(
      join(apkRepo(), 'imgpipe-data-1.0.0-r0.apk'),
      'the bytes the repository signed',
      'the bytes an attacker swapped!!',
    );
    await cp(join(catalogDir, 'images', 'imgpipe-stable'), join(catalogDir, 'images', 'imgpipe-tampered'), {
      recursive: true,
    });
    await edit(
      catalogDir,
      'images/imgpipe-tampered/apko.yaml',
      'packages: [busybox]',
      'packages: [busybox, imgpipe-data]',
    );

    second = await rebuild(catalogDir, secondId);
  });

  it('publishes everything on the first run', () => {
    expect(first.ok, formatSummary(first)).toBe(true);
    expect(first.packages.map((p) => [p.name, p.status])).toEqual([['imgpipe-data', 'built']]);
    expect(first.images.map((i) => [i.name, i.status])).toEqual([
      ['imgpipe-gate', 'published'],
      ['imgpipe-stable', 'published'],
    ]);
    expect(gateLatest).toBe(image(first, 'imgpipe-gate').digest);
  });

  it('says plainly that nothing was scanned: the catalog configures no vulnerability feed', () => {
    for (const i of first.images) expect(i.scanned, i.name).toBe(false);
    const rows = formatSummary(first)
      .split('\n')
      .filter((l) => /^ {2}imgpipe-(gate|stable) /.test(l));
    expect(rows).toHaveLength(2);
    for (const row of rows) expect(row).toMatch(/^ {2}imgpipe-\S+ +published +\S+ +not scanned +/);
  });

  describe('a failing functional test', () => {
    it('fails the image, naming the test that failed', () => {
      const gate = image(second, 'imgpipe-gate');
      expect(gate.status).toBe('failed');
      expect(gate.error).toMatch(/image imgpipe-gate failed 1 check, so it is not published/);
      expect(gate.error).toContain('test "ships-changelog": expected exit code 0, got 1');
      expect(gate.error).not.toContain('test "release"');
      expect(second.ok).toBe(false);
    });

    it('leaves every tag on the image published before', async () => {
      expect(await tagged('imgpipe-gate', 'latest')).toBe(gateLatest);
      expect(await tagged('imgpipe-gate', '1')).toBe(gateLatest);
    });

    it('never pushes the image that failed (the push comes after the tests)', async () => {
      const rejected = await assembledDigest(secondId, 'imgpipe-gate');
      expect(rejected).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(rejected).not.toBe(gateLatest);
      expect((await registryGet(env, `imgpipe/imgpipe-gate/manifests/${rejected}`)).status).toBe(404);
      expect((await registryGet(env, `imgpipe/imgpipe-gate/manifests/${gateLatest}`)).status).toBe(200);
    });
  });

  describe('a package tampered with in the repository', () => {
    it('fails the new image at assembly with apko naming the package', () => {
      const tampered = image(second, 'imgpipe-tampered');
      expect(tampered.status).toBe('failed');
      expect(tampered.error).toMatch(/^apko build failed with exit code \d+/);
      // apko names the package in one of two ways: the data hash it checks, or the expansion that
      // failed (CI saw the second once, with no cause printed; why apko chose it is not pinned down).
      expect(tampered.error).toMatch(
        /package "imgpipe-data" data hash mismatch: expected [0-9a-f]{64}, got [0-9a-f]{64}|expansion of imgpipe-data \(ver:1\.0\.0-r0 arch:x86_64\) failed/,
      );
    });

    it('is not retried: the failure is final on the first attempt', async () => {
      const runs = await activityRuns(`${secondId}/image/imgpipe-tampered`);
      // A new image: nothing published from its inputs, so it is assembled, once.
      expect(runs.map((r) => [r.type, r.attempt, r.retryState])).toEqual([
        ['imageInputs', 1, undefined],
        ['findPublishedImage', 1, undefined],
        ['assembleImage', 1, 'NON_RETRYABLE_FAILURE'],
      ]);
      const log = await readFile(join(env.KILN_STATE, 'logs', 'images', 'imgpipe-tampered.log'), 'utf8');
      expect(log.match(/^\$ \S*apko build /gm)).toHaveLength(1);
    });

    it('pushes nothing and leaves the signed index as it was', async () => {
      expect((await registryGet(env, 'imgpipe/imgpipe-tampered/tags/list')).status).toBe(404);
      expect(await readFile(join(apkRepo(), 'APKINDEX.tar.gz'))).toEqual(indexBefore);
      expect(second.packages.map((p) => [p.name, p.status])).toEqual([['imgpipe-data', 'up-to-date']]);
    });
  });

  describe('an unchanged image run again', () => {
    it('is reported unchanged at the same digest', () => {
      expect(image(second, 'imgpipe-stable')).toMatchObject({
        status: 'unchanged',
        digest: image(first, 'imgpipe-stable').digest,
      });
    });

    it('carries one signature, one SBOM and one provenance, before and after, and no vulnerability attestation (nothing was scanned)', async () => {
      const stable = image(first, 'imgpipe-stable');
      expect(stableReferrers.map((r) => r.predicateType).sort()).toEqual(
        [SIGNATURE_PREDICATE, PREDICATE_TYPES.spdxjson, PREDICATE_TYPES.slsaprovenance1].sort(),
      );
      expect(stablePlatformReferrers.map((r) => r.predicateType)).toEqual([PREDICATE_TYPES.spdxjson]);
      expect(await referrersOf('imgpipe-stable', stable.digest!)).toEqual(stableReferrers);
      const stableIndex = JSON.parse(
        (await registryGet(env, `imgpipe/imgpipe-stable/manifests/${stable.digest}`)).body.toString(),
      ) as { manifests: { digest: string }[] };
      expect(await referrersOf('imgpipe-stable', stableIndex.manifests[0]!.digest)).toEqual(stablePlatformReferrers);
    });

    it('verifies with real cosign: the signature and every attestation, and there is no vulnerability scan to verify', async () => {
      const { tools } = kilnTestConfig(env);
      const key = join(env.KILN_STATE, 'keys', 'image-signing.pub');
      const reference = image(second, 'imgpipe-stable').reference!;
      const signature = await cosignVerify(tools, { command: 'verify', reference, key });
      expect(signature.ok, signature.stderr).toBe(true);
      for (const type of ['spdxjson', 'slsaprovenance1']) {
        const attestation = await cosignVerify(tools, {
          command: 'verify-attestation',
          reference,
          key,
          extra: ['--type', type],
        });
        expect(attestation.ok, attestation.stderr).toBe(true);
      }
      const vuln = await cosignVerify(tools, {
        command: 'verify-attestation',
        reference,
        key,
        extra: ['--type', 'vuln'],
      });
      expect(vuln.ok).toBe(false);
      expect(vuln.stderr).toMatch(/none of the attestations matched the predicate type: vuln/);
    });
  });
});

describe('a CVE in an image', () => {
  const stamp = Date.now();
  let catalogDir: string;
  let blocked: RebuildSummary;

  beforeAll(async () => {
    catalogDir = await copyFixture('imgpipe-cve');
    blocked = await rebuild(catalogDir, `imgpipe-cve-fail-${stamp}`);
  });

  it('above the threshold blocks the image under policy fail, naming the CVE', () => {
    const cve = image(blocked, 'imgpipe-cve');
    expect(cve.status).toBe('failed');
    expect(cve.error).toMatch(/vulnerability policy blocks imgpipe-cve/);
    expect(cve.error).toContain('CVE-2099-7001 (critical) in busybox 1.35.0-r0, fixed in 1.36.1-r0');
    // Below the threshold (medium < high): listed by the scan, but not what blocks.
    expect(cve.error).not.toContain('CVE-2099-7002');
  });

  it('pushes and tags nothing when it blocks', async () => {
    expect((await registryGet(env, 'imgpipe/imgpipe-cve/tags/list')).status).toBe(404);
  });

  it('under policy report publishes the same image and lists the CVEs in the summary', async () => {
    const scanned = await assembledDigest(blocked.workflowId, 'imgpipe-cve');
    await edit(catalogDir, 'catalog.yaml', 'policy: fail', 'policy: report');
    const reported = await rebuild(catalogDir, `imgpipe-cve-report-${stamp}`);
    const cve = image(reported, 'imgpipe-cve');
    expect(cve.status, cve.error).toBe('published');
    expect(cve.digest).toBe(scanned);
    expect(await tagged('imgpipe-cve', 'latest')).toBe(scanned);
    expect(cve.vulnerabilities).toEqual([
      { package: 'busybox', version: '1.35.0-r0', id: 'CVE-2099-7001', fixedIn: '1.36.1-r0', severity: 'critical' },
      { package: 'busybox', version: '1.35.0-r0', id: 'CVE-2099-7002', fixedIn: '1.35.0-r1', severity: 'medium' },
    ]);
    expect(formatSummary(reported)).toContain('CVEs: CVE-2099-7001 CVE-2099-7002');
    // Scanned, so the scan is attested.
    expect(cve.scanned).toBe(true);
    expect((await referrersOf('imgpipe-cve', scanned)).map((r) => r.predicateType)).toContain(PREDICATE_TYPES.vuln);
  });
});

describe('a subpackage in an image', () => {
  let summary: RebuildSummary;

  beforeAll(async () => {
    summary = await rebuild(await copyFixture('imgpipe-origin'), `imgpipe-origin-${Date.now()}`);
  });

  it('is matched through its origin, as secdb is keyed, never by its own name', async () => {
    expect(summary.ok, formatSummary(summary)).toBe(true);
    const origin = image(summary, 'imgpipe-origin');
    // The image has the subpackage only: a match can only have come through its origin.
    const index = JSON.parse(
      (await registryGet(env, `imgpipe/imgpipe-origin/manifests/${origin.digest}`)).body.toString(),
    ) as { manifests: { digest: string }[] };
    const installed = await installedPackages(env, 'imgpipe/imgpipe-origin', index.manifests[0]!.digest);
    expect(installed).toContain('imgpipe-origin-doc');
    expect(installed).not.toContain('imgpipe-origin');
    // CVE-2099-7302 is "0" (not affected) for the origin; CVE-2099-7303 sits under the subpackage's
    // own name, which secdb never uses.
    expect(origin.vulnerabilities).toEqual([
      {
        package: 'imgpipe-origin-doc',
        version: '1.0.0-r0',
        origin: 'imgpipe-origin',
        id: 'CVE-2099-7301',
        fixedIn: '1.0.1-r0',
        severity: 'high',
      },
    ]);
    expect(origin.scanned).toBe(true);
    expect(formatSummary(summary)).toContain('CVEs: CVE-2099-7301');
  });
});

/**
 * Rewrites an APK's data member the way a careful attacker would: `from` replaced by `to` (same
 * length) in a file's contents, that file's per-file SHA-1 (the PAX record apk-tools and apko check
 * while unpacking) updated to match, and the whole re-gzipped into a valid member. The signature
 * and control members stay as they were, so only the signed `datahash` in .PKGINFO can tell.
 */
async function tamperWithData(apkFile: string, from: string, to: string): Promise<void> {
  expect(to.length).toBe(from.length);
  const members = splitGzipMembers(await readFile(apkFile));
  expect(members).toHaveLength(3);
  const [signature, control, data] = members as [Buffer, Buffer, Buffer];
  const tar = gunzipSync(data);
  const CHECKSUM = 'APK-TOOLS.checksum.SHA1=';
  let checksumAt = -1; // in the PAX header that describes the next entry
  let tampered = false;
  for (let off = 0; off + 512 <= tar.length && tar[off] !== 0;) {
    const size = parseInt(
      tar
        .subarray(off + 124, off + 136)
        .toString('latin1')
        .replace(/\0.*$/s, '')
        .trim() || '0',
      8,
    );
    const type = String.fromCharCode(tar[off + 156]!);
    const body = tar.subarray(off + 512, off + 512 + size);
    if (type === 'x') {
      const at = body.indexOf(CHECKSUM);
      checksumAt = at < 0 ? -1 : off + 512 + at + CHECKSUM.length;
    } else {
      const at = body.indexOf(from);
      if (at >= 0 && (type === '0' || type === '\0')) {
        body.write(to, at);
        expect(checksumAt, 'the file has a per-file checksum to forge').toBeGreaterThan(0);
        tar.write(createHash('sha1').update(body).digest('hex'), checksumAt, 'latin1');
        tampered = true;
      }
      checksumAt = -1;
    }
    off += 512 + Math.ceil(size / 512) * 512;
  }
  expect(tampered, `${apkFile} has a file containing "${from}"`).toBe(true);
  await writeFile(apkFile, Buffer.concat([signature, control, gzipSync(tar)]));
}
