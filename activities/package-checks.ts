// Checks on a freshly built package, before it is published: its own tests (melange test), the
// SBOM melange packs into it, the ABI it provides against the published version, and known CVEs.
import { verify } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { ApplicationFailure } from '@temporalio/common';
import type { CatalogSettings } from '../domain/catalog.js';
import { parseApkIndex } from '../domain/catalog-loader.js';
import { atomName } from '../domain/plan.js';
import { secdbProblems, vulnerabilities, type Secdb } from '../domain/secdb.js';
import { readTar } from '../domain/tar.js';
import { splitGzipMembers } from './apk-writer.js';
import { kilnPaths } from './env.js';
import { archDir, melangeIndex, melangeTest } from './melange.js';
import type { PackageBuildResult } from './packages.js';
import { readSnapshot } from './snapshot.js';

export interface AbiVerdict {
  verdict: 'first-build' | 'compatible' | 'break-allowed';
  /** Sonames the published version provided and this build does not. */
  removed: string[];
  added: string[];
  /** Packages that link against a removed soname: rebuild them against the new one. */
  rebuild: string[];
  reason?: string;
}

export interface PackageChecks {
  /** The keyring key whose RSA signature over the control member verified. */
  signature: { key: string };
  sbom: { file: string; spdxVersion: string; packages: number };
  abi: AbiVerdict;
  cves: { id: string; fixedIn: string }[];
  cvePolicy: 'none' | 'report' | 'fail';
}

interface ApkContents {
  pkginfo: Map<string, string[]>;
  files: Map<string, Buffer>;
  /** `.SIGN.RSA256.<key>.pub` entry name and bytes, and the compressed control member it signs. */
  signature?: { keyName: string; bytes: Buffer };
  control?: Buffer;
}

/** Reads an APK: `.PKGINFO` (key -> values) and the data member's regular files. */
export async function readApk(path: string): Promise<ApkContents> {
  const members = splitGzipMembers(await readFile(path));
  const pkginfo = new Map<string, string[]>();
  const files = new Map<string, Buffer>();
  const out: ApkContents = { pkginfo, files };
  for (const member of members) {
    for (const entry of readTar(gunzipSync(member))) {
      const sig = /^\.SIGN\.RSA256\.(.+)$/.exec(entry.path);
      if (sig) out.signature = { keyName: sig[1]!, bytes: entry.data };
      if (entry.path === '.PKGINFO') {
        out.control = member;
        for (const line of entry.data.toString('utf8').split('\n')) {
          const m = /^(\w+) = (.*)$/.exec(line);
          if (m) pkginfo.set(m[1]!, [...(pkginfo.get(m[1]!) ?? []), m[2]!]);
        }
      } else if (entry.type === '0' && !entry.path.startsWith('.')) {
        files.set(entry.path, entry.data);
      }
    }
  }
  return out;
}

/** The package signature must verify with a key of the catalog's keyring, found by its file name. */
async function checkSignature(apkPath: string, contents: ApkContents, keyring: string[]): Promise<PackageChecks['signature']> {
  const fail = (what: string): never => {
    throw ApplicationFailure.nonRetryable(`${apkPath}: ${what}`, 'SignatureInvalid');
  };
  if (!contents.signature || !contents.control) return fail('is not signed');
  const key = keyring.find((k) => basename(k) === contents.signature!.keyName);
  if (!key) return fail(`is signed by ${contents.signature.keyName}, which is not in catalog.yaml keyring`);
  const ok = verify('sha256', contents.control, await readFile(key, 'utf8'), contents.signature.bytes);
  if (!ok) fail(`signature by ${contents.signature.keyName} does not verify`);
  return { key: contents.signature.keyName };
}

const sonames = (provides: string[]) => [...new Set(provides.map(atomName).filter((p) => p.startsWith('so:')))].sort();
const apkFile = (b: { name: string; version: string; epoch: number }) => `${b.name}-${b.version}-r${b.epoch}.apk`;

/** Runs the config's `test:` pipelines against the just-built APKs (not yet published). */
export async function testPackage(input: { snapshotDir: string; build: PackageBuildResult }): Promise<{ tested: boolean; logFile?: string }> {
  const { build } = input;
  const catalog = await readSnapshot(input.snapshotDir);
  const spec = catalog.packages.find((p) => p.name === build.name)!;
  // An up-to-date package was tested when it was built.
  if (!spec.hasTest || build.status === 'up-to-date') return { tested: false };
  const paths = kilnPaths();
  // The build dir is `<root>/<arch>/`: index it so melange test can install from it first.
  await melangeIndex({
    output: join(build.buildDir, 'APKINDEX.tar.gz'),
    arch: build.arch,
    apks: build.apks.map((a) => join(build.buildDir, a.file)),
    signingKey: paths.packageSigningKey,
    logFile: join(paths.logs, 'packages', `${build.name}-test-index.log`),
  });
  const logFile = join(paths.logs, 'packages', `${build.name}-${build.version}-r${build.epoch}-${build.arch}.test.log`);
  const work = join(build.buildDir, '..', '..');
  await mkdir(join(work, 'test-sources'), { recursive: true });
  await mkdir(join(work, 'test-workspace'), { recursive: true });
  try {
    await melangeTest({
      config: join(input.snapshotDir, spec.file),
      arch: build.arch,
      sourceDir: join(work, 'test-sources'),
      workspaceDir: join(work, 'test-workspace'),
      repositories: [join(build.buildDir, '..'), catalog.settings.packageRepository, ...catalog.settings.repositories],
      keyring: catalog.settings.keyring,
      logFile,
    });
  } catch (err) {
    const failure = err as ApplicationFailure;
    throw ApplicationFailure.nonRetryable(`tests of ${spec.file} failed: ${failure.message}`, failure.type ?? 'PackageTestFailed');
  }
  return { tested: true, logFile };
}

async function checkSbom(apkPath: string, contents: ApkContents, build: PackageBuildResult): Promise<PackageChecks['sbom']> {
  const file = `var/lib/db/sbom/${build.name}-${build.version}-r${build.epoch}.spdx.json`;
  const fail = (what: string) => {
    throw ApplicationFailure.nonRetryable(`${apkPath}: SBOM ${file} ${what} (fix: build with melange, which writes it; do not strip var/lib/db/sbom)`, 'SbomInvalid');
  };
  const bytes = contents.files.get(file);
  if (!bytes) return fail('is missing');
  let doc: { spdxVersion?: string; packages?: { name?: string; versionInfo?: string }[] };
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    return fail(`is not JSON: ${(err as Error).message}`);
  }
  if (doc.spdxVersion !== 'SPDX-2.3') fail(`has spdxVersion ${JSON.stringify(doc.spdxVersion)}, expected "SPDX-2.3"`);
  const version = `${build.version}-r${build.epoch}`;
  if (!doc.packages?.some((p) => p.name === build.name && p.versionInfo === version)) fail(`does not describe ${build.name} ${version}`);
  return { file, spdxVersion: doc.spdxVersion!, packages: doc.packages!.length };
}

async function checkAbi(contents: ApkContents, build: PackageBuildResult, settings: CatalogSettings, catalogRuntime: Map<string, string[]>): Promise<AbiVerdict> {
  const index = join(archDir(settings.packageRepository, build.arch), 'APKINDEX.tar.gz');
  const entries = existsSync(index) ? parseApkIndex(await readFile(index)) : [];
  const published = entries.find((e) => e.name === build.name);
  const now = sonames(contents.pkginfo.get('provides') ?? []);
  if (!published) return { verdict: 'first-build', removed: [], added: now, rebuild: [] };
  const before = sonames(published.provides);
  const removed = before.filter((s) => !now.includes(s));
  const added = now.filter((s) => !before.includes(s));
  if (!removed.length) return { verdict: 'compatible', removed, added, rebuild: [] };
  const needs = (deps: string[]) => deps.map(atomName).some((d) => removed.includes(d));
  const rebuild = [...new Set([
    ...entries.filter((e) => e.name !== build.name && needs(e.dependencies)).map((e) => e.name),
    ...[...catalogRuntime].filter(([n, deps]) => n !== build.name && needs(deps)).map(([n]) => n),
  ])].sort();
  const allowed = settings.abi.allowedBreaks.find((b) => b.package === build.name && b.version === build.version);
  if (allowed) return { verdict: 'break-allowed', removed, added, rebuild, reason: allowed.reason };
  throw ApplicationFailure.nonRetryable(
    `ABI break in ${build.name} ${build.version}-r${build.epoch}: ${removed.join(', ')} no longer provided (published ${published.version} had it)` +
      `${added.length ? `; now provides ${added.join(', ')}` : ''}. Rebuild against the new soname: ${rebuild.join(', ') || '(no known dependents)'}. ` +
      `(fix: if the break is intended, add to catalog.yaml abi.allowedBreaks: - { package: ${build.name}, version: ${build.version}, reason: "..." })`,
    'AbiBreak',
    { removed, added, rebuild },
  );
}

/** Loads a secdb feed from a path or URL; what is wrong with it names catalog.yaml's field. */
export async function loadFeed(feed: string): Promise<Secdb> {
  const fail = (what: string): never => {
    throw ApplicationFailure.nonRetryable(`catalog.yaml: vulnerabilities.feed: ${feed} ${what} (fix: point it at a security.json in Wolfi's secdb shape)`, 'FeedInvalid');
  };
  let text: string;
  if (/^https?:\/\//.test(feed)) {
    const res = await fetch(feed).catch((err: Error) => {
      throw ApplicationFailure.retryable(`vulnerability feed ${feed} unreachable: ${err.message}`, 'FeedUnavailable');
    });
    if (res.status >= 500 || res.status === 429) throw ApplicationFailure.retryable(`vulnerability feed ${feed} answered ${res.status}`, 'FeedUnavailable');
    if (!res.ok) fail(`answered ${res.status}`);
    text = await res.text();
  } else {
    if (!existsSync(feed)) fail('does not exist');
    text = await readFile(feed, 'utf8');
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    fail(`is not JSON: ${(err as Error).message}`);
  }
  const problems = secdbProblems(doc);
  if (problems.length) fail(`is malformed: ${problems.slice(0, 5).join('; ')}`);
  return doc as Secdb;
}

export async function checkPackage(input: { snapshotDir: string; build: PackageBuildResult }): Promise<PackageChecks> {
  const { build } = input;
  const catalog = await readSnapshot(input.snapshotDir);
  const { settings } = catalog;
  const apkPath = join(build.buildDir, apkFile(build));
  const contents = await readApk(apkPath);
  const signature = await checkSignature(apkPath, contents, settings.keyring);
  const sbom = await checkSbom(apkPath, contents, build);
  // An up-to-date package is the published one: nothing to compare its ABI against.
  const abi: AbiVerdict = build.status === 'up-to-date'
    ? { verdict: 'compatible', removed: [], added: [], rebuild: [] }
    : await checkAbi(contents, build, settings, new Map(catalog.packages.map((p) => [p.name, p.runtimeDependencies])));
  if (!settings.vulnerabilities) return { signature, sbom, abi, cves: [], cvePolicy: 'none' };
  const cves = vulnerabilities(await loadFeed(settings.vulnerabilities.feed), build.name, `${build.version}-r${build.epoch}`);
  if (cves.length && settings.vulnerabilities.policy === 'fail') {
    // secdb carries no severities, so for packages policy `fail` means any known, unfixed CVE.
    throw ApplicationFailure.nonRetryable(
      `${build.name} ${build.version}-r${build.epoch} has known vulnerabilities: ${cves.map((c) => `${c.id} (fixed in ${c.fixedIn})`).join(', ')} ` +
        `(fix: upgrade to a fixed version, or set catalog.yaml vulnerabilities.policy: report)`,
      'VulnerabilityPolicy',
    );
  }
  return { signature, sbom, abi, cves, cvePolicy: settings.vulnerabilities.policy };
}
