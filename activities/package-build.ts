// Build: one package for one arch with melange, keyed by its input digest. Idempotent: a second
// call with the same input finds the first call's result (or the published package) and returns it.
// A published package is never rebuilt in place: `force` rebuilds it from scratch only to compare
// the new APKs with the published ones (a reproducibility check), which stay as they are.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Context } from '@temporalio/activity';
import type { KilnConfig } from '../config/config.js';
import type { PackageSpec } from '../domain/catalog.js';
import { sha256hex, sha256stream } from '../domain/digest.js';
import { failure } from '../domain/failures.js';
import { MELANGE_VERSION, apkFileName, archDir, melangeBuild } from '../adapters/melange.js';
import { compareApks } from '../apk/compare.js';
import { publishedRecord, type BuildToPublish, type BuiltApk, type PublishRecord } from '../apk/repository.js';
import type { Reproducibility } from '../domain/summary.js';
import { readSnapshot, snapshotPackage } from '../io/catalog-snapshot.js';
import { withDirLock } from '../io/lock.js';
import { markUsed } from '../io/state-use.js';

export interface PackageBuildInput {
  snapshotDir: string;
  name: string;
  arch: string;
  /** Input digests of the catalog packages this one builds against, by name. */
  dependencyDigests: Record<string, string>;
  /** Rebuild even a published package, from scratch, and compare it with the published APKs. */
  force?: boolean;
}

/** A build as buildPackage reports it: what publishing needs, and how long melange took. */
export interface PackageBuildResult extends BuildToPublish {
  durationMs: number;
  /** Dependencies that changed since the published build, which is kept (status up-to-date). */
  dependenciesChanged?: string[];
  /** A forced rebuild against the published APKs (status reproduced or not-reproducible). */
  reproducibility?: Reproducibility;
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
 * keeps the published build (an ABI break gets its dependents a new epoch: see package-epoch.ts).
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
  // The catalog pipelines its `uses:` steps compile from are its inputs too (none: nothing added,
  // so a package without them keeps the digest it always had).
  for (const f of [...(spec.pipelines ?? [])].sort())
    own.update(`pipeline ${f} ${sha256hex(await readFile(join(catalogDir, f)))}\n`);
  const ownDigest = own.digest('hex');
  const input = sha256stream().update(`own ${ownDigest}\n`);
  for (const name of Object.keys(deps).sort()) input.update(`dep ${name} ${deps[name]}\n`);
  return { own: ownDigest, input: input.digest('hex') };
}

/** Names of the dependencies whose input digest differs from the ones a published build recorded. */
function changedDependencies(record: PublishRecord, now: Record<string, string>): string[] {
  const before = record.dependencyDigests;
  if (!before) return Object.keys(now).sort();
  return [...new Set([...Object.keys(before), ...Object.keys(now)])].filter((n) => before[n] !== now[n]).sort();
}

/**
 * Runs melange for one package and arch in `scratch` (a directory of this execution alone) and
 * returns the APKs it made in `<scratch>/out/<arch>`.
 */
async function melangeInto(
  config: KilnConfig,
  snapshot: {
    dir: string;
    gitCommit?: string;
    settings: { packageRepository: string; repositories: string[]; keyring: string[]; namespace: string };
  },
  spec: PackageSpec,
  arch: string,
  scratch: string,
): Promise<BuiltApk[]> {
  const { paths } = config;
  const { settings } = snapshot;
  await mkdir(join(scratch, 'workspace'), { recursive: true });
  const sources = sourceDir(snapshot.dir, spec);
  if (!existsSync(sources)) await mkdir(join(scratch, 'empty-sources'), { recursive: true });
  await melangeBuild(config.tools, {
    // Relative to the snapshot (its cwd): the SBOM records this path, and it must not depend on where KILN_STATE is.
    config: spec.file,
    arch,
    sourceDir: existsSync(sources) ? sources : join(scratch, 'empty-sources'),
    outDir: join(scratch, 'out'),
    workspaceDir: join(scratch, 'workspace'),
    cacheDir: join(paths.state, 'cache', 'melange'),
    repositories: [settings.packageRepository, ...settings.repositories],
    keyring: settings.keyring,
    signingKey: paths.packageSigningKey,
    namespace: settings.namespace,
    logFile: join(paths.logs, 'packages', `${spec.name}-${spec.version}-r${spec.epoch}-${arch}.log`),
    cwd: snapshot.dir,
    // The catalog's commit, not kiln's own: the same catalog gives the same APK bytes.
    gitCommit: snapshot.gitCommit ?? 'unknown',
    ...(existsSync(join(snapshot.dir, 'pipelines')) ? { pipelineDir: join(snapshot.dir, 'pipelines') } : {}),
  });
  const apkFiles = (await filesUnder(join(scratch, 'out', arch))).filter((f) => f.endsWith('.apk'));
  if (!apkFiles.some((f) => basename(f) === apkFileName(spec.name, spec.version, spec.epoch))) {
    throw failure(
      'ToolFailed',
      `melange build of ${spec.file} produced no ${apkFileName(spec.name, spec.version, spec.epoch)}`,
    );
  }
  await rm(join(scratch, 'workspace'), { recursive: true, force: true });
  return Promise.all(apkFiles.map(async (f) => ({ file: basename(f), sha256: sha256hex(await readFile(f)) })));
}

/** A fresh scratch directory beside `buildDir`, unique to this activity execution. */
async function scratchDir(buildDir: string, kind: string): Promise<string> {
  await mkdir(dirname(buildDir), { recursive: true });
  return mkdtemp(`${buildDir}.${kind}-${Context.current().info.attempt}-`);
}

/** Runs `build` in `scratch`, removing the scratch directory when it fails. */
async function inScratch<T>(scratch: string, build: () => Promise<T>): Promise<T> {
  try {
    return await build();
  } catch (err) {
    await rm(scratch, { recursive: true, force: true });
    throw err;
  }
}

const sameApks = (a: BuiltApk[], b: BuiltApk[]) =>
  JSON.stringify([...a].sort((x, y) => x.file.localeCompare(y.file))) ===
  JSON.stringify([...b].sort((x, y) => x.file.localeCompare(y.file)));

export async function buildPackage(config: KilnConfig, input: PackageBuildInput): Promise<PackageBuildResult> {
  const started = Date.now();
  const catalog = await readSnapshot(input.snapshotDir);
  const spec = snapshotPackage(catalog, input.name, input.snapshotDir);
  const { settings } = catalog;
  const snapshot = { dir: input.snapshotDir, gitCommit: catalog.gitCommit, settings };
  const digests = await packageInputDigest(input.snapshotDir, spec, input.arch, input.dependencyDigests);
  const inputDigest = digests.input;
  const base = {
    name: spec.name,
    version: spec.version,
    epoch: spec.epoch,
    arch: input.arch,
    inputDigest,
    ownDigest: digests.own,
    dependencyDigests: input.dependencyDigests,
  };
  const { paths } = config;
  const buildDir = join(paths.builds, input.arch, `${spec.name}-${inputDigest.slice(0, 16)}`);

  const published = await publishedRecord(settings.packageRepository, input.arch, spec);
  if (published) {
    if (published.ownDigest !== digests.own)
      throw failure(
        'EpochNotBumped',
        `${spec.file}: package.epoch: ${spec.name} ${spec.version}-r${spec.epoch} is already published, built from a different config or sources, ` +
          `and a published APK never changes (fix: bump package.epoch to ${spec.epoch + 1})`,
      );
    // The published build stays: it is what the repository, the index and every mirror hold.
    const changed =
      published.inputDigest === inputDigest ? [] : changedDependencies(published, input.dependencyDigests);
    const kept = {
      ...base,
      inputDigest: published.inputDigest,
      dependencyDigests: published.dependencyDigests ?? input.dependencyDigests,
      ...(changed.length ? { dependenciesChanged: changed } : {}),
    };
    const repoArch = archDir(settings.packageRepository, input.arch);
    if (!input.force)
      return {
        ...kept,
        status: 'up-to-date',
        buildDir: repoArch,
        apks: published.apks,
        durationMs: Date.now() - started,
      };

    // force: melange again from scratch, then byte for byte against the published APKs.
    const scratch = await scratchDir(buildDir, 'force');
    const apks = await inScratch(scratch, () => melangeInto(config, snapshot, spec, input.arch, scratch));
    const outDir = join(scratch, 'out', input.arch);
    const comparison = await compareApks({
      publishedDir: repoArch,
      published: published.apks,
      rebuiltDir: outDir,
      rebuilt: apks,
    });
    const durationMs = Date.now() - started;
    if (comparison.identical) {
      await rm(scratch, { recursive: true, force: true });
      return {
        ...kept,
        status: 'reproduced',
        buildDir: repoArch,
        apks: published.apks,
        reproducibility: comparison,
        durationMs,
      };
    }
    return {
      ...kept,
      status: 'not-reproducible',
      buildDir: outDir,
      apks,
      reproducibility: { ...comparison, rebuiltDir: outDir },
      durationMs,
    };
  }

  // One build of an input digest at a time on this machine: a run that finds another run building
  // the same inputs waits for it (heartbeating) and then shares its build instead of building again.
  const lock = join(paths.state, 'locks', 'builds', input.arch, basename(buildDir));
  return withDirLock(lock, () => buildOnce(config, input, { snapshot, spec, base, buildDir, started }));
}

/** The unforced build of `buildDir`'s inputs, under its lock: the finished one if there is one, else melange. */
async function buildOnce(
  config: KilnConfig,
  input: PackageBuildInput,
  o: {
    snapshot: Parameters<typeof melangeInto>[1];
    spec: Parameters<typeof melangeInto>[2];
    base: Omit<PackageBuildResult, 'status' | 'buildDir' | 'apks' | 'durationMs'>;
    buildDir: string;
    started: number;
  },
): Promise<PackageBuildResult> {
  const { snapshot, spec, base, buildDir, started } = o;
  const resultFile = join(buildDir, 'result.json');
  // An earlier attempt (or a crashed worker, or another run) may have finished the build but not
  // reported it. `force` builds again regardless.
  // Marked used first (io/state-use.ts): a clean-up that listed it before this run reused it leaves it.
  if (!input.force && (await markUsed(buildDir)) && existsSync(resultFile))
    return {
      ...(JSON.parse(await readFile(resultFile, 'utf8')) as PackageBuildResult),
      durationMs: Date.now() - started,
    };

  const scratch = await scratchDir(buildDir, 'attempt');
  const apks = await inScratch(scratch, () => melangeInto(config, snapshot, spec, input.arch, scratch));
  const result: PackageBuildResult = {
    ...base,
    status: 'built',
    buildDir: join(buildDir, 'out', input.arch),
    apks,
    durationMs: 0,
  };
  await writeFile(join(scratch, 'result.json'), JSON.stringify(result, null, 2));
  // The first complete build of these inputs becomes the shared one; the clean-up removes it only
  // once no running workflow can reach it (domain/retention.ts), so a concurrent run that is testing
  // or publishing from it is never pulled from under.
  const renamed = await rename(scratch, buildDir).then(
    () => true,
    (err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') throw err;
      return false;
    },
  );
  if (renamed) return { ...result, durationMs: Date.now() - started };
  // Another execution with the same inputs finished first: share its directory when the bytes
  // agree (and drop ours), else keep ours.
  const theirs = JSON.parse(await readFile(resultFile, 'utf8')) as PackageBuildResult;
  if (sameApks(theirs.apks, apks)) {
    await rm(scratch, { recursive: true, force: true });
    return { ...result, durationMs: Date.now() - started };
  }
  return { ...result, buildDir: join(scratch, 'out', input.arch), durationMs: Date.now() - started };
}
