// I/O: the worker's side of shared rate limits (domain/host-limits.ts). Before each request to a
// host catalog.yaml limits, `pace` asks that host's hostLimit workflow for a slot (starting it if
// none runs: update-with-start) and returns when the slot begins (sleeping here until then); `throttled` reports a 429 so the
// gate holds every worker. Hosts without a limit cost nothing: no Temporal call is made for them.
// The limits are the worker's own catalog's (config.catalogDir), read at worker start, so a run of
// an unreviewed branch cannot lift them. Outside an activity (a unit test calling a client) nothing
// is paced.
import { Context, getClient } from '@temporalio/activity';
import { WithStartWorkflowOperation, WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { RateLimit } from '../domain/catalog.js';
import {
  DEFAULT_HOLD_MS,
  LATE_MS,
  gateId,
  limitFor,
  newGate,
  rebuildOf,
  type LimitWait,
} from '../domain/host-limits.js';
import { recordRateLimitWait } from '../domain/metrics.js';
import { activityMeter } from './activity-metrics.js';
import { acquireSlot, holdHost, hostLimit, runWaits, type Slot, type SlotRequest } from '../workflows/host-limit.js';

let limits: readonly RateLimit[] = [];
let taskQueue = '';

/** The limits this worker process enforces, and the task queue its gates run on (workers/worker.ts). */
export function useHostLimits(list: readonly RateLimit[], queue: string): void {
  limits = list;
  taskQueue = queue;
}

function activity(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined;
  }
}

type GateUpdate = Parameters<Client['workflow']['executeUpdateWithStart']>[0];

/**
 * Asks `host`'s gate among the workers of `queue`, starting it when none runs; asks again (after
 * `sleep`) while it moves to a new run or Temporal cannot be reached, up to 20 times.
 */
export async function askHostGate<R>(
  client: Client,
  queue: string,
  host: string,
  update: GateUpdate,
  args: unknown[],
  sleep: (ms: number) => Promise<void>,
): Promise<R> {
  for (let attempt = 1; ; attempt++) {
    try {
      return (await client.workflow.executeUpdateWithStart(update, {
        args,
        startWorkflowOperation: new WithStartWorkflowOperation(hostLimit, {
          workflowId: gateId(queue, host),
          taskQueue: queue,
          args: [newGate(host)],
          workflowIdConflictPolicy: 'USE_EXISTING',
        }),
      })) as R;
    } catch (err) {
      if (attempt >= 20) throw err;
      await sleep(Math.min(100 * attempt, 1000));
    }
  }
}

/** askHostGate from the activity running now, heartbeating while the gate makes it wait. */
async function askGate<R>(host: string, update: GateUpdate, args: unknown[]): Promise<R> {
  const ctx = activity()!;
  // A long Retry-After outlasts the activity's heartbeat timeout.
  const beat = setInterval(() => ctx.heartbeat({ waitingFor: host }), 5000);
  try {
    return await askHostGate<R>(getClient(), taskQueue, host, update, args, (ms) => ctx.sleep(ms));
  } finally {
    clearInterval(beat);
  }
}

/**
 * Waits for a slot on `host` (`host[:port]`) when catalog.yaml limits it; records the wait as a
 * metric when the limit held the request. Slots are times on Temporal's clock, which the workers'
 * clocks follow (NTP): a request that would leave more than LATE_MS after its slot (an answer or a
 * timer came late on a busy worker) gives the slot up and asks again with more lead, so requests
 * never bunch.
 */
export async function pace(host: string): Promise<void> {
  const limit = limitFor(limits, host);
  const ctx = activity();
  if (!limit || !ctx) return;
  const run = rebuildOf(ctx.info.workflowExecution?.workflowId ?? '');
  const asked = Date.now();
  let held = false;
  for (let leadMs = 0; ; leadMs = Math.min(2 * leadMs + LATE_MS, 1000)) {
    const slot = await askGate<Slot>(host, acquireSlot, [
      { perSecond: limit.perSecond, leadMs, run } satisfies SlotRequest,
    ]);
    held ||= slot.waitedMs > 0;
    if (slot.at > Date.now()) await ctx.sleep(slot.at - Date.now());
    if (Date.now() <= slot.at + LATE_MS) break;
    held = true;
  }
  if (held) recordRateLimitWait(activityMeter(), { host, seconds: (Date.now() - asked) / 1000 });
}

/** `host` answered 429: its gate holds every worker for `retryAfterMs` (or DEFAULT_HOLD_MS). */
export async function throttled(host: string, retryAfterMs: number | undefined): Promise<void> {
  if (!limitFor(limits, host) || !activity()) return;
  await askGate<void>(host, holdHost, [{ ms: retryAfterMs ?? DEFAULT_HOLD_MS }]);
}

/** What the rebuild `run` waited on each limited host (a gate that never ran: nothing). */
export async function waitsOf(run: string): Promise<LimitWait[]> {
  if (!activity()) return [];
  const out: LimitWait[] = [];
  for (const l of limits) {
    const r = await getClient()
      .workflow.getHandle(gateId(taskQueue, l.host))
      .query(runWaits, run)
      .catch((err: unknown) => {
        if (err instanceof WorkflowNotFoundError) return undefined;
        throw err;
      });
    if (r) out.push({ host: l.host, perSecond: l.perSecond, waits: r.waits, seconds: r.waitedMs / 1000 });
  }
  return out;
}
