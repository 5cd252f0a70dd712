// Build: one package for one arch with melange, keyed by its input digest. Idempotent: a second
// call with the same input finds the first call's result (or the published package) and returns it.
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Context } from '@temporalio/activity';
import type { KilnConfig } from '../config/config.js';
import type { PackageSpec } from '../domain/catalog.js';
import { sha256hex, sha256stream } from '../domain/digest.js';
import { failure } from '../domain/failures.js';
import { MELANGE_VERSION, apkFileName, archDir, melangeBuild } from '../adapters/melange.js';
import { publishedRecord, type BuildToPublish } from '../apk/repository.js';
import { readSnapshot, snapshotPackage } from '../io/catalog-snapshot.js';

export interface PackageBuildInput {
  snapshotDir: string;
  name: string;
  arch: string;
  /** Input digests of the catalog packages this one builds against, by name. */
  dependencyDigests: Record<string, string>;
  force?: boolean;
}

/** A build as buildPackage reports it: what publishing needs, and how long melange took. */
export interface PackageBuildResult extends BuildToPublish {
  durationMs: number;
}

async function filesUnder(dir: string): Promise<string[]> {
  if (!existsSync(dir)) return [];
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

/** A package's own sources live beside its config in packages/<name>/. */
function sourceDir(catalogDir: string, spec: PackageSpec): string {
  return join(catalogDir, dirname(spec.file), spec.name);
}

/**
 * Everything that decides a package's bytes. `own` covers what its author edits (config, sources)
 * plus the melange version and arch; `input` adds what it builds against, by their input digests.
 * A changed `own` at the same version and epoch needs an epoch bump; a changed dependency alone
 * is rebuilt in place.
 */
export async function packageInputDigest(
  catalogDir: string,
  spec: PackageSpec,
  arch: string,
  deps: Record<string, string>,
): Promise<{ own: string; input: string }> {
  const own = sha256stream();
  own.update(`melange ${MELANGE_VERSION}\narch ${arch}\n`);
  own.update(`config ${sha256hex(await readFile(join(catalogDir, spec.file)))}\n`);
  const sources = sourceDir(catalogDir, spec);
  for (const f of await filesUnder(sources))
    own.update(`source ${f.slice(sources.length)} ${sha256hex(await readFile(f))}\n`);
  const ownDigest = own.digest('hex');
  const input = sha256stream().update(`own ${ownDigest}\n`);
  for (const name of Object.keys(deps).sort()) input.update(`dep ${name} ${deps[name]}\n`);
  return { own: ownDigest, input: input.digest('hex') };
}

export async function buildPackage(config: KilnConfig, input: PackageBuildInput): Promise<PackageBuildResult> {
  const started = Date.now();
  const catalog = await readSnapshot(input.snapshotDir);
  const spec = snapshotPackage(catalog, input.name, input.snapshotDir);
  const { settings } = catalog;
  const digests = await packageInputDigest(input.snapshotDir, spec, input.arch, input.dependencyDigests);
  const inputDigest = digests.input;
  const base = {
    name: spec.name,
    version: spec.version,
    epoch: spec.epoch,
    arch: input.arch,
    inputDigest,
    ownDigest: digests.own,
  };

  const published = await publishedRecord(settings.packageRepository, input.arch, spec);
  if (published && !input.force) {
    if (published.inputDigest === inputDigest) {
      return {
        ...base,
        status: 'up-to-date',
        buildDir: archDir(settings.packageRepository, input.arch),
        apks: published.apks,
        durationMs: Date.now() - started,
      };
    }
    if (published.ownDigest !== digests.own)
      throw failure(
        'EpochNotBumped',
        `${spec.file}: package.epoch: ${spec.name} ${spec.version}-r${spec.epoch} is already published, built from a different config or sources ` +
          `(fix: bump package.epoch to ${spec.epoch + 1}, or start the run with force: true to replace it)`,
      );
  }

  const { paths } = config;
  const buildDir = join(paths.builds, input.arch, `${spec.name}-${inputDigest.slice(0, 16)}`);
  const resultFile = join(buildDir, 'result.json');
  // An earlier attempt (or a crashed worker) may have finished the build but not reported it.
  if (existsSync(resultFile))
    return {
      ...(JSON.parse(await readFile(resultFile, 'utf8')) as PackageBuildResult),
      durationMs: Date.now() - started,
    };

  const attempt = `${buildDir}.attempt-${Context.current().info.attempt}-${process.pid}`;
  await rm(attempt, { recursive: true, force: true });
  await mkdir(join(attempt, 'workspace'), { recursive: true });
  const sources = sourceDir(input.snapshotDir, spec);
  if (!existsSync(sources)) await mkdir(join(attempt, 'empty-sources'), { recursive: true });
  await melangeBuild(config.tools, {
    // Relative to the snapshot (its cwd): the SBOM records this path, and it must not depend on where KILN_STATE is.
    config: spec.file,
    arch: input.arch,
    sourceDir: existsSync(sources) ? sources : join(attempt, 'empty-sources'),
    outDir: join(attempt, 'out'),
    workspaceDir: join(attempt, 'workspace'),
    cacheDir: join(paths.state, 'cache', 'melange'),
    repositories: [settings.packageRepository, ...settings.repositories],
    keyring: settings.keyring,
    signingKey: paths.packageSigningKey,
    namespace: settings.namespace,
    logFile: join(paths.logs, 'packages', `${spec.name}-${spec.version}-r${spec.epoch}-${input.arch}.log`),
    cwd: input.snapshotDir,
    // The catalog's commit, not kiln's own: the same catalog gives the same APK bytes.
    gitCommit: catalog.gitCommit ?? 'unknown',
  });
  const apkFiles = (await filesUnder(join(attempt, 'out', input.arch))).filter((f) => f.endsWith('.apk'));
  if (!apkFiles.some((f) => basename(f) === apkFileName(spec.name, spec.version, spec.epoch))) {
    throw failure(
      'ToolFailed',
      `melange build of ${spec.file} produced no ${apkFileName(spec.name, spec.version, spec.epoch)}`,
    );
  }
  const apks = await Promise.all(
    apkFiles.map(async (f) => ({ file: basename(f), sha256: sha256hex(await readFile(f)) })),
  );
  await rm(join(attempt, 'workspace'), { recursive: true, force: true });
  const result: PackageBuildResult = {
    ...base,
    status: 'built',
    buildDir: join(buildDir, 'out', input.arch),
    apks,
    durationMs: 0,
  };
  await writeFile(join(attempt, 'result.json'), JSON.stringify(result, null, 2));
  await rm(buildDir, { recursive: true, force: true });
  await rename(attempt, buildDir);
  return { ...result, durationMs: Date.now() - started };
}
