// hostLimit: one host's shared rate limit (catalog.yaml `rateLimits:`), an entity workflow per host
// and task queue (`kiln-limit/<task queue>/<host>`, started by the first worker that asks). Every
// request a worker sends that host first asks for a slot (the `acquireSlot` update); the handler
// returns when the slot begins, so requests from any number of workers leave at most the limit a
// second. A 429 reported by any worker (`holdHost`) voids the slots not yet begun and holds the
// gate for its Retry-After: the whole deployment slows down, not one request.
import {
  allHandlersFinished,
  condition,
  continueAsNew,
  defineQuery,
  defineUpdate,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import { holdUntil, pruned, recordWait, reserve, type HostGate, type RunWaits } from '../domain/host-limits.js';

export interface SlotRequest {
  perSecond: number;
  /** The rebuild the request works for (domain/host-limits.ts rebuildOf): its waits are counted. */
  run: string;
}

export const acquireSlot = defineUpdate<{ waitedMs: number }, [SlotRequest]>('acquireSlot');
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
    async ({ perSecond, run }) => {
      const asked = Date.now();
      for (;;) {
        const at = reserve(gate, Date.now(), perSecond);
        if (at <= Date.now()) break;
        const holds = gate.holds;
        // Woken early by a hold: this slot is void, the request takes one after the hold.
        const held = await condition(() => gate.holds !== holds, at - Date.now());
        if (!held) break;
      }
      const waitedMs = Date.now() - asked;
      recordWait(gate, run, waitedMs, Date.now());
      return { waitedMs };
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
