// Workflows: turns. One publisher at a time per image repository, and per package repository and
// arch: the holder is a `publishTurn` child workflow whose id names what it guards, and Temporal
// runs one workflow per id, so the turn is Temporal's to enforce on any number of workers and
// hosts (no file lock whose staleness one host judges for another).
import {
  CancellationScope,
  ParentClosePolicy,
  condition,
  defineSignal,
  setHandler,
  sleep,
  startChild,
  type ChildWorkflowHandle,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';

export const releaseTurn = defineSignal('release');

/**
 * A turn to publish, held by one workflow at a time: its id is `kiln-publish/<image repository>` or
 * `kiln-publish-apk/<package repository>/<arch>`, and Temporal runs one workflow per id, so a second
 * start fails until the holder signals `release`. A holder that ends any other way closes its child (parent
 * close policy TERMINATE), which frees the turn too.
 */
export async function publishTurn(): Promise<void> {
  let released = false;
  setHandler(releaseTurn, () => {
    released = true;
  });
  await condition(() => released);
}

/**
 * Waits for the turn `workflowId` names: retries the start, 1 s apart at first, then up to
 * `maxWaitSeconds` (an image publish holds its turn for a while; a package publish for seconds).
 */
export async function takeTurn(
  workflowId: string,
  maxWaitSeconds = 30,
): Promise<ChildWorkflowHandle<typeof publishTurn>> {
  for (let wait = 1; ; wait = Math.min(wait * 2, maxWaitSeconds)) {
    try {
      return await startChild(publishTurn, {
        workflowId,
        parentClosePolicy: ParentClosePolicy.TERMINATE,
        // A holder stuck past this lets the others in rather than block a repository forever.
        workflowExecutionTimeout: '6 hours',
      });
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      await sleep(`${wait} seconds`);
    }
  }
}

export async function releaseTurnOf(turn: ChildWorkflowHandle<typeof publishTurn>): Promise<void> {
  await CancellationScope.nonCancellable(async () => {
    // A turn that already ended (timed out) has nothing left to release.
    await turn
      .signal(releaseTurn)
      .then(() => turn.result())
      .catch(() => undefined);
  });
}
