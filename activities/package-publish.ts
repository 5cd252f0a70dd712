// Publish: a tested and checked build into the catalog's signed package repository (APKs, then
// the merged, signed APKINDEX). Idempotent: publishing what the repository holds changes nothing.
// Only new builds are published: a forced rebuild that was compared with the published APKs is
// not, and a file already in the repository is never replaced by other bytes (ArtifactImmutable).
import { join } from 'node:path';
import type { KilnConfig } from '../config/config.js';
import { publishBuild } from '../apk/repository.js';
import { readSnapshot } from '../io/catalog-snapshot.js';
import type { PackageBuildResult } from './package-build.js';

export interface PublishInput {
  snapshotDir: string;
  build: PackageBuildResult;
}

export async function publishPackage(
  config: KilnConfig,
  input: PublishInput,
): Promise<{ index: string; apks: number }> {
  const catalog = await readSnapshot(input.snapshotDir);
  return publishBuild(config.tools, {
    repository: catalog.settings.packageRepository,
    build: input.build,
    signingKey: config.paths.packageSigningKey,
    logFile: join(config.paths.logs, 'repository-index.log'),
  });
}
