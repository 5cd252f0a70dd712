// Test: a freshly built package's own tests (the config's `test:` section, melange test in
// bubblewrap), before it is published.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { KilnConfig } from '../config/config.js';
import { fullVersion } from '../domain/apk-version.js';
import { failure, isFailure } from '../domain/failures.js';
import { melangeTest } from '../adapters/melange.js';
import { stageRepository } from '../apk/repository.js';
import { readSnapshot, snapshotPackage } from '../io/catalog-snapshot.js';
import type { PackageBuildResult } from './package-build.js';

/** The input of testPackage and checkPackage: one build of one arch, and the snapshot it came from. */
export interface PackageCheckInput {
  snapshotDir: string;
  build: PackageBuildResult;
}

/**
 * Runs the config's `test:` pipelines (melange test, bubblewrap) against the just-built APKs.
 * They are not published yet, so a throwaway repository `<tmp>/<arch>/` with a signed index serves
 * them, ahead of the published repository (for the rest of the test environment).
 */
export async function testPackage(
  config: KilnConfig,
  input: PackageCheckInput,
): Promise<{ tested: boolean; logFile?: string }> {
  const { build } = input;
  const catalog = await readSnapshot(input.snapshotDir);
  const spec = snapshotPackage(catalog, build.name, input.snapshotDir);
  // An up-to-date or reproduced package is the published one, byte for byte, tested when it was built.
  if (!spec.hasTest || build.status === 'up-to-date' || build.status === 'reproduced') return { tested: false };
  const { settings } = catalog;
  const { paths } = config;
  const logFile = join(paths.logs, 'packages', `${build.name}-${fullVersion(build)}-${build.arch}.test.log`);
  // Beside the build dir, so the APKs can be hard-linked rather than copied.
  await mkdir(join(paths.builds, build.arch), { recursive: true });
  const work = await mkdtemp(join(paths.builds, build.arch, `.test-${build.name}-`));
  try {
    await stageRepository(config.tools, {
      dir: join(work, 'repo'),
      arch: build.arch,
      buildDir: build.buildDir,
      apks: build.apks,
      signingKey: paths.packageSigningKey,
      logFile,
    });
    // Tests see the package's own sources (packages/<name>/), as its build did.
    const sources = join(input.snapshotDir, dirname(spec.file), spec.name);
    if (!existsSync(sources)) await mkdir(join(work, 'sources'));
    await mkdir(join(work, 'workspace'));
    await melangeTest(config.tools, {
      config: join(input.snapshotDir, spec.file),
      arch: build.arch,
      sourceDir: existsSync(sources) ? sources : join(work, 'sources'),
      workspaceDir: join(work, 'workspace'),
      repositories: [join(work, 'repo'), settings.packageRepository, ...settings.repositories],
      keyring: settings.keyring,
      logFile,
      tmpDir: await mkdir(join(work, 'tmp'), { recursive: true }).then(() => join(work, 'tmp')),
      ...(existsSync(join(input.snapshotDir, 'pipelines'))
        ? { pipelineDir: join(input.snapshotDir, 'pipelines') }
        : {}),
    }).catch((err: unknown) => {
      // A crash or cancellation stays retryable; a test that ran and failed is the package's fault.
      if (!isFailure(err, 'ToolFailed')) throw err;
      throw failure(
        'PackageTestFailed',
        `${build.name} ${fullVersion(build)} (${build.arch}): its tests failed (test: section of ${spec.file}); ${err.message}`,
      );
    });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return { tested: true, logFile };
}
