// Domain (pure): HTML made safe by construction for the run report (domain/report-html.ts): the
// html`...` template escapes every value it is given unless it is already Html, and the small
// pieces the report is built of (links, status badges, code, sizes, durations).
// Nothing reaches the page any other way.

/** Markup that is already safe: made only by html`...` below. */
export class Html {
  constructor(readonly text: string) {}
}

export type Part = Html | string | number | boolean | null | undefined | readonly Part[];

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

export function html(strings: TemplateStringsArray, ...values: Part[]): Html {
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

export const link = (href: string | undefined, text: Part, cls?: string): Html =>
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
export function badge(status: string): Html {
  const tone = GOOD.has(status) ? 'good' : BAD.has(status) ? 'bad' : status === 'blocked' ? 'warn' : 'neutral';
  return html`<span class="badge ${tone}" data-status="${status}">${status}</span>`;
}

export const code = (text: Part, title?: string) => html`<code${title ? html` title="${title}"` : ''}>${text}</code>`;
export const short = (digest: string) => (digest.startsWith('sha256:') ? digest.slice(7, 19) : digest.slice(0, 12));
export const kib = (bytes: number) => `${bytes >= 0 ? '+' : '-'}${Math.round(Math.abs(bytes) / 1024)} KiB`;
export const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
export const firstLine = (text: string) => text.split('\n')[0]!.slice(0, 200);

export function countLine(items: { status: string }[]): Html {
  const by = new Map<string, number>();
  for (const i of items) by.set(i.status, (by.get(i.status) ?? 0) + 1);
  if (!by.size) return html`none`;
  return html`${[...by].map(([status, n], i) => html`${i ? ', ' : ''}${n} ${badge(status)}`)}`;
}
