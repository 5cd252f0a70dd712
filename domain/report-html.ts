// The run report, pure: one static HTML page per catalogRebuild run, from its summary and (when its
// history could be read) its timeline. No script, no outside resource: a Content-Security-Policy
// allows inline styles only. Every value is escaped: package, image, tag and CVE names come from
// catalogs and feeds, errors from tools. activities/run-report.ts writes it under the state directory.
import { describeSource } from './source.js';
import { describeTarget } from './target.js';
import type { ChildSpan, RunTimeline, StageSpan } from './run-timeline.js';
import { spanEnd } from './run-timeline.js';
import type { ImageOutcome, PackageOutcome, RebuildSummary } from './summary.js';
import { packageOk } from './summary.js';

export interface RunReportInput {
  summary: RebuildSummary;
  /** The Temporal Web UI's base URL (config.temporal.webUi): links to the run and its workflows. */
  webUi?: string;
  /** The run's namespace (config.temporal.namespace). */
  namespace: string;
  /** The run's stages from its history; without it the report draws each item's duration only. */
  timeline?: RunTimeline;
  /** Why there is no timeline, or what is missing from it (shown above the timeline). */
  timelineNote?: string;
  /** When the report was written (RFC 3339). */
  generatedAt: string;
}

// ---------------------------------------------------------------------------------------------
// Escaping: text goes through html`...`, which escapes every interpolated value unless it is
// already Html. Nothing reaches the page any other way.

/** Markup that is already safe: made only by html`...` below. */
class Html {
  constructor(readonly text: string) {}
}

type Part = Html | string | number | boolean | null | undefined | readonly Part[];

/** `& < > " '` as character references: safe in text and in quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function renderPart(p: Part): string {
  if (p instanceof Html) return p.text;
  if (Array.isArray(p)) return p.map(renderPart).join('');
  if (p === null || p === undefined || p === false || p === true) return '';
  return escapeHtml(String(p));
}

function html(strings: TemplateStringsArray, ...values: Part[]): Html {
  return new Html(strings.reduce((out, s, i) => out + s + (i < values.length ? renderPart(values[i]) : ''), ''));
}

/**
 * A Web UI link to a workflow run, in formatSummary's form
 * (`<webUi>/namespaces/<ns>/workflows/<workflowId>/<runId>`); none unless the base is http(s).
 */
export function workflowUrl(
  webUi: string | undefined,
  namespace: string,
  workflowId: string,
  runId?: string,
): string | undefined {
  if (!webUi || !/^https?:\/\/[^\s"'<>]+$/i.test(webUi)) return undefined;
  const base = webUi.replace(/\/+$/, '');
  const run = runId ? `/${encodeURIComponent(runId)}` : '';
  return `${base}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}${run}`;
}

const link = (href: string | undefined, text: Part, cls?: string): Html =>
  href ? html`<a href="${href}" ${cls ? html` class="${cls}"` : ''}>${text}</a>` : html`${text}`;

// ---------------------------------------------------------------------------------------------

/** `0.4s`, `12.3s`, `3m05s`, `1h02m`. */
export function took(ms: number): string {
  const s = Math.max(0, ms) / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

const GOOD = new Set(['built', 'up-to-date', 'reproduced', 'published', 'unchanged', 'ok', 'success']);
const BAD = new Set(['failed', 'not-reproducible', 'timed-out', 'terminated', 'failures']);

/** A status as a person reads it: the word itself, coloured (never colour alone). */
function badge(status: string): Html {
  const tone = GOOD.has(status) ? 'good' : BAD.has(status) ? 'bad' : status === 'blocked' ? 'warn' : 'neutral';
  return html`<span class="badge ${tone}" data-status="${status}">${status}</span>`;
}

const code = (text: Part, title?: string) => html`<code${title ? html` title="${title}"` : ''}>${text}</code>`;
const short = (digest: string) => (digest.startsWith('sha256:') ? digest.slice(7, 19) : digest.slice(0, 12));
const kib = (bytes: number) => `${bytes >= 0 ? '+' : '-'}${Math.round(Math.abs(bytes) / 1024)} KiB`;
const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
const firstLine = (text: string) => text.split('\n')[0]!.slice(0, 200);

function countLine(items: { status: string }[]): Html {
  const by = new Map<string, number>();
  for (const i of items) by.set(i.status, (by.get(i.status) ?? 0) + 1);
  if (!by.size) return html`none`;
  return html`${[...by].map(([status, n], i) => html`${i ? ', ' : ''}${n} ${badge(status)}`)}`;
}

// ---------------------------------------------------------------------------------------------
// The timeline.

/** kiln's stages in pipeline order: each gets a colour of its own (STYLE's .s0 to .s19). */
const KNOWN_STAGES = [
  'snapshotCatalog',
  'previousRunFailures',
  'buildPackage',
  'testPackage',
  'checkPackage',
  'publishPackage',
  'bumpEpochs',
  'assembleImage',
  'testImage',
  'compareWithPublished',
  'scanImage',
  'publishTurn',
  'pushImage',
  'signImage',
  'writeProvenance',
  'attestImage',
  'verifyImage',
  'tagImage',
  'writeRunReport',
];
const TONES = 20;

/** A stage's colour class, the same for a stage name everywhere on the page (other names by a hash). */
function stageTone(stage: string): string {
  const known = KNOWN_STAGES.indexOf(stage);
  if (known >= 0) return `s${known}`;
  let h = 0;
  for (const c of stage) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return `s${h % TONES}`;
}

interface Axis {
  start: number;
  span: number;
}

/** `left:..%;width:..%` of [from, to] on the axis (at least a sliver, so a short stage stays visible). */
function place(axis: Axis, from: number, to: number): string {
  const left = ((from - axis.start) / axis.span) * 100;
  const width = Math.max(((to - from) / axis.span) * 100, 0.3);
  return `left:${Math.min(Math.max(left, 0), 99.7).toFixed(2)}%;width:${Math.min(width, 100 - Math.max(left, 0)).toFixed(2)}%`;
}

function stageTitle(s: StageSpan, axis: Axis): string {
  const end = spanEnd(s);
  const queued = s.startedAt !== undefined ? s.startedAt - s.scheduledAt : 0;
  return [
    `${s.stage}: ${s.endedAt === undefined ? 'running' : took(end - s.scheduledAt)}`,
    `from +${took(s.scheduledAt - axis.start)}`,
    queued >= 1000 ? `waited ${took(queued)}` : '',
    s.attempts > 1 ? `${s.attempts} attempts` : '',
    s.outcome !== 'ok' ? s.outcome : '',
  ]
    .filter(Boolean)
    .join(', ');
}

function stageBars(stages: StageSpan[], axis: Axis, now: number): Html[] {
  return stages.flatMap((s) => {
    const end = s.endedAt ?? now;
    const began = s.startedAt ?? s.scheduledAt;
    const title = stageTitle(s, axis);
    return [
      // Waiting: for a worker slot, for a retry, or for the repository's publish turn.
      ...(began > s.scheduledAt
        ? [
            html`<span
              class="seg wait ${stageTone(s.stage)}"
              style="${place(axis, s.scheduledAt, began)}"
              title="${title}"
            ></span>`,
          ]
        : []),
      html`<span
        class="seg ${stageTone(s.stage)} o-${s.outcome}"
        style="${place(axis, began, end)}"
        title="${title}"
      ></span>`,
    ];
  });
}

function stageList(stages: StageSpan[], axis: Axis): Html {
  if (!stages.length) return html``;
  return html`<details class="stages">
    <summary>${stages.length} stage${stages.length === 1 ? '' : 's'}</summary>
    <table class="stage-list">
      <thead>
        <tr>
          <th>stage</th>
          <th>from</th>
          <th>took</th>
          <th>waited</th>
          <th>attempts</th>
          <th>outcome</th>
        </tr>
      </thead>
      <tbody>
        ${stages.map((s) => {
          const queued = s.startedAt !== undefined ? s.startedAt - s.scheduledAt : 0;
          return html`<tr>
            <td><span class="swatch ${stageTone(s.stage)}"></span>${s.stage}</td>
            <td>+${took(s.scheduledAt - axis.start)}</td>
            <td>${s.endedAt === undefined ? 'running' : took(spanEnd(s) - s.scheduledAt)}</td>
            <td>${queued ? took(queued) : '-'}</td>
            <td>${s.attempts}</td>
            <td>${badge(s.outcome)}</td>
          </tr> `;
        })}
      </tbody>
    </table>
  </details>`;
}

interface Row {
  label: Html;
  status?: string;
  /** The summary's duration, when the row is a package or image (else the span's). */
  durationMs?: number;
  span?: { scheduledAt: number; startedAt?: number; endedAt?: number };
  stages: StageSpan[];
}

function timelineRows(rows: Row[], axis: Axis, now: number): Html {
  const ticks = [0, 0.25, 0.5, 0.75, 1];
  return html`<div class="timeline">
    <div class="tl-row tl-axis">
      <div class="tl-label"></div>
      <div class="tl-track">
        ${ticks.map(
          (t) => html`<span class="tick" style="left:${(t * 100).toFixed(0)}%">+${took(t * axis.span)}</span>`,
        )}
      </div>
    </div>
    ${rows.map(
      (r) =>
        html`<div class="tl-row">
          <div class="tl-label">
            ${r.label}${r.status ? html` ${badge(r.status)}` : ''}${
              r.durationMs !== undefined || r.span
                ? html` <span class="muted">${took(r.durationMs ?? spanEnd(r.span!) - r.span!.scheduledAt)}</span>`
                : ''
            }${stageList(r.stages, axis)}
          </div>
          <div class="tl-track">
            ${
              r.span
                ? html`<span class="lane" style="${place(axis, r.span.scheduledAt, r.span.endedAt ?? now)}"></span>`
                : ''
            }${stageBars(r.stages, axis, now)}
          </div>
        </div> `,
    )}
  </div>`;
}

function legend(stages: StageSpan[]): Html {
  const names = [...new Set(stages.map((s) => s.stage))];
  return html`<p class="legend">
    ${names.map((n) => html`<span class="key"><span class="swatch ${stageTone(n)}"></span>${n}</span> `)}<span
      class="key"
      ><span class="swatch wait s0"></span>waiting (queue, retry, publish turn)</span
    >
  </p>`;
}

/** The child of this run that built a package or image (ids end in `/<name>`; catalog names have no `/`). */
function childOf(timeline: RunTimeline | undefined, type: string, name: string): ChildSpan | undefined {
  return timeline?.children.find((c) => c.workflowType === type && c.workflowId.endsWith(`/${name}`));
}

function timelineSection(r: RunReportInput): Html {
  const { summary, timeline } = r;
  const runStart = Date.parse(summary.startedAt);
  const runEnd = Date.parse(summary.finishedAt);
  if (!timeline) {
    // Only durations: each bar starts at the run's start, because the summary does not say when it ran.
    const axis = { start: runStart, span: Math.max(runEnd - runStart, 1) };
    const rows: Row[] = [
      ...summary.packages.map((p) => ({
        label: html`package <b>${p.name}</b>`,
        status: p.status,
        span: { scheduledAt: runStart, endedAt: runStart + p.durationMs },
        stages: [],
      })),
      ...summary.images.map((i) => ({
        label: html`image <b>${i.name}</b>`,
        status: i.status,
        span: { scheduledAt: runStart, endedAt: runStart + i.durationMs },
        stages: [],
      })),
    ];
    return html`<section id="timeline">
      <h2>Timeline</h2>
      <p class="note">
        Per-stage timings are not in the run's summary${r.timelineNote ? html` and ${r.timelineNote}` : ''}: each bar is
        a package's or image's whole duration, drawn from the run's start, not when it ran.
      </p>
      ${timelineRows(rows, axis, runEnd)}
    </section>`;
  }
  const axis = { start: timeline.startedAt, span: Math.max(timeline.endedAt - timeline.startedAt, 1) };
  const itemOf = (c: ChildSpan) => {
    if (c.workflowType === 'packageBuild') {
      const p = summary.packages.find((x) => c.workflowId.endsWith(`/${x.name}`));
      if (p) return { label: html`package <b>${p.name}</b>`, status: p.status, durationMs: p.durationMs };
    }
    if (c.workflowType === 'imageBuild') {
      const i = summary.images.find((x) => c.workflowId.endsWith(`/${x.name}`));
      if (i) return { label: html`image <b>${i.name}</b>`, status: i.status, durationMs: i.durationMs };
    }
    return { label: html`${c.workflowType} ${code(c.workflowId)}`, status: c.outcome, durationMs: undefined };
  };
  const rows: Row[] = [
    {
      label: html`run <b>${summary.workflowId}</b>`,
      status: summary.ok ? 'success' : 'failures',
      durationMs: runEnd - runStart,
      span: { scheduledAt: timeline.startedAt, endedAt: runEnd },
      stages: timeline.stages,
    },
    ...[...timeline.children]
      .sort((a, b) => a.scheduledAt - b.scheduledAt)
      .map((c): Row => {
        const item = itemOf(c);
        return {
          label: link(workflowUrl(r.webUi, r.namespace, c.workflowId, c.runId), item.label),
          status: item.status,
          ...(item.durationMs !== undefined ? { durationMs: item.durationMs } : {}),
          span: c,
          stages: c.stages,
        };
      }),
  ];
  const blocked = [...summary.packages, ...summary.images].filter((x) => x.status === 'blocked');
  const all = [...timeline.stages, ...timeline.children.flatMap((c) => c.stages)];
  return html`<section id="timeline">
    <h2>Timeline</h2>
    ${r.timelineNote ? html`<p class="note">${r.timelineNote}</p>` : ''}${
      timeline.childrenWithoutStages
        ? html`<p class="note">
            ${timeline.childrenWithoutStages} workflow${timeline.childrenWithoutStages === 1 ? '' : 's'} without stage
            detail (their histories were not read).
          </p>`
        : ''
    }${legend(all)}
    ${timelineRows(rows, axis, timeline.endedAt)}${
      blocked.length
        ? html`<p class="muted">Not started (blocked): ${blocked.map((b, i) => html`${i ? ', ' : ''}${b.name}`)}.</p>`
        : ''
    }
  </section>`;
}

// ---------------------------------------------------------------------------------------------
// Packages, images, vulnerabilities, failures.

function packageNotes(p: PackageOutcome): Html[] {
  const notes: Html[] = [];
  if (p.blockedBy) notes.push(html`blocked by <b>${p.blockedBy}</b>`);
  if (p.error) notes.push(html`<span class="bad-text">${firstLine(p.error)}</span>`);
  if (p.dependenciesChanged?.length)
    notes.push(html`published build kept; its dependencies changed since: ${p.dependenciesChanged.join(' ')}`);
  const rep = p.reproducibility;
  if (rep && !rep.identical)
    notes.push(
      html`differs from the published build:
      ${rep.differences.map(
        (d, i) =>
          html`${i ? '; ' : ''}${code(d.file)} ${d.publishedSize ?? 'absent'} → ${d.rebuiltSize ?? 'absent'}
          bytes${
            d.entries.length
              ? html`, differing:
                ${d.entries
                  .slice(0, 8)
                  .map((e) => (e.change === 'changed' ? e.path : `${e.path} (${e.change})`))
                  .join(', ')}${d.entries.length > 8 ? `, ${d.entries.length - 8} more` : ''}`
              : ''
          }`,
      )}${rep.rebuiltDir ? html` (rebuilt APKs in ${code(rep.rebuiltDir)})` : ''}`,
    );
  if (p.epochBump)
    notes.push(
      html`epoch ${p.epochBump.epoch} committed on ${code(p.epochBump.branch)}
      (${code(short(p.epochBump.commit), p.epochBump.commit)})`,
    );
  return notes;
}

function abiCell(p: PackageOutcome): Html {
  if (!p.abi) return html`-`;
  const { verdict, removed, rebuild, reason } = p.abi;
  return html`<span class="verdict">${verdict}</span>${
      removed.length ? html`<br /><small>removed ${removed.join(' ')}; rebuild ${rebuild.join(' ') || '-'}</small>` : ''
    }${reason ? html`<br /><small>${reason}</small>` : ''}`;
}

function apkCell(p: PackageOutcome): Html {
  const apks = Object.entries(p.apks ?? {}).flatMap(([arch, files]) => files.map((f) => ({ arch, ...f })));
  if (!apks.length) return html`-`;
  return html`${apks.map((a, i) => html`${i ? html`<br />` : ''}${code(a.file)} <small>${a.arch}</small> ${code(`sha256:${a.sha256}`)}`)}`;
}

function packagesSection(r: RunReportInput): Html {
  const { summary } = r;
  if (!summary.packages.length)
    return html`<section id="packages">
      <h2>Packages</h2>
      <p>none in this run</p>
    </section>`;
  return html`<section id="packages">
    <h2>Packages <small>${countLine(summary.packages)}</small></h2>
    <table class="items">
      <thead>
        <tr>
          <th>package</th>
          <th>version</th>
          <th>status</th>
          <th>time</th>
          <th>tests</th>
          <th>ABI</th>
          <th>SBOM</th>
          <th>CVEs</th>
          <th>signed by</th>
          <th>APKs</th>
          <th>notes</th>
        </tr>
      </thead>
      <tbody>
        ${summary.packages.map((p) => {
          const child = childOf(r.timeline, 'packageBuild', p.name);
          return html`<tr id="package-${p.name}" class="${packageOk(p) ? '' : 'row-bad'}">
            <th scope="row">
              ${link(child ? workflowUrl(r.webUi, r.namespace, child.workflowId, child.runId) : undefined, p.name)}
            </th>
            <td>${p.version}-r${p.epoch}</td>
            <td>${badge(p.status)}</td>
            <td>${p.status === 'blocked' ? '-' : took(p.durationMs)}</td>
            <td>${p.tested ? 'passed' : '-'}</td>
            <td>${abiCell(p)}</td>
            <td>${p.sbom ? 'yes' : '-'}</td>
            <td>
              ${
                p.vulnerabilities
                  ? p.vulnerabilities.length
                    ? html`${p.vulnerabilities.length}:
                      ${p.vulnerabilities.map((v, i) => html`${i ? ', ' : ''}<span class="cve">${v.id}</span>`)}`
                    : '0'
                  : '-'
              }
            </td>
            <td>${p.signedBy ?? '-'}</td>
            <td>${apkCell(p)}</td>
            <td>${packageNotes(p).map((n, i) => html`${i ? html`<br />` : ''}${n}`)}</td>
          </tr> `;
        })}
      </tbody>
    </table>
  </section>`;
}

function epochBumpsSection(summary: RebuildSummary): Html {
  const bumps = summary.epochBumps ?? [];
  if (!bumps.length) return html``;
  return html`<section id="epoch-bumps">
    <h2>Epoch bumps <small>allowed ABI breaks; published builds are never replaced</small></h2>
    <ul>
      ${bumps.map(
        (b) =>
          html`<li>
            ${b.because}:
            ${b.packages.map((p, i) => html`${i ? ', ' : ''}<b>${p.name}</b> ${p.epoch} → ${p.newEpoch ?? p.epoch + 1}`)}${
              b.notInCatalog.length ? html`; not in this catalog: ${b.notInCatalog.join(' ')}` : ''
            }${b.branch ? html` on branch ${code(b.branch)}` : ''}${b.commit ? html` (commit ${code(short(b.commit), b.commit)})` : ''}${
              b.error ? html` <span class="bad-text">NOT COMMITTED: ${firstLine(b.error)}</span>` : ''
            }
          </li> `,
      )}
    </ul>
  </section>`;
}

function imageCves(i: ImageOutcome): Html {
  if (i.scanned === false) return html`<span class="muted">not scanned</span>`;
  if (!i.scanned) return html`-`;
  const v = i.vulnerabilities ?? [];
  return v.length
    ? html`${v.length}:
      ${v.map((x, n) => html`${n ? ', ' : ''}<span class="cve">${x.id}</span> <small>${x.severity}</small>`)}`
    : html`0`;
}

function imageChange(i: ImageOutcome): Html {
  const d = i.diff;
  if (!d) return html`-`;
  const changes = [...d.added.map((n) => `+${n}`), ...d.removed.map((n) => `-${n}`), ...d.changed.map((n) => `~${n}`)];
  return html`vs ${code(short(d.previous), d.previous)}:
  ${kib(d.sizeDelta)}${changes.length ? html`<br /><small>${changes.join(' ')}</small>` : ''}`;
}

function imagesSection(r: RunReportInput): Html {
  const { summary } = r;
  if (!summary.images.length)
    return html`<section id="images">
      <h2>Images</h2>
      <p>none in this run</p>
    </section>`;
  return html`<section id="images">
    <h2>Images <small>${countLine(summary.images)}</small></h2>
    <table class="items">
      <thead>
        <tr>
          <th>image</th>
          <th>status</th>
          <th>time</th>
          <th>CVEs</th>
          <th>digest</th>
          <th>tags</th>
          <th>change from the previous image</th>
          <th>size</th>
          <th>notes</th>
        </tr>
      </thead>
      <tbody>
        ${summary.images.map((i) => {
          const child = childOf(r.timeline, 'imageBuild', i.name);
          const good = i.status === 'published' || i.status === 'unchanged';
          return html`<tr id="image-${i.name}" class="${good ? '' : 'row-bad'}">
            <th scope="row">
              ${link(child ? workflowUrl(r.webUi, r.namespace, child.workflowId, child.runId) : undefined, i.name)}
            </th>
            <td>${badge(i.status)}</td>
            <td>${i.status === 'blocked' ? '-' : took(i.durationMs)}</td>
            <td>${imageCves(i)}</td>
            <td>
              ${i.digest ? html`${code(i.digest)}${i.reference ? html`<br /><small>${i.reference}</small>` : ''}` : '-'}
            </td>
            <td>
              ${i.tags.map((t) => html`<span class="tag">${t}</span> `)}${
                i.tagsKept?.length
                  ? html`<br /><small
                        >kept
                        ${i.tagsKept.map((k, n) => html`${n ? ', ' : ''}${k.tag} at ${code(short(k.digest), k.digest)}`)}
                        (built from a newer catalog)</small
                      >`
                  : ''
              }
            </td>
            <td>${imageChange(i)}</td>
            <td>
              ${i.sizeBytes !== undefined ? mib(i.sizeBytes) : '-'}${
                i.packages?.length
                  ? html`<details>
                      <summary>${i.packages.length} packages</summary>
                      <small>${i.packages.join(' ')}</small>
                    </details>`
                  : ''
              }
            </td>
            <td>
              ${i.blockedBy ? html`blocked by <b>${i.blockedBy}</b>` : ''}${i.error ? html`<span class="bad-text">${firstLine(i.error)}</span>` : ''}
            </td>
          </tr> `;
        })}
      </tbody>
    </table>
  </section>`;
}

function vulnerabilitiesSection(summary: RebuildSummary): Html {
  const rows = [
    ...summary.images.flatMap((i) =>
      (i.vulnerabilities ?? []).map((v) => ({
        id: v.id,
        severity: v.severity,
        where: html`image <b>${i.name}</b>`,
        pkg: v.origin && v.origin !== v.package ? `${v.package} (origin ${v.origin})` : v.package,
        fixedIn: v.fixedIn,
      })),
    ),
    ...summary.packages.flatMap((p) =>
      (p.vulnerabilities ?? []).map((v) => ({
        id: v.id,
        severity: '-',
        where: html`package <b>${p.name}</b>`,
        pkg: p.name,
        fixedIn: v.fixedIn,
      })),
    ),
  ];
  const scanned = summary.images.filter((i) => i.scanned).length;
  const unscanned = summary.images.filter((i) => i.scanned === false).length;
  return html`<section id="vulnerabilities">
    <h2>Vulnerabilities</h2>
    <p>
      ${scanned} image${scanned === 1 ? '' : 's'}
      scanned${unscanned ? html`, ${unscanned} not scanned (the catalog configures no vulnerability feed)` : ''}.
    </p>
    ${
      rows.length
        ? html`<table class="items">
            <thead>
              <tr>
                <th>CVE</th>
                <th>severity</th>
                <th>in</th>
                <th>package</th>
                <th>fixed in</th>
              </tr>
            </thead>
            <tbody>
              ${rows.map(
                (v) =>
                  html`<tr>
                    <td class="cve">${v.id}</td>
                    <td>${v.severity}</td>
                    <td>${v.where}</td>
                    <td>${v.pkg}</td>
                    <td>${v.fixedIn}</td>
                  </tr> `,
              )}
            </tbody>
          </table>`
        : html`<p>No known CVEs.</p>`
    }
  </section>`;
}

function failuresSection(summary: RebuildSummary): Html {
  const failures = [
    ...summary.packages.filter((p) => p.error).map((p) => ({ kind: 'package', name: p.name, error: p.error! })),
    ...summary.images.filter((i) => i.error).map((i) => ({ kind: 'image', name: i.name, error: i.error! })),
  ];
  if (!failures.length) return html``;
  return html`<section id="failures">
    <h2>Failures</h2>
    ${failures.map(
      (f) =>
        html`<h3>${f.kind} ${f.name}</h3>
          <pre>${f.error.split('\n').slice(0, 200).join('\n')}</pre> `,
    )}
  </section>`;
}

const STYLE = `
:root{--good:#1a7f37;--bad:#cf222e;--warn:#9a6700;--muted:#57606a;--line:#d0d7de}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:1.5rem auto;max-width:1400px;padding:0 1rem;color:#1f2328}
h1{font-size:1.5rem;margin:0 0 .5rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid var(--line)}
h2 small{font-weight:normal;font-size:.85rem;margin-left:.5rem}
dl.run{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem;margin:0}dl.run dt{color:var(--muted)}dl.run dd{margin:0}
code{font:12px ui-monospace,SFMono-Regular,Menlo,monospace;word-break:break-all}
table.items{border-collapse:collapse;width:100%}table.items th,table.items td{border-bottom:1px solid var(--line);padding:.35rem .5rem;text-align:left;vertical-align:top}
table.items thead th{background:#f6f8fa;font-weight:600}tr.row-bad{background:#fff5f5}
.badge{display:inline-block;padding:0 .45rem;border-radius:1rem;font-size:.8rem;font-weight:600;border:1px solid currentColor}
.badge.good{color:var(--good)}.badge.bad{color:var(--bad)}.badge.warn{color:var(--warn)}.badge.neutral{color:var(--muted)}
.bad-text{color:var(--bad)}.muted{color:var(--muted)}.note{background:#fff8c5;padding:.4rem .6rem;border-radius:4px}
.cve{font-weight:600}.tag{display:inline-block;background:#ddf4ff;border-radius:4px;padding:0 .35rem;font:12px ui-monospace,monospace}
pre{background:#f6f8fa;padding:.6rem;overflow:auto;max-height:24rem;white-space:pre-wrap}
.timeline{border:1px solid var(--line);border-radius:4px}
.tl-row{display:grid;grid-template-columns:22rem 1fr;border-bottom:1px solid #eaeef2}.tl-row:last-child{border-bottom:0}
.tl-label{padding:.3rem .5rem;overflow:hidden}.tl-track{position:relative;min-height:1.6rem;background:repeating-linear-gradient(90deg,transparent 0 24.9%,#eaeef2 24.9% 25%)}
.tl-axis .tl-track{min-height:1.2rem}.tick{position:absolute;top:0;font-size:.75rem;color:var(--muted);transform:translateX(-50%)}.tick:first-child{transform:none}.tick:last-child{transform:translateX(-100%)}
.lane{position:absolute;top:.55rem;height:.5rem;background:#eaeef2;border-radius:2px}
.seg{position:absolute;top:.3rem;height:1rem;border-radius:2px;opacity:.9}.seg.wait{opacity:.3}
.seg.o-failed,.seg.o-timed-out,.seg.o-terminated{outline:2px solid var(--bad)}.seg.o-running{background-image:repeating-linear-gradient(45deg,transparent 0 4px,#fff8 4px 8px)}
.swatch{display:inline-block;width:.8rem;height:.8rem;border-radius:2px;margin-right:.3rem;vertical-align:-1px}.swatch.wait{opacity:.3}
.legend .key{margin-right:.8rem;white-space:nowrap}
details.stages summary{cursor:pointer;color:var(--muted);font-size:.85rem}table.stage-list{font-size:.8rem;border-collapse:collapse}table.stage-list td,table.stage-list th{padding:0 .4rem;text-align:left}
.s0{background:#6e4b00}.s1{background:#8c8c8c}.s2{background:#e45756}.s3{background:#f28e2b}.s4{background:#b07aa1}.s5{background:#4e79a7}.s6{background:#ff9da7}.s7{background:#59a14f}.s8{background:#76b7b2}.s9{background:#9c755f}
.s10{background:#edc948}.s11{background:#bab0ac}.s12{background:#2f4b7c}.s13{background:#1f77b4}.s14{background:#17becf}.s15{background:#9467bd}.s16{background:#e377c2}.s17{background:#2ca02c}.s18{background:#7f7f7f}.s19{background:#bcbd22}
`;

/** The run report: a whole HTML document. */
export function renderRunReport(r: RunReportInput): string {
  const s = r.summary;
  const runUrl = workflowUrl(r.webUi, r.namespace, s.workflowId, s.runId);
  const outcome = s.ok ? 'succeeded' : 'finished with failures';
  const page = html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>kiln run ${s.workflowId}: ${outcome}</title>
        <style>
          ${new Html(STYLE)}
        </style>
      </head>
      <body>
        <header>
          <h1>
            kiln catalog rebuild ${badge(s.ok ? 'success' : 'failures')}
            <small>${outcome} in ${took(Date.parse(s.finishedAt) - Date.parse(s.startedAt))}</small>
          </h1>
          <dl class="run">
            <dt>run</dt>
            <dd>
              ${link(runUrl, html`${s.workflowId} / ${s.runId}`, 'run-link')}${runUrl ? html` <small>(Temporal Web UI)</small>` : ''}
            </dd>
            <dt>started</dt>
            <dd>${s.startedAt}</dd>
            <dt>finished</dt>
            <dd>${s.finishedAt}</dd>
            <dt>catalog</dt>
            <dd>${code(s.catalogDigest)}${s.gitCommit ? html` git ${code(s.gitCommit)}` : ''}</dd>
            ${
              s.source
                ? html`<dt>source</dt>
                    <dd>${describeSource(s.source)}</dd>`
                : ''
            }
            ${
              s.target
                ? html`<dt>target</dt>
                    <dd>${describeTarget(s.target)}</dd>`
                : ''
            }
            <dt>packages</dt>
            <dd>${countLine(s.packages)}</dd>
            <dt>images</dt>
            <dd>${countLine(s.images)}</dd>
          </dl>
        </header>
        ${timelineSection(r)} ${packagesSection(r)} ${epochBumpsSection(s)} ${imagesSection(r)}
        ${vulnerabilitiesSection(s)} ${failuresSection(s)}
        <footer>
          <p class="muted">
            Written by kiln at ${r.generatedAt}. Point at a bar for its stage, start and duration; open a row's stages
            for the list.
          </p>
        </footer>
      </body>
    </html> `;
  return page.text;
}
