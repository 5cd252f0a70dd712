// Workflows: deterministic orchestration (no I/O, no Node built-ins; activities by type only).
// packageBuild: build, test, check and publish one package for every arch.
import { proxyActivities, upsertSearchAttributes } from '@temporalio/workflow';
import type { KilnActivities, PackageBuildResult, PackageChecks } from '../activities/index.js';
import { KILN_PACKAGE, KILN_STAGE } from './search-attributes.js';

export interface PackageBuildWorkflowInput {
  snapshotDir: string;
  name: string;
  archs: string[];
  /** Input digests of the packages this one builds against: name -> arch -> digest. */
  dependencyDigests: Record<string, Record<string, string>>;
  force?: boolean;
}

export interface PackageBuildWorkflowResult {
  name: string;
  version: string;
  epoch: number;
  status: 'built' | 'up-to-date';
  inputDigests: Record<string, string>;
  apks: Record<string, { file: string; sha256: string }[]>;
  /** Whether `melange test` ran (the config has tests and the package was built now). */
  tested: boolean;
  /** Checks per arch: signature, SBOM, ABI verdict, CVEs. */
  checks: Record<string, PackageChecks>;
}

const { buildPackage } = proxyActivities<KilnActivities>({
  startToCloseTimeout: '60 minutes',
  // Tool runs heartbeat every few seconds; a silent worker is presumed dead and the build moves on.
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '5 seconds', backoffCoefficient: 2, maximumAttempts: 3 },
});

// melange test runs in the sandbox like a build; the other checks read files.
const { testPackage, checkPackage } = proxyActivities<KilnActivities>({
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '5 seconds', backoffCoefficient: 2, maximumAttempts: 3 },
});

const { publishPackage } = proxyActivities<KilnActivities>({
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumAttempts: 5 },
});

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
  const builds: PackageBuildResult[] = await Promise.all(
    input.archs.map((arch) =>
      buildPackage({
        snapshotDir: input.snapshotDir,
        name: input.name,
        arch,
        dependencyDigests: Object.fromEntries(
          Object.entries(input.dependencyDigests).map(([dep, byArch]) => [dep, byArch[arch] ?? '']),
        ),
        force: input.force,
      }),
    ),
  );
  upsertSearchAttributes([{ key: KILN_STAGE, value: 'test' }]);
  const tested = await Promise.all(builds.map((build) => testPackage({ snapshotDir: input.snapshotDir, build })));
  upsertSearchAttributes([{ key: KILN_STAGE, value: 'check' }]);
  const checks = await Promise.all(builds.map((build) => checkPackage({ snapshotDir: input.snapshotDir, build })));
  upsertSearchAttributes([{ key: KILN_STAGE, value: 'publish' }]);
  for (const build of builds) await publishPackage({ snapshotDir: input.snapshotDir, build });
  upsertSearchAttributes([{ key: KILN_STAGE, value: 'done' }]);
  const first = builds[0]!;
  return {
    name: first.name,
    version: first.version,
    epoch: first.epoch,
    status: builds.every((b) => b.status === 'up-to-date') ? 'up-to-date' : 'built',
    inputDigests: Object.fromEntries(builds.map((b) => [b.arch, b.inputDigest])),
    apks: Object.fromEntries(builds.map((b) => [b.arch, b.apks])),
    tested: tested.some((t) => t.tested),
    checks: Object.fromEntries(builds.map((b, i) => [b.arch, checks[i]!])),
  };
}
