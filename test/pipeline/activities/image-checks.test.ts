// Image checks against real images: apko builds busybox-only fixture images from the bootstrap
// repository, bubblewrap runs their tests, the shared registry holds what was "published before".
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cp, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { assembleImage, type AssembledImage } from '../../../activities/image-assemble.js';
import { compareWithPublished } from '../../../activities/image-compare.js';
import { writeProvenance } from '../../../activities/image-provenance.js';
import { pushImage, tagImage } from '../../../activities/image-publish.js';
import { scanImage } from '../../../activities/image-scan.js';
import { testImage, type ImageTestReport } from '../../../activities/image-test.js';
import { snapshotCatalog, type CatalogSnapshot } from '../../../activities/snapshot.js';
import { diffPackages, failsPolicy } from '../../../domain/image-verdicts.js';
import { writeTar, type TarEntry } from '../../../domain/tar.js';
import { unpackLayers } from '../../../oci/rootfs.js';
import { kilnTestConfig, kilnTestEnv } from '../harness.js';
import { FIXTURES } from '../../fixtures/paths.js';
import { failureOf as failure } from '../../failure-of.js';

const env = kilnTestEnv();
const config = kilnTestConfig(env);
// Failing activities are the point of several cases; their WARN lines would only be noise.
const activities = new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });
const run = <P extends unknown[], R>(fn: (...args: P) => Promise<R>, ...args: P): Promise<R> =>
  activities.run(fn, ...args) as Promise<R>;

interface Built {
  snapshot: CatalogSnapshot;
  images: Record<string, AssembledImage>;
}

async function build(catalogDir: string): Promise<Built> {
  const snapshot = await run(snapshotCatalog, { ...config, catalogDir }, { catalogDir });
  const images: Record<string, AssembledImage> = {};
  for (const { name } of snapshot.plan.images)
    images[name] = await run(assembleImage, config, { snapshotDir: snapshot.dir, name });
  return { snapshot, images };
}

const check = (b: Built, name: string) =>
  testImage(config, { snapshotDir: b.snapshot.dir, name, layoutDir: b.images[name]!.layoutDir });

let pass: Built;
let fail: Built;

beforeAll(async () => {
  pass = await build(join(FIXTURES, 'imgchk-pass'));
  fail = await build(join(FIXTURES, 'imgchk-fail'));
});

describe('testImage', () => {
  it('passes an image whose tests and expectations hold, and reports what it ran', async () => {
    const report = await run(check, pass, 'echo');
    expect(report.tests.map((t) => [t.name, t.passed, t.exitCode])).toEqual([
      ['entrypoint', true, 0],
      ['whoami', true, 0],
      ['env', true, 0],
      ['false-exits-1', true, 1],
    ]);
    // The entrypoint ran with the image's cmd, as the image's user.
    expect(report.tests[0]!.output).toContain('hello from kiln');
    expect(report.tests[1]!.output.trim()).toBe('10001');
    expect(report.expectations.every((x) => x.passed)).toBe(true);
    expect(report.expectations.map((x) => x.check)).toEqual([
      'entrypoint',
      'nonRoot',
      'user',
      'environment GREETING',
      'filesPresent /bin/busybox',
      'filesPresent /etc/passwd',
      'filesAbsent /usr/bin/apk',
      'maxSizeMiB',
    ]);
    expect(report.sizeBytes).toBeGreaterThan(1_000_000); // a static busybox
    expect(report.packages).toEqual([
      { name: 'busybox', version: '1.35.0-r0' },
      { name: 'kiln-baselayout', version: '1.0-r0' },
    ]);
  });

  it('blocks an image whose tests fail, naming each test with expected vs got', async () => {
    const err = await failure(run(check, fail, 'badtest'));
    expect(err.type).toBe('ImageTestFailed');
    expect(err.nonRetryable).toBe(true);
    expect(err.message).toContain('test "wrong-exit": expected exit code 0, got 3');
    expect(err.message).toContain('test "wrong-output": expected output matching /^hello$/; output: "goodbye"');
    // The image user is not root, so the image's root-owned /etc is not writable to it.
    expect(err.message).toMatch(/test "cannot-write-etc": expected exit code 0, got 1; output: ".*Permission denied/);
    expect(err.message).not.toContain('"passes"');
    const report = err.details![0] as ImageTestReport;
    expect(report.tests.find((t) => t.name === 'passes')!.passed).toBe(true);
    expect(report.tests.filter((t) => !t.passed).map((t) => t.name)).toEqual([
      'wrong-exit',
      'wrong-output',
      'cannot-write-etc',
    ]);
  });

  it('blocks an image that misses its expectations', async () => {
    const err = await failure(run(check, fail, 'rootimg'));
    expect(err.type).toBe('ImageTestFailed');
    expect(err.message).toContain('expectation nonRoot: expected a non-root user, got none (root)');
    expect(err.message).toContain('expectation filesAbsent /bin/busybox: expected absent, but the image has it');
    expect(err.message).toContain('expectation filesPresent /usr/bin/python3: expected present, but it is missing');
    const report = err.details![0] as ImageTestReport;
    // Its tests still ran and passed: a root user can write the image's /etc.
    expect(report.tests.map((t) => [t.name, t.passed])).toEqual([
      ['entrypoint', true],
      ['root-writes-etc', true],
    ]);
  });

  it('runs a test named "entrypoint" instead of the entrypoint itself', async () => {
    const report = await run(check, pass, 'sleeper');
    expect(report.tests).toEqual([{ name: 'entrypoint', passed: true, exitCode: 0, output: '' }]);
  });

  it('stops a command at its timeout and says how to test an entrypoint that never exits', async () => {
    const slow = fail.images.slow!;
    const started = Date.now();
    const err = await failure(
      run(testImage, config, {
        snapshotDir: fail.snapshot.dir,
        name: 'slow',
        layoutDir: slow.layoutDir,
        timeoutSeconds: 2,
      }),
    );
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(err.message).toContain(
      'test "entrypoint": did not exit within 2s (a server? declare a test named "entrypoint" in image.yaml',
    );
    expect((err.details![0] as ImageTestReport).tests[0]!.exitCode).toBeNull();
  });

  describe('network', () => {
    let server: Server;
    let port: number;
    let hits = 0;
    let catalogDir: string;

    beforeAll(async () => {
      server = createServer((_req, res) => {
        hits++;
        res.end('kiln-listener-ok\n');
      });
      await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
      port = (server.address() as { port: number }).port;
      catalogDir = await mkdtemp(join(env.KILN_STATE, 'imgchk-net-'));
      await cp(join(FIXTURES, 'imgchk-net'), catalogDir, { recursive: true });
      const imageYaml = join(catalogDir, 'images', 'nonet', 'image.yaml');
      await writeFile(imageYaml, (await readFile(imageYaml, 'utf8')).replace('@PORT@', String(port)));
    });
    afterAll(async () => {
      await new Promise((done) => server?.close(done));
      if (catalogDir) await rm(catalogDir, { recursive: true, force: true });
    });

    it('is off inside the test sandbox', async () => {
      // The listener answers from the host, so only the sandbox can be what stops the request.
      expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toContain('kiln-listener-ok');
      hits = 0;
      const net = await build(catalogDir);
      const err = await failure(run(check, net, 'nonet'));
      // Debian's static busybox wget crashes (139) on a refused connection instead of exiting 1.
      expect(err.message).toMatch(/test "fetch-from-host": expected exit code 0, got (1|139)\b/);
      const [result] = (err.details![0] as ImageTestReport).tests.filter((t) => t.name === 'fetch-from-host');
      expect(result).toMatchObject({ passed: false });
      expect(result!.output).not.toContain('kiln-listener-ok');
      expect(hits).toBe(0);
    });
  });
});

describe('unpackLayers', () => {
  const layer = (entries: TarEntry[]) => Readable.from([gzipSync(writeTar(entries, { mtime: 0 }))]);
  let root: string;
  let outside: string;

  beforeAll(async () => {
    outside = await mkdtemp(join(env.KILN_STATE, 'imgchk-outside-'));
  });
  afterAll(async () => rm(outside, { recursive: true, force: true }));

  it('keeps writes through planted symlinks inside the root', async () => {
    root = await mkdtemp(join(env.KILN_STATE, 'imgchk-root-'));
    await unpackLayers(root, [
      layer([
        { path: 'escape', type: 'symlink', mode: 0o777, target: outside },
        { path: 'up', type: 'symlink', mode: 0o777, target: '../../../..' },
        { path: 'escape/pwned', type: 'file', mode: 0o644, content: Buffer.from('x') },
        { path: 'up/pwned-too', type: 'file', mode: 0o644, content: Buffer.from('y') },
      ]),
    ]);
    expect(await readdir(outside)).toEqual([]);
    // The symlinks stay symlinks; what went "through" them landed where a chroot would put it.
    expect(existsSync(join(root, outside, 'pwned'))).toBe(true);
    expect(existsSync(join(root, 'pwned-too'))).toBe(true);
    await rm(root, { recursive: true, force: true });
  });

  it('refuses an entry that escapes the root', async () => {
    root = await mkdtemp(join(env.KILN_STATE, 'imgchk-root-'));
    const err = await failure(
      unpackLayers(root, [layer([{ path: 'a/../../evil', type: 'file', mode: 0o644, content: Buffer.from('x') }])]),
    );
    expect(err.type).toBe('UnsafeLayer');
    await rm(root, { recursive: true, force: true });
  });

  it('applies whiteouts from upper layers', async () => {
    root = await mkdtemp(join(env.KILN_STATE, 'imgchk-root-'));
    const file = (path: string): TarEntry => ({ path, type: 'file', mode: 0o644, content: Buffer.from(path) });
    await unpackLayers(root, [
      layer([
        { path: 'a', type: 'dir', mode: 0o755 },
        file('a/keep'),
        file('a/gone'),
        { path: 'o', type: 'dir', mode: 0o755 },
        file('o/old'),
      ]),
      layer([file('a/.wh.gone'), file('o/new'), file('o/.wh..wh..opq')]),
    ]);
    expect((await readdir(join(root, 'a'))).sort()).toEqual(['keep']);
    expect(await readdir(join(root, 'o'))).toEqual(['new']);
    await rm(root, { recursive: true, force: true });
  });
});

describe('compareWithPublished', () => {
  it('says so when nothing is published yet', async () => {
    const repository = `${env.KILN_REGISTRY}/imgchk/never-published-${Date.now()}`;
    const echo = pass.images.echo!;
    expect(
      await run(compareWithPublished, config, { repository, digest: echo.digest, layoutDir: echo.layoutDir }),
    ).toEqual({ previous: null });
  });

  it('lists added and removed packages and the size change against the tagged image', async () => {
    const echo = pass.images.echo!;
    const base = pass.images.base!;
    const publish = async (repository: string, img: AssembledImage) => {
      await run(pushImage, config, { repository, layoutDir: img.layoutDir, digest: img.digest });
      await run(tagImage, config, { repository, digest: img.digest, tags: ['latest'] });
    };
    // busybox added: base (baselayout only) was published, echo is next.
    const grow = `${env.KILN_REGISTRY}/imgchk/grow`;
    await publish(grow, base);
    const up = await run(compareWithPublished, config, {
      repository: grow,
      digest: echo.digest,
      layoutDir: echo.layoutDir,
    });
    expect(up.previous).toBe(base.digest);
    if (!up.previous) throw new Error('unreachable');
    expect(up.tag).toBe('latest');
    expect(up.added).toEqual([{ name: 'busybox', version: '1.35.0-r0' }]);
    expect(up.removed).toEqual([]);
    expect(up.changed).toEqual([]);
    expect(up.sizeChange.compressed.delta).toBeGreaterThan(500_000);
    expect(up.sizeChange.uncompressed.after).toBeGreaterThan(up.sizeChange.compressed.after);

    // And the other way round, under the image's own tag when `latest` is not there.
    const shrink = `${env.KILN_REGISTRY}/imgchk/shrink`;
    await run(pushImage, config, { repository: shrink, layoutDir: echo.layoutDir, digest: echo.digest });
    await run(tagImage, config, { repository: shrink, digest: echo.digest, tags: ['1.0'] });
    const down = await run(compareWithPublished, config, {
      repository: shrink,
      digest: base.digest,
      layoutDir: base.layoutDir,
      tags: ['1.0'],
    });
    if (!down.previous) throw new Error('expected a previous image');
    expect(down.tag).toBe('1.0');
    expect(down.removed).toEqual([{ name: 'busybox', version: '1.35.0-r0' }]);
    expect(down.added).toEqual([]);
    expect(down.sizeChange.compressed.delta).toBeLessThan(0);

    // The same image again: nothing changed.
    const same = await run(compareWithPublished, config, {
      repository: grow,
      digest: base.digest,
      layoutDir: base.layoutDir,
    });
    expect(same).toMatchObject({ previous: base.digest, added: [], removed: [], changed: [] });
  });

  it('reports version changes', () => {
    expect(
      diffPackages(
        [
          { name: 'a', version: '1.0-r0' },
          { name: 'b', version: '2.0-r0' },
        ],
        [
          { name: 'a', version: '1.1-r0' },
          { name: 'c', version: '1.0-r0' },
        ],
      ),
    ).toEqual({
      added: [{ name: 'c', version: '1.0-r0' }],
      removed: [{ name: 'b', version: '2.0-r0' }],
      changed: [{ name: 'a', from: '1.0-r0', to: '1.1-r0' }],
    });
  });
});

describe('scanImage', () => {
  const busyboxFindings = [
    { package: 'busybox', version: '1.35.0-r0', id: 'CVE-2099-0001', fixedIn: '1.36.1-r0', severity: 'critical' },
    { package: 'busybox', version: '1.35.0-r0', id: 'CVE-2099-0002', fixedIn: '1.36.1-r0', severity: 'unknown' },
  ];

  it("finds the feed's busybox CVEs and blocks under policy fail at or above high", async () => {
    const echo = pass.images.echo!;
    const scan = await run(scanImage, config, {
      snapshotDir: pass.snapshot.dir,
      name: 'echo',
      layoutDir: echo.layoutDir,
      digest: echo.digest,
    });
    expect(scan.scanner).toBe('kiln-secdb');
    expect(scan.findings).toEqual(busyboxFindings);
    expect(scan.blocked).toBe(true);
    expect(scan.blockedBy).toEqual(['CVE-2099-0001']); // the unknown-severity one only blocks under `any`
    expect(scan.resultDigest).toMatch(/^sha256:[0-9a-f]{64}$/);

    const predicate = JSON.parse(await readFile(scan.predicateFile!, 'utf8'));
    expect(scan.predicateFile).toContain(echo.digest.slice('sha256:'.length));
    expect(Object.keys(predicate).sort()).toEqual(['invocation', 'metadata', 'scanner']);
    expect(predicate.scanner.uri).toMatch(/^https:\/\//);
    expect(predicate.scanner.db.version).toMatch(/^sha256:/);
    expect(predicate.scanner.result.matches.map((m: { vulnerability: { id: string } }) => m.vulnerability.id)).toEqual([
      'CVE-2099-0001',
      'CVE-2099-0002',
    ]);
    expect(Date.parse(predicate.metadata.scanFinishedOn)).toBeGreaterThanOrEqual(
      Date.parse(predicate.metadata.scanStartedOn),
    );
    expect(predicate.invocation['builder.id']).toBeTruthy();
  });

  it('lists but does not block under policy report, with the same result digest', async () => {
    const report = await build(join(FIXTURES, 'imgchk-report'));
    const echo = report.images.echo!;
    const scan = await run(scanImage, config, {
      snapshotDir: report.snapshot.dir,
      name: 'echo',
      layoutDir: echo.layoutDir,
      digest: echo.digest,
    });
    expect(scan.findings).toEqual(busyboxFindings);
    expect(scan.blocked).toBe(false);
    const strict = await run(scanImage, config, {
      snapshotDir: pass.snapshot.dir,
      name: 'echo',
      layoutDir: pass.images.echo!.layoutDir,
      digest: pass.images.echo!.digest,
    });
    expect(scan.resultDigest).toBe(strict.resultDigest);
  });

  it('scans nothing and writes no predicate to attest when the catalog has no feed', async () => {
    const img = fail.images.badtest!;
    const scan = await run(scanImage, config, {
      snapshotDir: fail.snapshot.dir,
      name: 'badtest',
      layoutDir: img.layoutDir,
      digest: img.digest,
    });
    expect(scan).toMatchObject({ scanner: 'none', findings: [], blocked: false });
    expect(scan.predicateFile).toBeUndefined();
  });

  it('fails unknown severities only under failOn any', () => {
    expect(failsPolicy('unknown', 'any')).toBe(true);
    expect(failsPolicy('unknown', 'low')).toBe(false);
    expect(failsPolicy('high', 'high')).toBe(true);
    expect(failsPolicy('medium', 'high')).toBe(false);
    expect(failsPolicy('critical', 'high')).toBe(true);
  });
});

describe('writeProvenance', () => {
  it('writes SLSA v1 provenance naming the config, every package and the run', async () => {
    const echo = pass.images.echo!;
    const { predicateFile } = await run(writeProvenance, config, {
      snapshotDir: pass.snapshot.dir,
      name: 'echo',
      digest: echo.digest,
      workflowId: 'catalog-rebuild-test',
      runId: 'run-1',
      startedOn: '2026-01-01T00:00:00Z',
      finishedOn: '2026-01-01T00:05:00Z',
      gitCommit: pass.snapshot.gitCommit,
      layoutDir: echo.layoutDir,
    });
    const p = JSON.parse(await readFile(predicateFile, 'utf8'));
    expect(p.buildDefinition.buildType).toBe('https://kiln.dev/catalog-rebuild@v1');
    expect(p.buildDefinition.externalParameters).toMatchObject({
      image: 'echo',
      catalog: { digest: `sha256:${pass.snapshot.digest}` },
    });
    expect(p.runDetails.builder.id).toBe('https://kiln.dev/builder/embedded');
    expect(p.runDetails.metadata).toEqual({
      invocationId: 'catalog-rebuild-test/run-1',
      startedOn: '2026-01-01T00:00:00Z',
      finishedOn: '2026-01-01T00:05:00Z',
    });

    const deps = p.buildDefinition.resolvedDependencies as {
      uri?: string;
      name: string;
      digest?: { sha256: string };
      annotations: Record<string, string>;
    }[];
    const apkoYaml = await readFile(join(pass.snapshot.dir, 'images/echo/apko.yaml'));
    expect(deps[0]).toMatchObject({
      name: 'images/echo/apko.yaml',
      digest: { sha256: createHash('sha256').update(apkoYaml).digest('hex') },
    });
    const busybox = deps.find((d) => d.name === 'busybox')!;
    expect(busybox.uri).toBe('pkg:apk/kiln/busybox@1.35.0-r0?arch=x86_64');
    expect(busybox.annotations['apk.checksum']).toMatch(/^Q1[A-Za-z0-9+/]{27}=$/);
    // The bootstrap repository still has that very package, so its file's digest is known.
    const apk = await readFile(join(env.KILN_STATE, 'bootstrap', 'x86_64', 'busybox-1.35.0-r0.apk'));
    expect(busybox.digest).toEqual({ sha256: createHash('sha256').update(apk).digest('hex') });
    expect(deps.map((d) => d.name).sort()).toEqual(['busybox', 'images/echo/apko.yaml', 'kiln-baselayout']);
  });
});
