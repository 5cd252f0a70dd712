// Checks on a freshly built package, before it is published: its own tests (melange test), the
// signature and SBOM melange packs into every APK, the sonames it provides against the published
// version (ABI guard), and known CVEs from the catalog's feed.
import { createHash, verify } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, link, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { ApplicationFailure } from '@temporalio/common';
import type { Catalog, PackageSpec } from '../domain/catalog.js';
import { parseApkIndex, type ApkIndexEntry } from '../domain/apkindex.js';
import { compareApkVersions } from '../domain/apk-version.js';
import { atomName } from '../domain/plan.js';
import { secdbProblems, vulnerabilities, type Secdb } from '../domain/secdb.js';
import { readTar } from '../domain/tar.js';
import { splitGzipMembers } from '../apk/writer.js';
import { kilnPaths } from '../config/config.js';
import { archDir, melangeIndex, melangeTest } from '../adapters/melange.js';
import type { PackageBuildResult } from './packages.js';
import { readSnapshot } from './snapshot.js';

export interface PackageCheckInput {
  snapshotDir: string;
  build: PackageBuildResult;
}

export interface AbiVerdict {
  verdict: 'first-build' | 'compatible' | 'break-allowed';
  /** `so:` names the published version (main package and subpackages) provided and this build does not. */
  removed: string[];
  /** `so:` names this build provides that the published version did not. */
  added: string[];
  /** Origins that depend on a removed soname: rebuild them against the new one. */
  rebuild: string[];
  /** From catalog.yaml abi.allowedBreaks, when the break is allowed. */
  reason?: string;
}

export interface PackageChecks {
  /** The keyring key whose RSA signature over the control member verified (main APK). */
  signature: { key: string };
  /** The main APK's SBOM (every APK of the build is checked the same way). */
  sbom: { file: string; spdxVersion: string; packages: number };
  abi: AbiVerdict;
  cves: { id: string; fixedIn: string }[];
  cvePolicy: 'none' | 'report' | 'fail';
}

export interface ApkContents {
  /** `.PKGINFO` key -> values (keys such as `provides` and `depend` repeat). */
  pkginfo: Map<string, string[]>;
  /** The data member's files under var/lib/db/sbom/ (the rest is not kept: APKs can be large). */
  sboms: Map<string, Buffer>;
  /** `.SIGN.RSA256.<key>` entry: key file name and signature bytes. */
  signature?: { keyName: string; bytes: Buffer };
  /** The compressed control member, which the signature covers. */
  control?: Buffer;
  /** sha256 (hex) of the compressed data member, which `.PKGINFO` datahash covers. */
  dataSha256?: string;
}

const SBOM_DIR = 'var/lib/db/sbom/';

/** Reads an APK's signature, `.PKGINFO` and SBOM files. */
export async function readApk(path: string): Promise<ApkContents> {
  const out: ApkContents = { pkginfo: new Map(), sboms: new Map() };
  let members: Buffer[];
  try {
    members = splitGzipMembers(await readFile(path));
  } catch (err) {
    throw ApplicationFailure.nonRetryable(`${path}: not a readable APK (${(err as Error).message})`, 'CorruptArtifact');
  }
  const data = createHash('sha256');
  for (const member of members) {
    // Everything after the control member is data.
    if (out.control) data.update(member);
    for (const entry of readTar(gunzipSync(member))) {
      const sig = /^\.SIGN\.RSA256\.(.+)$/.exec(entry.path);
      if (sig) out.signature = { keyName: sig[1]!, bytes: entry.data };
      else if (entry.path === '.PKGINFO') {
        out.control = member;
        for (const line of entry.data.toString('utf8').split('\n')) {
          const m = /^(\w+) = (.*)$/.exec(line);
          if (m) out.pkginfo.set(m[1]!, [...(out.pkginfo.get(m[1]!) ?? []), m[2]!]);
        }
      } else if (entry.type === '0' && entry.path.startsWith(SBOM_DIR)) {
        out.sboms.set(entry.path, entry.data);
      }
    }
  }
  if (out.control && members.indexOf(out.control) < members.length - 1) out.dataSha256 = data.digest('hex');
  return out;
}

function specOf(catalog: Catalog, input: PackageCheckInput): PackageSpec {
  const spec = catalog.packages.find((p) => p.name === input.build.name);
  if (!spec) throw ApplicationFailure.nonRetryable(`package ${input.build.name} is not in catalog snapshot ${input.snapshotDir}`, 'CatalogInvalid');
  return spec;
}

const fullVersion = (b: { version: string; epoch: number }) => `${b.version}-r${b.epoch}`;

/**
 * Runs the config's `test:` pipelines (melange test, bubblewrap) against the just-built APKs.
 * They are not published yet, so a throwaway repository `<tmp>/<arch>/` with a signed index serves
 * them, ahead of the published repository (for the rest of the test environment).
 */
export async function testPackage(input: PackageCheckInput): Promise<{ tested: boolean; logFile?: string }> {
  const { build } = input;
  const catalog = await readSnapshot(input.snapshotDir);
  const spec = specOf(catalog, input);
  // An up-to-date package is the published one, tested when it was built.
  if (!spec.hasTest || build.status === 'up-to-date') return { tested: false };
  const { settings } = catalog;
  const paths = kilnPaths();
  const logFile = join(paths.logs, 'packages', `${build.name}-${fullVersion(build)}-${build.arch}.test.log`);
  // Beside the build dir, so the APKs can be hard-linked rather than copied.
  await mkdir(join(paths.builds, build.arch), { recursive: true });
  const work = await mkdtemp(join(paths.builds, build.arch, `.test-${build.name}-`));
  try {
    const repoArch = archDir(join(work, 'repo'), build.arch);
    await mkdir(repoArch, { recursive: true });
    for (const apk of build.apks) {
      await link(join(build.buildDir, apk.file), join(repoArch, apk.file)).catch(() => copyFile(join(build.buildDir, apk.file), join(repoArch, apk.file)));
    }
    await melangeIndex({
      output: join(repoArch, 'APKINDEX.tar.gz'),
      arch: build.arch,
      apks: build.apks.map((a) => join(repoArch, a.file)),
      signingKey: paths.packageSigningKey,
      logFile,
    });
    // Tests see the package's own sources (packages/<name>/), as its build did.
    const sources = join(input.snapshotDir, dirname(spec.file), spec.name);
    if (!existsSync(sources)) await mkdir(join(work, 'sources'));
    await mkdir(join(work, 'workspace'));
    await melangeTest({
      config: join(input.snapshotDir, spec.file),
      arch: build.arch,
      sourceDir: existsSync(sources) ? sources : join(work, 'sources'),
      workspaceDir: join(work, 'workspace'),
      repositories: [join(work, 'repo'), settings.packageRepository, ...settings.repositories],
      keyring: settings.keyring,
      logFile,
      tmpDir: await mkdir(join(work, 'tmp'), { recursive: true }).then(() => join(work, 'tmp')),
    }).catch((err: unknown) => {
      // A crash or cancellation stays retryable; a test that ran and failed is the package's fault.
      if (!(err instanceof ApplicationFailure) || !err.nonRetryable) throw err;
      throw ApplicationFailure.nonRetryable(
        `${build.name} ${fullVersion(build)} (${build.arch}): its tests failed (test: section of ${spec.file}); ${err.message}`,
        'PackageTestFailed',
      );
    });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return { tested: true, logFile };
}

async function readKey(key: string): Promise<string> {
  if (!/^https?:\/\//.test(key)) return readFile(key, 'utf8');
  const res = await fetch(key, { signal: AbortSignal.timeout(30_000) });
  if (!res.ok) throw ApplicationFailure.retryable(`keyring key ${key} answered ${res.status}`, 'KeyUnavailable');
  return res.text();
}

/**
 * The signature (over the control member) must verify with a key of the catalog's keyring, found
 * by its file name; with `checkData`, the data must also match the control member's datahash:
 * together they vouch for every byte, the SBOM included.
 */
async function checkSignature(apkPath: string, contents: ApkContents, keyring: string[], checkData: boolean): Promise<PackageChecks['signature']> {
  const fail = (what: string): never => {
    throw ApplicationFailure.nonRetryable(`${apkPath}: ${what}`, 'SignatureInvalid');
  };
  if (!contents.signature || !contents.control) return fail('is not signed');
  const { keyName, bytes } = contents.signature;
  const key = keyring.find((k) => basename(k) === keyName);
  if (!key) return fail(`is signed by ${keyName}, which is not in catalog.yaml keyring (fix: add its public key to keyring, or build with the worker's signing key)`);
  if (!verify('sha256', contents.control, await readKey(key), bytes)) fail(`signature by ${keyName} does not verify: .PKGINFO was changed after it was signed`);
  if (!checkData) return { key: keyName };
  const datahash = contents.pkginfo.get('datahash')?.[0];
  if (!datahash) fail('has no datahash in .PKGINFO, so its files are not covered by the signature');
  if (datahash !== contents.dataSha256) fail(`data does not match the signed .PKGINFO datahash: its files were changed after it was signed`);
  return { key: keyName };
}

/**
 * melange writes `var/lib/db/sbom/<name>-<version>-r<epoch>.spdx.json` into every APK it builds:
 * SPDX 2.3 describing (documentDescribes) a package `SPDXRef-Package-apk-<name>-<version>-r<epoch>`
 * with name `<name>` and versionInfo `<version>-r<epoch>`, beside the OS and the melange config.
 */
function checkSbom(apkPath: string, contents: ApkContents, name: string, version: string): PackageChecks['sbom'] {
  const file = `${SBOM_DIR}${name}-${version}.spdx.json`;
  const fail = (what: string): never => {
    throw ApplicationFailure.nonRetryable(`${apkPath}: SBOM ${file} ${what} (fix: build the package with melange, which writes it; do not strip var/lib/db/sbom)`, 'SbomInvalid');
  };
  const bytes = contents.sboms.get(file);
  if (!bytes) return fail(`is missing${contents.sboms.size ? ` (found ${[...contents.sboms.keys()].join(', ')})` : ''}`);
  let doc: { spdxVersion?: unknown; packages?: unknown; documentDescribes?: unknown; relationships?: unknown };
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    return fail(`is not JSON: ${(err as Error).message}`);
  }
  if (doc.spdxVersion !== 'SPDX-2.3') fail(`has spdxVersion ${JSON.stringify(doc.spdxVersion)}, expected "SPDX-2.3"`);
  const packages = Array.isArray(doc.packages) ? (doc.packages as { SPDXID?: unknown; name?: unknown; versionInfo?: unknown }[]) : [];
  const entry = packages.find((p) => p?.name === name && p.versionInfo === version);
  if (!entry) return fail(`has no package entry with name ${name} and versionInfo ${version}`);
  // SPDX 2.3 says what a document is about either way: documentDescribes, or DESCRIBES relationships.
  const describes = [
    ...(Array.isArray(doc.documentDescribes) ? doc.documentDescribes : []),
    ...(Array.isArray(doc.relationships) ? (doc.relationships as { spdxElementId?: unknown; relationshipType?: unknown; relatedSpdxElement?: unknown }[]) : [])
      .filter((r) => r?.spdxElementId === 'SPDXRef-DOCUMENT' && r.relationshipType === 'DESCRIBES')
      .map((r) => r.relatedSpdxElement),
  ];
  if (!describes.includes(entry.SPDXID)) fail(`does not describe its ${name} ${version} package entry (${String(entry.SPDXID)} is not in documentDescribes)`);
  return { file, spdxVersion: 'SPDX-2.3', packages: packages.length };
}

const sonames = (atoms: string[]) => atoms.map(atomName).filter((p) => p.startsWith('so:'));
const sorted = (s: Iterable<string>) => [...new Set(s)].sort();

/** Latest version of each package name in an index (an index may keep older versions). */
function latestByName(entries: ApkIndexEntry[]): Map<string, ApkIndexEntry> {
  const latest = new Map<string, ApkIndexEntry>();
  for (const e of entries) {
    const prior = latest.get(e.name);
    if (!prior || compareApkVersions(e.version, prior.version) > 0) latest.set(e.name, e);
  }
  return latest;
}

/**
 * Compares the sonames this build provides (all its APKs) with what the published packages of
 * the same names (and any published subpackage of the same origin this build no longer makes)
 * provided. Consumers depend on `so:` names, not on which subpackage has them, so a soname moving
 * between subpackages is no break; one that disappears or changes name is.
 */
async function checkAbi(build: PackageBuildResult, apks: { name: string; provides: string[] }[], catalog: Catalog): Promise<AbiVerdict> {
  const { settings } = catalog;
  const index = join(archDir(settings.packageRepository, build.arch), 'APKINDEX.tar.gz');
  const latest = latestByName(existsSync(index) ? parseApkIndex(await readFile(index)) : []);
  const ours = new Set(apks.map((a) => a.name));
  const isOurs = (e: ApkIndexEntry) => ours.has(e.name) || (e.origin ?? e.name) === build.name;
  const published = [...latest.values()].filter(isOurs);
  const now = sorted(apks.flatMap((a) => sonames(a.provides)));
  if (!published.length) return { verdict: 'first-build', removed: [], added: now, rebuild: [] };
  const before = sorted(published.flatMap((e) => sonames(e.provides)));
  const removed = before.filter((s) => !now.includes(s));
  const added = now.filter((s) => !before.includes(s));
  if (!removed.length) return { verdict: 'compatible', removed, added, rebuild: [] };

  const needsRemoved = (deps: string[]) => deps.some((d) => removed.includes(atomName(d)));
  const rebuild = sorted([
    ...[...latest.values()].filter((e) => !isOurs(e) && needsRemoved(e.dependencies)).map((e) => e.origin ?? e.name),
    ...catalog.packages.filter((p) => p.name !== build.name && needsRemoved(p.runtimeDependencies)).map((p) => p.name),
  ]);
  const allowed = settings.abi.allowedBreaks.find((b) => (b.package === build.name || ours.has(b.package)) && b.version === build.version);
  if (allowed) return { verdict: 'break-allowed', removed, added, rebuild, reason: allowed.reason };
  const had = published.filter((e) => sonames(e.provides).some((s) => removed.includes(s))).map((e) => `${e.name} ${e.version}`);
  throw ApplicationFailure.nonRetryable(
    `ABI break in ${build.name} ${fullVersion(build)} (${build.arch}): no longer provides ${removed.join(', ')} (published ${had.join(', ')} did)` +
      `${added.length ? `; now provides ${added.join(', ')}` : ''}. ` +
      `Rebuild against the new soname: ${rebuild.join(', ') || '(no known dependents)'}. ` +
      `(fix: keep providing the old soname, or, if the break is intended, add to catalog.yaml abi.allowedBreaks: ` +
      `- { package: ${build.name}, version: ${build.version}, reason: "..." } and rebuild the dependents)`,
    'AbiBreak',
    { removed, added, rebuild },
  );
}

// Every package of a run checks against the same feed: fetch it once per worker every few minutes.
const FEED_TTL_MS = 10 * 60_000;
const feeds = new Map<string, { at: number; doc: Promise<Secdb> }>();

/**
 * Loads a secdb feed (path or http(s) URL); what is wrong with it names catalog.yaml's field and
 * the feed as `shown` (the catalog-relative path a person wrote, rather than the snapshot's copy).
 */
export function loadFeed(feed: string, shown = feed): Promise<Secdb> {
  const cached = feeds.get(feed);
  if (cached && Date.now() - cached.at < FEED_TTL_MS) return cached.doc;
  const doc = readFeed(feed, shown);
  feeds.set(feed, { at: Date.now(), doc });
  // A failure is not remembered: the next package asks again.
  doc.catch(() => {
    if (feeds.get(feed)?.doc === doc) feeds.delete(feed);
  });
  return doc;
}

async function readFeed(feed: string, shown: string): Promise<Secdb> {
  const fail = (what: string): never => {
    throw ApplicationFailure.nonRetryable(
      `catalog.yaml: vulnerabilities.feed: ${shown} ${what} (fix: point vulnerabilities.feed at a security.json in Wolfi's secdb shape)`,
      'FeedInvalid',
    );
  };
  let text: string;
  if (/^https?:\/\//.test(feed)) {
    // Unreachable or overloaded is worth retrying; any other answer is the URL's fault.
    const res = await fetch(feed, { signal: AbortSignal.timeout(60_000) }).catch((err: Error) => {
      throw ApplicationFailure.retryable(`catalog.yaml: vulnerabilities.feed: ${feed} is unreachable: ${err.message}`, 'FeedUnavailable');
    });
    if (res.status >= 500 || res.status === 429) throw ApplicationFailure.retryable(`catalog.yaml: vulnerabilities.feed: ${feed} answered ${res.status}`, 'FeedUnavailable');
    if (!res.ok) fail(`answered ${res.status}`);
    text = await res.text();
  } else {
    text = await readFile(feed, 'utf8').catch((err: NodeJS.ErrnoException) => fail(err.code === 'ENOENT' ? 'does not exist' : `cannot be read: ${err.message}`));
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    fail(`is not JSON: ${(err as Error).message}`);
  }
  const problems = secdbProblems(doc);
  if (problems.length) fail(`is not a secdb feed: ${problems.slice(0, 5).join('; ')}${problems.length > 5 ? ` (and ${problems.length - 5} more)` : ''}`);
  return doc as Secdb;
}

/**
 * Signature, SBOM, ABI and CVE checks of one build. CVE policy `fail` fails on any unfixed CVE
 * whatever `failOn` says: secdb records which version fixed what, not how severe it was.
 */
export async function checkPackage(input: PackageCheckInput): Promise<PackageChecks> {
  const { build } = input;
  const catalog = await readSnapshot(input.snapshotDir);
  specOf(catalog, input);
  const { settings } = catalog;
  const mainFile = `${build.name}-${fullVersion(build)}.apk`;
  const files = sorted([mainFile, ...build.apks.map((a) => a.file)]);
  let signature: PackageChecks['signature'] | undefined;
  let sbom: PackageChecks['sbom'] | undefined;
  const apks: { name: string; provides: string[] }[] = [];
  for (const file of files) {
    const path = join(build.buildDir, file);
    const contents = await readApk(path);
    const name = contents.pkginfo.get('pkgname')?.[0];
    const version = contents.pkginfo.get('pkgver')?.[0];
    if (!name || !version) throw ApplicationFailure.nonRetryable(`${path}: .PKGINFO has no pkgname or pkgver`, 'CorruptArtifact');
    // A published (up-to-date) APK's data is checked by apk/apko on every install, where a
    // tampered one fails the image naming the package; here only new builds are vouched for.
    const sig = await checkSignature(path, contents, settings.keyring, build.status === 'built');
    const doc = checkSbom(path, contents, name, version);
    if (file === mainFile) [signature, sbom] = [sig, doc];
    apks.push({ name, provides: contents.pkginfo.get('provides') ?? [] });
  }
  const abi: AbiVerdict = build.status === 'up-to-date'
    ? { verdict: 'compatible', removed: [], added: [], rebuild: [] }
    : await checkAbi(build, apks, catalog);
  const checks = { signature: signature!, sbom: sbom!, abi };
  if (!settings.vulnerabilities) return { ...checks, cves: [], cvePolicy: 'none' };
  const { feed } = settings.vulnerabilities;
  const inCatalog = relative(input.snapshotDir, feed);
  const shown = isAbsolute(feed) && !inCatalog.startsWith('..') ? inCatalog : feed;
  const cves = vulnerabilities(await loadFeed(feed, shown), build.name, fullVersion(build));
  if (cves.length && settings.vulnerabilities.policy === 'fail') {
    throw ApplicationFailure.nonRetryable(
      `${build.name} ${fullVersion(build)} has known, unfixed vulnerabilities: ${cves.map((c) => `${c.id} (fixed in ${c.fixedIn})`).join(', ')} ` +
        `(fix: upgrade to a fixed version, or set catalog.yaml vulnerabilities.policy: report)`,
      'VulnerabilityPolicy',
      { cves },
    );
  }
  return { ...checks, cves, cvePolicy: settings.vulnerabilities.policy };
}
