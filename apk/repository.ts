// The signed APK repository kiln publishes into: `<repo>/<arch>/` holds the APKs, the SBOM kiln
// keeps for each (`<name>-<version>-r<epoch>.spdx.json`) and the signed APKINDEX.tar.gz, and
// `<repo>/<arch>/.kiln/` what kiln remembers about each published package (the inputs it was
// built from) and the lock publishers take.
import { existsSync } from 'node:fs';
import { copyFile, link, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { archDir, melangeIndex } from '../adapters/melange.js';
import type { ToolsConfig } from '../adapters/toolchain.js';
import { parseApkIndex, type ApkIndexEntry } from '../domain/apkindex.js';
import { sha256hex } from '../domain/digest.js';
import { corruptArtifact, failure } from '../domain/failures.js';
import { replaceFile, writeFileAtomically } from '../io/atomic-file.js';
import { withDirLock } from '../io/lock.js';
import { keepPackageSbom } from './kept-sbom.js';

export interface BuiltApk {
  file: string;
  sha256: string;
}

/** What the repository remembers about a published package, beside its APKs. */
export interface PublishRecord {
  name: string;
  version: string;
  epoch: number;
  inputDigest: string;
  ownDigest: string;
  /** Input digests of the catalog packages it was built against (absent in records before kiln recorded them). */
  dependencyDigests?: Record<string, string>;
  apks: BuiltApk[];
  publishedAt: string;
}

/**
 * `built`: a new build to publish. `up-to-date`: the published build, kept. `reproduced` /
 * `not-reproducible`: a forced rebuild whose APKs are / are not the published bytes; never published.
 */
export type BuildStatus = 'built' | 'up-to-date' | 'reproduced' | 'not-reproducible';

/** A build to publish: its identity, the digests it was built from, and where its APKs are. */
export interface BuildToPublish {
  name: string;
  version: string;
  epoch: number;
  arch: string;
  inputDigest: string;
  /** Digest of the package's own inputs (config, sources, melange version, arch). */
  ownDigest: string;
  /** Input digests of the catalog packages it builds against, by name. */
  dependencyDigests?: Record<string, string>;
  status: BuildStatus;
  /** Directory holding the built APKs (main package and subpackages). */
  buildDir: string;
  apks: BuiltApk[];
}

const indexPath = (repo: string, arch: string) => join(archDir(repo, arch), 'APKINDEX.tar.gz');

const recordPath = (repo: string, arch: string, spec: { name: string; version: string; epoch: number }) =>
  join(archDir(repo, arch), '.kiln', `${spec.name}-${spec.version}-r${spec.epoch}.json`);

/** The record of a package published at this version and epoch, if any. */
export async function publishedRecord(
  repo: string,
  arch: string,
  spec: { name: string; version: string; epoch: number },
): Promise<PublishRecord | undefined> {
  const path = recordPath(repo, arch, spec);
  if (!existsSync(path)) return undefined;
  return JSON.parse(await readFile(path, 'utf8')) as PublishRecord;
}

/** The entries of the repository's index for an arch; none before the first publish. */
export async function publishedIndex(repo: string, arch: string): Promise<ApkIndexEntry[]> {
  const index = indexPath(repo, arch);
  return existsSync(index) ? await parseApkIndex(await readFile(index)) : [];
}

/**
 * Copies the APKs into the repository and regenerates the signed APKINDEX. The index is written
 * beside the live one and renamed over it, so readers only ever see a complete, signed index that
 * names files already in place. Publishers of one arch take turns (packageBuild holds Temporal's
 * publish turn for the repository and arch; a directory lock guards direct callers on one host), and each
 * merges into the index the previous one left, so concurrent publishers never drop each other's
 * APKs. Only `built` builds are published; publishing what the repository already holds from the
 * same inputs changes nothing. A file in the repository never changes bytes: a different file under
 * a published name is refused (ArtifactImmutable), whatever the caller says.
 */
export async function publishBuild(
  tools: ToolsConfig,
  o: { repository: string; build: BuildToPublish; signingKey: string; logFile: string },
): Promise<{ index: string; apks: number }> {
  const { build } = o;
  const repoArch = archDir(o.repository, build.arch);
  const index = indexPath(o.repository, build.arch);
  if (build.status !== 'built') return { index, apks: build.apks.length };
  await mkdir(join(repoArch, '.kiln'), { recursive: true });
  return withDirLock(join(repoArch, '.kiln', 'lock'), async () => {
    const record = recordPath(o.repository, build.arch, build);
    const existing = await publishedRecord(o.repository, build.arch, build);
    // Another run published these very inputs meanwhile: theirs stays.
    if (existing?.inputDigest === build.inputDigest) return { index, apks: build.apks.length };
    const added: BuiltApk[] = [];
    for (const apk of build.apks) {
      const bytes = await readFile(join(build.buildDir, apk.file));
      if (sha256hex(bytes) !== apk.sha256) {
        throw corruptArtifact(`${apk.file} in ${build.buildDir} does not match the digest recorded at build time`);
      }
      const target = join(repoArch, apk.file);
      if (existsSync(target)) {
        const published = sha256hex(await readFile(target));
        if (published === apk.sha256) continue;
        throw failure(
          'ArtifactImmutable',
          `${apk.file} is already published in ${repoArch} with other bytes (sha256 ${published}, this build ${apk.sha256}): ` +
            `a published APK never changes (fix: bump package.epoch of ${build.name} to ${build.epoch + 1} to publish a new build)`,
        );
      }
      added.push(apk);
    }
    // Every file is already there, byte for byte, and recorded: nothing to publish.
    if (existing && !added.length) return { index, apks: build.apks.length };
    for (const apk of added) {
      await replaceFile(join(repoArch, apk.file), (aside) => copyFile(join(build.buildDir, apk.file), aside));
    }
    // Each APK's SBOM with its real files, kept beside it before the index names it (apk/kept-sbom.ts).
    for (const apk of build.apks) await keepPackageSbom(repoArch, apk.file);
    await replaceFile(index, (aside) =>
      melangeIndex(tools, {
        output: aside,
        arch: build.arch,
        apks: build.apks.map((a) => join(repoArch, a.file)),
        mergeFrom: existsSync(index) ? index : undefined,
        signingKey: o.signingKey,
        logFile: o.logFile,
      }),
    );
    const rec: PublishRecord = {
      name: build.name,
      version: build.version,
      epoch: build.epoch,
      inputDigest: build.inputDigest,
      ownDigest: build.ownDigest,
      ...(build.dependencyDigests ? { dependencyDigests: build.dependencyDigests } : {}),
      apks: build.apks,
      publishedAt: new Date().toISOString(),
    };
    await writeFileAtomically(record, JSON.stringify(rec, null, 2));
    return { index, apks: build.apks.length };
  });
}

/**
 * A throwaway repository at `dir` holding just these APKs (hard-linked when possible) and a
 * signed index: what `melange test` installs a just-built, unpublished package from.
 */
export async function stageRepository(
  tools: ToolsConfig,
  o: { dir: string; arch: string; buildDir: string; apks: BuiltApk[]; signingKey: string; logFile: string },
): Promise<void> {
  const repoArch = archDir(o.dir, o.arch);
  await mkdir(repoArch, { recursive: true });
  for (const apk of o.apks) {
    await link(join(o.buildDir, apk.file), join(repoArch, apk.file)).catch(() =>
      copyFile(join(o.buildDir, apk.file), join(repoArch, apk.file)),
    );
  }
  await melangeIndex(tools, {
    output: indexPath(o.dir, o.arch),
    arch: o.arch,
    apks: o.apks.map((a) => join(repoArch, a.file)),
    signingKey: o.signingKey,
    logFile: o.logFile,
  });
}
