// hostLimit: one host's shared rate limit (catalog.yaml `rateLimits:`), an entity workflow per host
// and task queue (`kiln-limit/<task queue>/<host>`, started by the first worker that asks). Every
// request a worker sends that host first asks for a slot (the `acquireSlot` update). Slots are
// 1/(perSecond × PACE) s apart; the handler answers at most HORIZON_MS before its slot begins and
// the worker sleeps the rest (io/host-pacer.ts, which gives up a slot it would miss), so requests
// from any number of workers leave at most the limit a second. A 429 reported by any worker
// (`holdHost`) holds the gate for its Retry-After, and every request still waiting waits for it
// too: the whole deployment slows down, not one request.
import {
  allHandlersFinished,
  condition,
  continueAsNew,
  defineQuery,
  defineUpdate,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import {
  HORIZON_MS,
  holdUntil,
  pruned,
  recordWait,
  reserve,
  type HostGate,
  type RunWaits,
} from '../domain/host-limits.js';

export interface SlotRequest {
  perSecond: number;
  /** The slot begins at least this long after it is handed out (a worker whose answers come late asks for room). */
  leadMs: number;
  /** The rebuild the request works for (domain/host-limits.ts rebuildOf): its waits are counted. */
  run: string;
}

/**
 * A slot for one request: it begins at `at` (ms since the epoch, Temporal's clock); the worker
 * sleeps until then itself (a workflow timer may fire up to a second late). `waitedMs`: how long
 * the gate held the request, for the summary.
 */
export interface Slot {
  at: number;
  waitedMs: number;
}

export const acquireSlot = defineUpdate<Slot, [SlotRequest]>('acquireSlot');
export const holdHost = defineUpdate<void, [{ ms: number }]>('holdHost');
export const runWaits = defineQuery<RunWaits | undefined, [string]>('runWaits');

export async function hostLimit(gate: HostGate): Promise<void> {
  let moving = false;
  // A request asked while the gate moves to a new run is refused; io/host-pacer.ts asks again.
  const notMoving = () => {
    if (moving) throw new Error(`the gate for ${gate.host} is continuing as new; ask again`);
  };
  setHandler(
    acquireSlot,
    async ({ perSecond, leadMs, run }) => {
      const asked = Date.now();
      for (;;) {
        const holds = gate.holds;
        const wakeAt = Math.max(Date.now() + leadMs, gate.next) - HORIZON_MS;
        if (Date.now() >= wakeAt) {
          const at = reserve(gate, Date.now() + leadMs, perSecond);
          recordWait(gate, run, at - asked, Date.now());
          return { at, waitedMs: at - asked };
        }
        // Any activation re-checks the time (another request, a hold), so a waiter rarely depends
        // on the timer alone, which Temporal may fire up to a second late.
        await condition(() => gate.holds !== holds || Date.now() >= wakeAt, wakeAt - Date.now());
      }
    },
    { validator: (_: SlotRequest) => notMoving() },
  );
  setHandler(holdHost, ({ ms }) => holdUntil(gate, Date.now() + ms), {
    validator: (_: { ms: number }) => notMoving(),
  });
  setHandler(runWaits, (run) => gate.runs[run]);

  await condition(() => workflowInfo().continueAsNewSuggested);
  moving = true;
  await condition(allHandlersFinished);
  await continueAsNew<typeof hostLimit>(pruned(gate, Date.now()));
}
