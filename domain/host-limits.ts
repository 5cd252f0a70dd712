// Domain: shared rate limits, pure. catalog.yaml `rateLimits:` caps the requests a second that all
// workers of one kiln (one task queue) send to a host together. One `hostLimit` workflow per host
// (workflows/host-limit.ts) keeps a HostGate and hands out one slot per request, so the limit is
// Temporal's to enforce across workers and hosts; a 429 with its Retry-After, reported by any
// worker, holds the gate for everyone (io/host-pacer.ts asks it before each request).
import type { RateLimit } from './catalog.js';

/**
 * kiln paces at this share of a limit: a slot is when a request may leave, and the time it takes
 * to reach the host varies by a few milliseconds per request (more on a loaded worker), so slots
 * exactly 1/limit apart would now and then put one request too many into a second.
 */
export const PACE = 0.9;

/**
 * A slot is handed to its request at most this long before it begins (the request's worker sleeps
 * the rest): after a 429 only the requests already this close to their slot still go.
 */
export const HORIZON_MS = 500;

/**
 * A request leaves at most this long after its slot began, or gives the slot up (io/host-pacer.ts):
 * two requests are then at least 1000/(perSecond*PACE) - LATE_MS apart, so no second ever holds
 * more than perSecond of them while LATE_MS < 1000 * (1/PACE - 1) (111 ms).
 */
export const LATE_MS = 50;

/** When no Retry-After says how long, a 429 holds the gate this long. */
export const DEFAULT_HOLD_MS = 2000;

/** The gate's memory of waits for runs: the newest this many, none older than this. */
const KEEP_RUNS = 200;
const KEEP_RUNS_MS = 7 * 24 * 3600_000;

export interface RunWaits {
  /** Requests that had to wait for their slot. */
  waits: number;
  /** Their waits together. */
  waitedMs: number;
  /** When the latest wait ended (ms since the epoch): the oldest are forgotten first. */
  lastAt: number;
}

/** One host's gate: when the next request may go, and what each run waited (for its summary). */
export interface HostGate {
  host: string;
  /** The earliest time (ms since the epoch) the next slot may begin. */
  next: number;
  /** Holds so far: a slot reserved before a hold is void (its request waits for a new one). */
  holds: number;
  /** By rebuild workflow id (rebuildOf). */
  runs: Record<string, RunWaits>;
}

export const newGate = (host: string): HostGate => ({ host, next: 0, holds: 0, runs: {} });

/** Milliseconds between two slots at `perSecond` (paced at PACE of it). */
export function spacingMs(perSecond: number): number {
  return 1000 / (perSecond * PACE);
}

/** Reserves the next slot at or after `now` and returns when it begins. */
export function reserve(gate: HostGate, now: number, perSecond: number): number {
  const at = Math.max(now, gate.next);
  gate.next = at + spacingMs(perSecond);
  return at;
}

/** The host asked everyone to wait until `until` (a 429's Retry-After): no slot begins before it. */
export function holdUntil(gate: HostGate, until: number): void {
  gate.next = Math.max(gate.next, until);
  gate.holds += 1;
}

/** A request of `run` waited `ms` for its slot. */
export function recordWait(gate: HostGate, run: string, ms: number, now: number): void {
  if (ms <= 0) return;
  const r = (gate.runs[run] ??= { waits: 0, waitedMs: 0, lastAt: now });
  r.waits += 1;
  r.waitedMs += ms;
  r.lastAt = now;
}

/** The gate a new workflow run carries on with: the newest KEEP_RUNS runs of the last KEEP_RUNS_MS. */
export function pruned(gate: HostGate, now: number): HostGate {
  const runs = Object.entries(gate.runs)
    .filter(([, r]) => now - r.lastAt < KEEP_RUNS_MS)
    .sort(([, a], [, b]) => b.lastAt - a.lastAt)
    .slice(0, KEEP_RUNS);
  return { ...gate, runs: Object.fromEntries(runs) };
}

/** The workflow id of the gate for `host` among the workers of `taskQueue`. */
export const gateId = (taskQueue: string, host: string) => `kiln-limit/${taskQueue}/${host}`;

/**
 * The rebuild an activity works for, from its workflow's id: the rebuild itself, or one of its
 * children `<rebuild>/package/<name>` and `<rebuild>/image/<name>` (workflows/rebuild-phases.ts).
 */
export const rebuildOf = (workflowId: string) => workflowId.replace(/\/(package|image)\/[^/]+$/, '');

/** The limit on `host` (`host[:port]`, as catalog.yaml writes it), if any. */
export function limitFor(limits: readonly RateLimit[], host: string): RateLimit | undefined {
  return limits.find((l) => l.host === host);
}

/** What one run waited on one host's limit, as the summary shows it. */
export interface LimitWait {
  host: string;
  perSecond: number;
  waits: number;
  seconds: number;
}

/** One host's line in the summary and the run report. */
export const describeLimitWait = (l: LimitWait): string =>
  `waited ${l.seconds.toFixed(1)} s for ${l.host} (${l.perSecond}/s, shared by all workers): ${l.waits} requests held`;

/** `host[:port]` of a URL, as limits name hosts; '' for a string that is no URL. */
export function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return '';
  }
}

/**
 * A `Retry-After` header as a delay in milliseconds: either delay-seconds (`120`) or an HTTP-date
 * (`Wed, 21 Oct 2026 07:28:00 GMT`, RFC 9110 section 10.2.3), counted from `now`. Undefined when
 * the header is absent, unreadable, or names no time in the future (the retry policy decides then).
 */
export function retryAfterMs(value: string | null, now = Date.now()): number | undefined {
  const v = value?.trim();
  if (!v) return undefined;
  const ms = /^\d+$/.test(v) ? Number(v) * 1000 : Date.parse(v) - now;
  return Number.isFinite(ms) && ms > 0 ? ms : undefined;
}
