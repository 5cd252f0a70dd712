// Domain (pure): the run report's timeline (domain/report-html.ts): every package and image of a
// run as a row of stage bars on one time axis, from the run's histories (domain/run-timeline.ts).
import { Html, badge, code, html, link, took, workflowUrl } from './html.js';
import type { RunReportInput } from './report-html.js';
import type { ChildSpan, RunTimeline, StageSpan } from './run-timeline.js';
import { spanEnd } from './run-timeline.js';

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
export function childOf(timeline: RunTimeline | undefined, type: string, name: string): ChildSpan | undefined {
  return timeline?.children.find((c) => c.workflowType === type && c.workflowId.endsWith(`/${name}`));
}

export function timelineSection(r: RunReportInput): Html {
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
