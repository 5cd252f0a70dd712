// The result of a catalog rebuild: what a person reads at the end of a run, and what the Web UI
// shows as the workflow's result. Plain data, shared by workflows and the CLI.

export type PackageStatus = 'built' | 'up-to-date' | 'failed' | 'blocked';
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
  durationMs: number;
  error?: string;
  /** For a blocked package: the failed package it waits on. */
  blockedBy?: string;
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
  /** Uncompressed root filesystem size. */
  sizeBytes?: number;
  /** Known CVEs of its packages (reported, or the reason it failed under policy `fail`). */
  vulnerabilities?: { id: string; package: string; fixedIn: string; severity: string }[];
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
  startedAt: string;
  finishedAt: string;
  packages: PackageOutcome[];
  images: ImageOutcome[];
  /** True when every package and image succeeded. */
  ok: boolean;
}

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
  if (p.vulnerabilities?.length)
    parts.push(`CVEs: ${p.vulnerabilities.map((v) => `${v.id} (fixed in ${v.fixedIn})`).join(' ')}`);
  if (p.abi?.removed.length)
    parts.push(`ABI: removed ${p.abi.removed.join(' ')}; rebuild ${p.abi.rebuild.join(' ') || '-'}`);
  return parts.join('; ');
}

function imageDetail(i: ImageOutcome): string {
  const parts = [`${i.reference ?? ''} tags: ${i.tags.join(',')}`];
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
  if (webUi)
    lines.push(`  run     ${webUi}/namespaces/default/workflows/${encodeURIComponent(s.workflowId)}/${s.runId}`);
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
  lines.push('', `Images: ${count(s.images)}`);
  lines.push(
    ...table([
      ['  NAME', 'STATUS', 'TIME', 'REFERENCE / DETAIL'],
      ...s.images.map((i) => [
        `  ${i.name}`,
        i.status,
        duration(i.durationMs),
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
