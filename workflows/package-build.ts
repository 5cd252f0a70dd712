// Workflows: deterministic orchestration (no I/O, no Node built-ins; activities by type only).
// packageBuild: build, test, check and publish one package for every arch; and, once the package
// phase is over, the epoch bumps an allowed ABI break requires of the packages that link it.
import { patched, proxyActivities, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { KilnActivities, PackageBuildResult, PackageChecks } from '../activities/index.js';
import { workerLost } from './failure.js';
import { archQueue } from '../domain/package-archs.js';
import type { EpochBump, PackageOutcome, Reproducibility } from '../domain/summary.js';
import { failureMessage } from './failure.js';
import { KILN_PACKAGE, KILN_STAGE } from './search-attributes.js';
import { releaseTurnOf, takeTurn } from './turns.js';

export interface PackageBuildWorkflowInput {
  snapshotDir: string;
  name: string;
  archs: string[];
  /** Input digests of the packages this one builds against: name -> arch -> digest. */
  dependencyDigests: Record<string, Record<string, string>>;
  /** Rebuild from scratch and compare with the published APKs (which stay). */
  force?: boolean;
  /** The package repository publishing writes to: its turns (one publisher per arch) are named after it. */
  packageRepository?: string;
}

export interface PackageBuildWorkflowResult {
  name: string;
  version: string;
  epoch: number;
  /** `not-reproducible` if any arch is, else `built` if any arch was built, else `reproduced` if any was. */
  status: 'built' | 'up-to-date' | 'reproduced' | 'not-reproducible';
  inputDigests: Record<string, string>;
  apks: Record<string, { file: string; sha256: string }[]>;
  /** Whether `melange test` ran (the config has tests and the package was built now). */
  tested: boolean;
  /** Checks per arch: signature, SBOM, ABI verdict, CVEs. */
  checks: Record<string, PackageChecks>;
  /** Dependencies changed since the published build, which was kept (any arch). */
  dependenciesChanged?: string[];
  /** A forced rebuild against the published APKs: the first arch that differs, else the first. */
  reproducibility?: Reproducibility;
}

const BUILD_OPTIONS = {
  startToCloseTimeout: '60 minutes',
  // Tool runs heartbeat every few seconds; a silent worker is presumed dead and the build moves on.
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '5 seconds', backoffCoefficient: 2, maximumAttempts: 3 },
} as const;
const { buildPackage: buildOnSharedQueue } = proxyActivities<KilnActivities>(BUILD_OPTIONS);

/**
 * A build for `arch` runs on that arch's task queue (archQueue), polled by the workers that build
 * it: natively, or under qemu-user where setup registered it; histories from before stay on the
 * shared queue.
 */
function builderFor(arch: string): KilnActivities['buildPackage'] {
  if (!patched('arch-queues')) return buildOnSharedQueue;
  return proxyActivities<KilnActivities>({ ...BUILD_OPTIONS, taskQueue: archQueue(workflowInfo().taskQueue, arch) })
    .buildPackage;
}

// What follows a build runs on the worker holding its files (its own task queue, `host`). A worker
// that is gone never starts it: after WORKER_LOST_AFTER the chain starts again from the build.
const WORKER_LOST_AFTER = '2 minutes';
const WORKER_LOST_ATTEMPTS = 3;

/** test, check and publish on the worker that built (`host`), or anywhere for results without one. */
function onWorker(host: string | undefined) {
  const pinned = host ? { taskQueue: host, scheduleToStartTimeout: WORKER_LOST_AFTER } : {};
  // melange test runs in the sandbox like a build; the other checks read files.
  const { testPackage, checkPackage } = proxyActivities<KilnActivities>({
    ...pinned,
    startToCloseTimeout: '30 minutes',
    heartbeatTimeout: '30 seconds',
    retry: { initialInterval: '5 seconds', backoffCoefficient: 2, maximumAttempts: 3 },
  });
  const { publishPackage } = proxyActivities<KilnActivities>({
    ...pinned,
    startToCloseTimeout: '10 minutes',
    heartbeatTimeout: '30 seconds',
    retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumAttempts: 5 },
  });
  return { testPackage, checkPackage, publishPackage };
}

const { bumpEpochs } = proxyActivities<KilnActivities>({
  startToCloseTimeout: '5 minutes',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumAttempts: 3 },
});

function overallStatus(builds: PackageBuildResult[]): PackageBuildWorkflowResult['status'] {
  for (const status of ['not-reproducible', 'built', 'reproduced'] as const)
    if (builds.some((b) => b.status === status)) return status;
  return 'up-to-date';
}

/**
 * Builds one package for every arch, tests and checks each build (melange test, signature, SBOM,
 * ABI against the published version, CVEs), then publishes. Publishing starts only after every
 * arch passed, so a failure never leaves the repository half-updated.
 */
export async function packageBuild(input: PackageBuildWorkflowInput): Promise<PackageBuildWorkflowResult> {
  upsertSearchAttributes([
    { key: KILN_PACKAGE, value: input.name },
    { key: KILN_STAGE, value: 'build' },
  ]);
  const pinned = patched('host-queues');
  /** build (any worker) -> test -> check on the worker holding the build's files; again if that worker is lost. */
  const buildAndCheck = async (arch: string) => {
    for (let attempt = 1; ; attempt++) {
      const build = await builderFor(arch)({
        snapshotDir: input.snapshotDir,
        name: input.name,
        arch,
        dependencyDigests: Object.fromEntries(
          Object.entries(input.dependencyDigests).map(([dep, byArch]) => [dep, byArch[arch] ?? '']),
        ),
        force: input.force,
      });
      const on = onWorker(pinned ? build.host : undefined);
      try {
        upsertSearchAttributes([{ key: KILN_STAGE, value: 'test' }]);
        const tested = await on.testPackage({ snapshotDir: input.snapshotDir, build });
        upsertSearchAttributes([{ key: KILN_STAGE, value: 'check' }]);
        const checks = await on.checkPackage({ snapshotDir: input.snapshotDir, build });
        return { build, tested, checks, on };
      } catch (err) {
        if (!workerLost(err) || attempt >= WORKER_LOST_ATTEMPTS) throw err;
      }
    }
  };
  const archs = await Promise.all(input.archs.map(buildAndCheck));
  upsertSearchAttributes([{ key: KILN_STAGE, value: 'publish' }]);
  // Every arch passed: publish each (all archs or none). A worker lost before publishing took the
  // build's files with it: that arch is built and checked again elsewhere, then published.
  for (const [i, arch] of input.archs.entries()) {
    for (let attempt = 1; ; attempt++) {
      const { build, on } = archs[i]!;
      // One publisher per repository and arch, on any number of workers and hosts: Temporal's turn.
      const turn =
        input.packageRepository && patched('package-publish-turn')
          ? await takeTurn(`kiln-publish-apk/${input.packageRepository}/${arch}`, 2)
          : undefined;
      try {
        await on.publishPackage({ snapshotDir: input.snapshotDir, build });
        break;
      } catch (err) {
        if (!workerLost(err) || attempt >= WORKER_LOST_ATTEMPTS) throw err;
      } finally {
        if (turn) await releaseTurnOf(turn);
      }
      archs[i] = await buildAndCheck(arch);
    }
  }
  const builds = archs.map((a) => a.build);
  const tested = archs.map((a) => a.tested);
  const checks = archs.map((a) => a.checks);
  upsertSearchAttributes([{ key: KILN_STAGE, value: 'done' }]);
  const first = builds[0]!;
  const changed = [...new Set(builds.flatMap((b) => b.dependenciesChanged ?? []))].sort();
  const compared = builds.filter((b) => b.reproducibility);
  const reproducibility = (compared.find((b) => !b.reproducibility!.identical) ?? compared[0])?.reproducibility;
  return {
    name: first.name,
    version: first.version,
    epoch: first.epoch,
    status: overallStatus(builds),
    inputDigests: Object.fromEntries(builds.map((b) => [b.arch, b.inputDigest])),
    apks: Object.fromEntries(builds.map((b) => [b.arch, b.apks])),
    tested: tested.some((t) => t.tested),
    checks: Object.fromEntries(builds.map((b, i) => [b.arch, checks[i]!])),
    ...(changed.length ? { dependenciesChanged: changed } : {}),
    ...(reproducibility ? { reproducibility } : {}),
  };
}

/**
 * After the package phase: for each package whose allowed ABI break removed sonames that other
 * packages link, kiln commits their epoch bumps (bumpEpochs). A bump that cannot be committed is
 * returned with its error, naming the packages: the caller fails them.
 */
export async function epochBumpsAfterAbiBreaks(
  run: { snapshotDir: string; catalogDir?: string; gitCommit?: string },
  catalogPackages: { name: string; epoch: number }[],
  results: PackageBuildWorkflowResult[],
): Promise<EpochBump[]> {
  const bumps: EpochBump[] = [];
  for (const r of results) {
    const breaks = Object.values(r.checks).filter((c) => c.abi.verdict === 'break-allowed' && c.abi.rebuild.length);
    if (!breaks.length) continue;
    const removed = [...new Set(breaks.flatMap((c) => c.abi.removed))].sort();
    const dependents = [...new Set(breaks.flatMap((c) => c.abi.rebuild))].sort();
    const library = { name: r.name, version: r.version, epoch: r.epoch, removed };
    try {
      bumps.push(await bumpEpochs({ ...run, library, dependents }));
    } catch (err) {
      const inCatalog = catalogPackages.filter((p) => dependents.includes(p.name));
      bumps.push({
        because: `${r.name} ${r.version}-r${r.epoch} no longer provides ${removed.join(', ')}`,
        packages: inCatalog.map((p) => ({ name: p.name, epoch: p.epoch, newEpoch: p.epoch + 1 })),
        notInCatalog: dependents.filter((d) => !inCatalog.some((p) => p.name === d)),
        error: failureMessage(err),
      });
    }
  }
  return bumps;
}

/** The summary line of a package whose packageBuild child finished, with the epoch bump it got, if any. */
export function builtOutcome(
  base: { name: string; version: string; epoch: number; durationMs: number },
  r: PackageBuildWorkflowResult,
  bump: EpochBump | undefined,
): PackageOutcome {
  const checks = Object.values(r.checks)[0];
  const newEpoch = bump?.packages.find((p) => p.name === r.name)?.newEpoch;
  return {
    ...base,
    status: r.status,
    inputDigests: r.inputDigests,
    apks: r.apks,
    tested: r.tested,
    ...(r.dependenciesChanged ? { dependenciesChanged: r.dependenciesChanged } : {}),
    ...(r.reproducibility ? { reproducibility: r.reproducibility } : {}),
    ...(bump?.branch && bump.commit && newEpoch !== undefined
      ? { epochBump: { epoch: newEpoch, branch: bump.branch, commit: bump.commit } }
      : {}),
    ...(checks
      ? {
          signedBy: checks.signature.key,
          sbom: true,
          abi: checks.abi,
          ...(checks.cvePolicy !== 'none' ? { vulnerabilities: checks.cves } : {}),
        }
      : {}),
  };
}
