// Turning a Temporal failure chain into the one message a person needs: the innermost cause, where
// the tool's own words are; and telling a lost worker from a failed step.
import { ActivityFailure, ApplicationFailure, TimeoutFailure, TimeoutType } from '@temporalio/common';
import { FAILURES, failure, type FailureType } from '../domain/failures.js';

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
 * The innermost failure again, raised by this workflow with its own type (kiln's vocabulary), or
 * `fallback` when the chain carries none: a registry outage stays a registry outage in the result.
 */
export function rethrown(err: unknown, fallback: FailureType): ApplicationFailure {
  let type: FailureType = fallback;
  for (
    let cur = err as { cause?: unknown } | undefined;
    cur && typeof cur === 'object';
    cur = cur.cause as typeof cur
  ) {
    if (cur instanceof ApplicationFailure && cur.type && cur.type in FAILURES) type = cur.type as FailureType;
  }
  return failure(type, failureMessage(err));
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
