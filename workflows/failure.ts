// Turning a Temporal failure chain into the one message a person needs: the innermost cause, where
// the tool's own words are; and telling a lost worker from a failed step.
import { ActivityFailure, TimeoutFailure, TimeoutType } from '@temporalio/common';

export function failureMessage(err: unknown): string {
  let cur = err as { message?: string; cause?: unknown } | undefined;
  let message = String(err);
  while (cur && typeof cur === 'object') {
    if (cur.message) message = cur.message;
    cur = cur.cause as typeof cur;
  }
  return message;
}

/**
 * The worker a step was pinned to (its own task queue) never started it: that worker is gone, and
 * with it the files the step needed. The caller starts the chain again on any worker.
 */
export function workerLost(err: unknown): boolean {
  return (
    err instanceof ActivityFailure &&
    err.cause instanceof TimeoutFailure &&
    err.cause.timeoutType === TimeoutType.SCHEDULE_TO_START
  );
}
