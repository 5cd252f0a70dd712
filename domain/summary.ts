// The result of a catalog rebuild: what a person reads at the end of a run, and what the Web UI
// shows as the workflow's result. Plain data, shared by workflows and the CLI.
import { describeLimitWait, type LimitWait } from './host-limits.js';
import { describeSource, type SourceCheck } from './source.js';
import { describeTarget, type RunTarget } from './target.js';

/**
 * `built`: built and published now. `up-to-date`: the published build is kept (same inputs, or only
 * its dependencies changed: see `dependenciesChanged`). `reproduced` / `not-reproducible`: a
 * forced rebuild whose APKs are / are not byte-identical to the published ones, which stay as they are.
 */
export type PackageStatus = 'built' | 'up-to-date' | 'reproduced' | 'not-reproducible' | 'failed' | 'blocked';
export type ImageStatus = 'published' | 'unchanged' | 'failed' | 'blocked';

export interface PackageOutcome {
  name: string;
  version: string;
  epoch: number;
  status: PackageStatus;
  /** Input digest per arch: config, sources, dependencies, melange version. */
  inputDigests?: Record<string, string>;
  /** APK files with their sha256, per arch. */
  apks?: Record<string, { file: string; sha256: string }[]>;
  /** melange test ran and passed. */
  tested?: boolean;
  /** Key that signed it, SBOM found, ABI verdict (first arch), known CVEs. */
  signedBy?: string;
  sbom?: boolean;
  abi?: { verdict: string; removed: string[]; rebuild: string[]; reason?: string };
  vulnerabilities?: { id: string; fixedIn: string }[];
  /** Catalog packages it builds against that changed since its published build (which is kept). */
  dependenciesChanged?: string[];
  /** A forced rebuild compared with the published APKs (first arch that differs, else the first). */
  reproducibility?: Reproducibility;
  /** The new epoch kiln committed for it because a library it links broke its ABI. */
  epochBump?: { epoch: number; branch: string; commit: string };
  durationMs: number;
  error?: string;
  /** For a blocked package: the failed package it waits on. */
  blockedBy?: string;
}

/** How one APK of a forced rebuild differs from the published file of the same name. */
export interface ApkDifference {
  file: string;
  /** Sizes in bytes; absent on the side that has no such file. */
  publishedSize?: number;
  rebuiltSize?: number;
  publishedSha256?: string;
  rebuiltSha256?: string;
  /** Tar entries (signature, control and data members) whose content differs, by path. */
  entries: { path: string; change: 'changed' | 'only-published' | 'only-rebuilt' }[];
}

/** A forced rebuild against the published build of the same version and epoch. */
export interface Reproducibility {
  identical: boolean;
  differences: ApkDifference[];
  /** Where the rebuilt APKs are kept for a look, when they differ. */
  rebuiltDir?: string;
}

/**
 * Reverse dependencies that must be rebuilt because a library's allowed ABI break removed sonames
 * they link: kiln commits their bumped `package.epoch` (a branch of the catalog's repository), or
 * says why it could not (`error`).
 */
export interface EpochBump {
  /** `<library> <version-rN> no longer provides <sonames>`. */
  because: string;
  packages: { name: string; file?: string; epoch: number; newEpoch?: number }[];
  /** Dependents that are not in this catalog (published by someone else): not bumped. */
  notInCatalog: string[];
  branch?: string;
  commit?: string;
  /** The catalog directory on that branch (a worktree), to review or build from. */
  catalogDir?: string;
  error?: string;
}

export interface ImageOutcome {
  name: string;
  status: ImageStatus;
  /** `registry/path@sha256:...` */
  reference?: string;
  digest?: string;
  tags: string[];
  /** Installed packages (name-version), from the image's APK database. */
  packages?: string[];
  /** Uncompressed root filesystem size (absent when it was not assembled). */
  sizeBytes?: number;
  /** Built from the same inputs as the published image: recognised without assembling it. */
  inputsUnchanged?: boolean;
  /**
   * Whether its packages were checked against the catalog's vulnerability feed. False: the catalog
   * configures no feed, so nothing was scanned and no vulnerability attestation was made ("not
   * scanned", never "no CVEs"). Unset when the image failed before or without a result.
   */
  scanned?: boolean;
  /** Known CVEs of its packages (reported, or the reason it failed under policy `fail`). */
  vulnerabilities?: { id: string; package: string; origin?: string; fixedIn: string; severity: string }[];
  /**
   * Tags this run left where they were: they point at an image whose provenance records a newer
   * catalog than this run's (another run published it meanwhile).
   */
  tagsKept?: { tag: string; digest: string }[];
  /** Against the image the tag pointed at before this run, when it changed. */
  diff?: { previous: string; sizeDelta: number; added: string[]; removed: string[]; changed: string[] };
  durationMs: number;
  error?: string;
  blockedBy?: string;
}

export interface RebuildSummary {
  workflowId: string;
  runId: string;
  catalogDigest: string;
  gitCommit?: string;
  /** Where this run published: production, or a staging repository and registry namespace (unreviewed). */
  target?: RunTarget;
  /** Who signed the commit it built, or why the source is unverified. */
  source?: SourceCheck;
  startedAt: string;
  finishedAt: string;
  packages: PackageOutcome[];
  images: ImageOutcome[];
  /** Epoch bumps committed (or needed) after allowed ABI breaks. */
  epochBumps?: EpochBump[];
  /** True when every package and image succeeded (a not-reproducible rebuild or a failed epoch bump is a failure). */
  ok: boolean;
  /** The run's HTML report on the worker that wrote it (activities/run-report.ts), when it could be written. */
  report?: { path: string; timeline: 'stages' | 'durations' };
  /** Run ids of the earlier runs of this rebuild, oldest first, when it continued-as-new (`runId` is the last). */
  continuedFrom?: string[];
  /** What the run waited on each host catalog.yaml `rateLimits:` limits (when it had to wait). */
  limits?: LimitWait[];
}

/** A package outcome that leaves the repository as it should be (a not-reproducible rebuild does not). */
export const packageOk = (p: PackageOutcome): boolean =>
  p.status === 'built' || p.status === 'up-to-date' || p.status === 'reproduced';

/** The package counts a run's memo shows; reproducibility counts only when a forced rebuild made any. */
export function packageCounts(packages: { status: PackageStatus }[]): string {
  const n = (...statuses: PackageStatus[]) => packages.filter((p) => statuses.includes(p.status)).length;
  const reproducibility = n('reproduced', 'not-reproducible')
    ? `, ${n('reproduced')} reproduced, ${n('not-reproducible')} not reproducible`
    : '';
  return `${n('built')} built, ${n('up-to-date')} up to date${reproducibility}, ${n('failed', 'blocked')} failed or blocked`;
}

/** The epoch bumps a run's memo shows: who, and on which branch (or that it was not committed). */
export const epochBumpsMemo = (bumps: EpochBump[]): string =>
  bumps.map((b) => `${b.packages.map((p) => p.name).join(' ')}: ${b.branch ?? 'NOT COMMITTED'}`).join('; ');

function duration(ms: number): string {
  return ms >= 60_000
    ? `${Math.floor(ms / 60_000)}m${Math.round((ms % 60_000) / 1000)}s`
    : `${(ms / 1000).toFixed(1)}s`;
}

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) =>
    r
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd(),
  );
}

function count<T extends string>(items: { status: T }[]): string {
  const by = new Map<string, number>();
  for (const i of items) by.set(i.status, (by.get(i.status) ?? 0) + 1);
  return [...by].map(([s, n]) => `${n} ${s}`).join(', ') || 'none';
}

function packageDetail(p: PackageOutcome): string {
  const parts = [
    Object.values(p.apks ?? {})
      .flat()
      .map((a) => `${a.file} ${a.sha256.slice(0, 12)}`)
      .join(', '),
  ];
  if (p.dependenciesChanged?.length)
    parts.push(`published build kept, its dependencies changed since: ${p.dependenciesChanged.join(' ')}`);
  const r = p.reproducibility;
  if (r && !r.identical)
    parts.push(
      `differs from the published build: ${r.differences.map(difference).join('; ')}${r.rebuiltDir ? ` (rebuilt APKs in ${r.rebuiltDir})` : ''}`,
    );
  if (p.vulnerabilities?.length)
    parts.push(`CVEs: ${p.vulnerabilities.map((v) => `${v.id} (fixed in ${v.fixedIn})`).join(' ')}`);
  if (p.abi?.removed.length)
    parts.push(`ABI: removed ${p.abi.removed.join(' ')}; rebuild ${p.abi.rebuild.join(' ') || '-'}`);
  if (p.epochBump) parts.push(`epoch ${p.epochBump.epoch} committed on ${p.epochBump.branch}`);
  return parts.join('; ');
}

function difference(d: ApkDifference): string {
  const paths = d.entries.map((e) => (e.change === 'changed' ? e.path : `${e.path} (${e.change})`));
  const shown = paths.length > 6 ? [...paths.slice(0, 6), `${paths.length - 6} more`] : paths;
  return `${d.file} ${d.publishedSize ?? 'absent'} -> ${d.rebuiltSize ?? 'absent'} bytes${shown.length ? `, differing: ${shown.join(', ')}` : ''}`;
}

function epochBumpLines(bumps: EpochBump[]): string[] {
  if (!bumps.length) return [];
  const lines = ['', 'Epoch bumps (allowed ABI breaks; published builds are never replaced):'];
  for (const b of bumps) {
    const names = b.packages.map((p) => `${p.name} ${p.epoch} -> ${p.newEpoch ?? p.epoch + 1}`).join(', ');
    const outside = b.notInCatalog.length ? `; not in this catalog: ${b.notInCatalog.join(' ')}` : '';
    lines.push(
      b.error
        ? `  ${b.because}: ${names || '-'}${outside}: NOT COMMITTED: ${b.error.split('\n')[0]!}`
        : `  ${b.because}: ${names || '-'}${outside}${b.branch ? ` on branch ${b.branch} (commit ${b.commit?.slice(0, 12)})` : ''}`,
    );
  }
  return lines;
}

function imageDetail(i: ImageOutcome): string {
  const parts = [`${i.reference ?? ''} tags: ${i.tags.join(',')}`];
  if (i.inputsUnchanged) parts.push('inputs unchanged (not rebuilt)');
  if (i.tagsKept?.length)
    parts.push(
      `kept ${i.tagsKept.map((k) => `${k.tag} at ${k.digest.slice(7, 19)}`).join(', ')} (built from a newer catalog)`,
    );
  if (i.vulnerabilities?.length) parts.push(`CVEs: ${i.vulnerabilities.map((v) => v.id).join(' ')}`);
  if (i.diff) {
    const d = i.diff;
    const kib = Math.round(d.sizeDelta / 1024);
    parts.push(
      `vs ${d.previous.slice(7, 19)}: ${kib >= 0 ? '+' : ''}${kib} KiB${[...d.added.map((n) => ` +${n}`), ...d.removed.map((n) => ` -${n}`), ...d.changed.map((n) => ` ~${n}`)].join('')}`,
    );
  }
  return parts.join('; ');
}

/** A summary a person reads at a glance: one line per package and image, then what went wrong. */
export function formatSummary(s: RebuildSummary, webUi?: string): string {
  const lines: string[] = [];
  const took = duration(Date.parse(s.finishedAt) - Date.parse(s.startedAt));
  lines.push(`kiln catalog rebuild ${s.ok ? 'succeeded' : 'FINISHED WITH FAILURES'} in ${took}`);
  lines.push(`  catalog ${s.catalogDigest.slice(0, 12)}${s.gitCommit ? ` (git ${s.gitCommit.slice(0, 12)})` : ''}`);
  if (s.source) lines.push(`  source  ${describeSource(s.source)}`);
  if (s.target) lines.push(`  target  ${describeTarget(s.target)}`);
  if (webUi)
    lines.push(`  run     ${webUi}/namespaces/default/workflows/${encodeURIComponent(s.workflowId)}/${s.runId}`);
  if (s.report) lines.push(`  report  file://${s.report.path}`);
  if (s.continuedFrom?.length)
    lines.push(`  runs    ${s.continuedFrom.length + 1} (continued as new ${s.continuedFrom.length} times)`);
  for (const l of s.limits ?? []) lines.push(`  limits  ${describeLimitWait(l)}`);
  lines.push('', `Packages: ${count(s.packages)}`);
  lines.push(
    ...table([
      ['  NAME', 'VERSION', 'STATUS', 'TIME', 'TESTS', 'ABI', 'SBOM', 'CVES', 'SIGNED', 'DETAIL'],
      ...s.packages.map((p) => [
        `  ${p.name}`,
        `${p.version}-r${p.epoch}`,
        p.status,
        duration(p.durationMs),
        p.tested ? 'passed' : '-',
        p.abi?.verdict ?? '-',
        p.sbom ? 'yes' : '-',
        p.vulnerabilities ? String(p.vulnerabilities.length) : '-',
        p.signedBy ?? '-',
        p.blockedBy ? `blocked by ${p.blockedBy}` : p.error ? p.error.split('\n')[0]!.slice(0, 100) : packageDetail(p),
      ]),
    ]),
  );
  lines.push(...epochBumpLines(s.epochBumps ?? []));
  lines.push('', `Images: ${count(s.images)}`);
  lines.push(
    ...table([
      ['  NAME', 'STATUS', 'TIME', 'CVES', 'REFERENCE / DETAIL'],
      ...s.images.map((i) => [
        `  ${i.name}`,
        i.status,
        duration(i.durationMs),
        i.scanned === false ? 'not scanned' : i.scanned ? String(i.vulnerabilities?.length ?? 0) : '-',
        i.blockedBy ? `blocked by ${i.blockedBy}` : i.error ? i.error.split('\n')[0]!.slice(0, 100) : imageDetail(i),
      ]),
    ]),
  );
  const failures = [...s.packages, ...s.images].filter((x) => x.error);
  if (failures.length) {
    lines.push('', 'Failures:');
    for (const f of failures)
      lines.push(
        `  ${f.name}:`,
        ...f
          .error!.split('\n')
          .slice(0, 30)
          .map((l) => `    ${l}`),
      );
  }
  return lines.join('\n');
}
