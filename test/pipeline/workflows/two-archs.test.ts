// Two archs on one x86_64 machine: a catalog of archs [x86_64, aarch64] rebuilt by a real worker on
// the real services. archinfo (a C program, test/fixtures/two-archs) is compiled with the toolchain
// repository natively and, for aarch64, under qemu-user inside melange's bubblewrap sandbox
// (setup/emulation.ts registers it, as scripts/setup does, when this runs as root); its melange test
// runs each arch's binary and checks what the kernel reports. What a person checks: both archs'
// APKs in the signed repository, each holding an ELF for its CPU; the aarch64 build ran on the
// aarch64 task queue (its history says so), where a native aarch64 worker could take it instead;
// the image is published as an index of linux/amd64 and linux/arm64, and its functional test ran
// the arm64 image's binary under emulation too.
//
// aarch64's bootstrap and toolchain repositories are made here (the global setup makes x86_64's);
// their .debs and conversions are cached outside the state directory (setup/toolchain*.ts).
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mkdtempSync } from 'node:fs';
import { defaultPayloadConverter } from '@temporalio/common';
import { beforeAll, describe, expect, it } from 'vitest';
import { readApk, splitGzipMembers } from '../../../apk/reader.js';
import { parseApkIndex } from '../../../domain/apkindex.js';
import { archQueue } from '../../../domain/package-archs.js';
import type { PackageOutcome, RebuildSummary } from '../../../domain/summary.js';
import { readTar } from '../../../domain/tar.js';
import { gunzipSync } from 'node:zlib';
import { bootstrapForArch } from '../../../setup/bootstrap-arch.js';
import { ensureEmulation } from '../../../setup/emulation.js';
import { toolchainRepository } from '../../../setup/toolchain.js';
import { catalogRebuild } from '../../../workflows/catalog-rebuild.js';
import { isolatedFixture, kilnTestConfig, kilnTestEnv, rebuildSummary, registryGet, useTemporal } from '../harness.js';
import { activityRuns, image } from './image-registry.js';
import type { ImageTestReport } from '../../../activities/index.js';

const env = kilnTestEnv();
const temporal = useTemporal(env);
const TASK_QUEUE = 'two-archs';
const ARCHS = ['x86_64', 'aarch64'];
/** e_machine of an ELF header (little-endian, offset 18): what `readelf -h` calls Machine. */
const ELF_MACHINE: Record<string, number> = { x86_64: 62, aarch64: 183 };
const quiet = () => undefined;

let summary: RebuildSummary;
let archinfo: PackageOutcome;
let workflowId: string;
let archQueues: string[];
const repo = join(env.KILN_STATE, 'repo-two-archs');

beforeAll(async () => {
  const config = kilnTestConfig(env);
  await ensureEmulation(ARCHS, quiet);
  for (const arch of ARCHS) {
    await bootstrapForArch({ config, stateDir: env.KILN_STATE, arch, log: quiet });
    await toolchainRepository({ config, stateDir: env.KILN_STATE, arch, log: quiet });
  }
  const catalogDir = await isolatedFixture(
    'two-archs',
    join(mkdtempSync(join(tmpdir(), 'kiln-two-archs-')), 'catalog'),
    'two-archs',
  );
  workflowId = `two-archs-${Date.now()}`;
  // The worker's own catalog: a production run, publishing into the catalog's repository.
  const worker = await temporal().worker(TASK_QUEUE, kilnTestConfig(env, { KILN_CATALOG: catalogDir }));
  archQueues = worker.archQueues;
  // Without a poller on the aarch64 queue the run would wait for one: fail here instead.
  expect(archQueues).toContain(archQueue(TASK_QUEUE, 'aarch64'));
  const started = Date.now();
  summary = await rebuildSummary(
    await worker.runUntil(
      temporal().client.workflow.execute(catalogRebuild, {
        taskQueue: TASK_QUEUE,
        workflowId,
        args: [{ catalogDir }],
      }),
    ),
  );
  console.log(`two-archs rebuild (x86_64 native, aarch64 under qemu-user): ${Date.now() - started} ms`);
  archinfo = summary.packages.find((p) => p.name === 'archinfo')!;
});

/** `usr/bin/archinfo`'s first bytes in a published APK's data member. */
async function binaryOf(arch: string): Promise<Buffer> {
  const members = splitGzipMembers(await readFile(join(repo, arch, 'archinfo-1.0.0-r0.apk')));
  const entries = await readTar(gunzipSync(members[members.length - 1]!));
  const binary = entries.find((e) => e.path === 'usr/bin/archinfo');
  if (!binary) throw new Error(`archinfo's ${arch} APK holds no usr/bin/archinfo`);
  return binary.data;
}

describe('a catalog of two archs on an x86_64 worker', () => {
  it('builds, tests and publishes the package for both archs', () => {
    expect(summary.ok, JSON.stringify(summary.packages, null, 1)).toBe(true);
    expect(archinfo.status).toBe('built');
    // The melange test ran archinfo and checked `compiled for <arch>, running on <arch>` per arch.
    expect(archinfo.tested).toBe(true);
    expect(Object.keys(archinfo.apks ?? {}).sort()).toEqual(['aarch64', 'x86_64']);
  });

  it("publishes each arch's APK into its signed index, holding an ELF for that CPU", async () => {
    for (const arch of ARCHS) {
      const index = await parseApkIndex(await readFile(join(repo, arch, 'APKINDEX.tar.gz')));
      const entry = index.find((e) => e.name === 'archinfo');
      expect(entry?.arch, arch).toBe(arch);
      const elf = await binaryOf(arch);
      expect(elf.subarray(0, 4).toString('latin1'), arch).toBe('\x7fELF');
      expect(elf.readUInt16LE(18), `${arch} e_machine`).toBe(ELF_MACHINE[arch]);
      // Linked against the toolchain's C library of the same arch, which the package depends on.
      expect((await readApk(join(repo, arch, 'archinfo-1.0.0-r0.apk'))).pkginfo.get('depend')).toContain(
        'so:libc.so.6',
      );
    }
  });

  it("runs each arch's build on that arch's task queue", async () => {
    const history = await temporal().client.workflow.getHandle(`${workflowId}/package/archinfo`).fetchHistory();
    const builds = (history.events ?? [])
      .map((e) => e.activityTaskScheduledEventAttributes)
      .filter((a) => a?.activityType?.name === 'buildPackage')
      .map((a) => ({
        queue: a!.taskQueue?.name,
        arch: defaultPayloadConverter.fromPayload<{ arch: string }>(a!.input!.payloads![0]!).arch,
      }));
    expect(builds.sort((a, b) => a.arch.localeCompare(b.arch))).toEqual([
      { arch: 'aarch64', queue: archQueue(TASK_QUEUE, 'aarch64') },
      { arch: 'x86_64', queue: archQueue(TASK_QUEUE, 'x86_64') },
    ]);
  });

  it('publishes the image as an index of linux/amd64 and linux/arm64', async () => {
    const published = image(summary, 'archinfo');
    expect(published.status, published.error).toBe('published');
    const index = JSON.parse(
      (await registryGet(env, `two-archs/archinfo/manifests/${published.digest}`)).body.toString(),
    ) as {
      manifests: { platform?: { os: string; architecture: string } }[];
    };
    expect(index.manifests.map((m) => `${m.platform?.os}/${m.platform?.architecture}`).sort()).toEqual([
      'linux/amd64',
      'linux/arm64',
    ]);
  });

  it("runs the image's functional test on each arch, the arm64 binary under emulation", async () => {
    const runs = await activityRuns(temporal().client, `${workflowId}/image/archinfo`);
    const report = runs.find((r) => r.type === 'testImage')?.result as ImageTestReport;
    const outputs = Object.fromEntries(
      report.tests.map((t) => [t.name, { passed: t.passed, output: t.output.trim() }]),
    );
    expect(outputs['runs on its own arch']).toEqual({ passed: true, output: 'compiled for x86_64, running on x86_64' });
    expect(outputs['runs on its own arch [aarch64]']).toEqual({
      passed: true,
      output: 'compiled for aarch64, running on aarch64',
    });
    expect(report.expectations.filter((x) => x.check.endsWith('[aarch64]')).map((x) => [x.check, x.passed])).toEqual([
      ['nonRoot [aarch64]', true],
      ['filesPresent /usr/bin/archinfo [aarch64]', true],
    ]);
  });
});
