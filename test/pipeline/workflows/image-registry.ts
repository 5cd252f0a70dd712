// Shared by the image workflow tests: what a person would check in the registry with curl (where a
// tag points, what is attached to a digest) and what a run did, from its workflow history.
import { expect } from 'vitest';
import type { Client } from '@temporalio/client';
import { decodeRetryState, defaultPayloadConverter } from '@temporalio/common';
import type { ImageOutcome, RebuildSummary } from '../../../domain/summary.js';
import type { KilnTestEnv } from '../global-setup.js';
import { registryGet, sha256 } from '../harness.js';

export const image = (s: RebuildSummary, name: string): ImageOutcome => {
  const found = s.images.find((i) => i.name === name);
  if (!found) throw new Error(`${name} is not in the summary: ${s.images.map((i) => i.name).join(', ')}`);
  return found;
};

/** The digest a tag of `repository` (path under the registry) resolves to, or undefined. */
export async function tagged(env: KilnTestEnv, repository: string, tag: string): Promise<string | undefined> {
  const res = await registryGet(env, `${repository}/manifests/${tag}`);
  if (res.status === 404) return undefined;
  expect(res.status).toBe(200);
  return sha256(res.body);
}

/** The referrers (signature and attestations) listed for a digest in the referrers tag index. */
export async function referrersOf(
  env: KilnTestEnv,
  repository: string,
  digest: string,
): Promise<{ digest: string; predicateType: string }[]> {
  const res = await registryGet(env, `${repository}/manifests/${digest.replace(':', '-')}`);
  if (res.status === 404) return [];
  expect(res.status).toBe(200);
  const index = JSON.parse(res.body.toString()) as {
    manifests: { digest: string; annotations?: Record<string, string> }[];
  };
  return index.manifests.map((m) => ({
    digest: m.digest,
    predicateType: m.annotations?.['dev.sigstore.bundle.predicateType'] ?? '',
  }));
}

export interface ActivityRun {
  type: string;
  /** Attempt number of the last start (retries do not add events, they bump this). */
  attempt?: number;
  result?: unknown;
  retryState?: string;
  /** When it was scheduled and when it closed (completed, failed or timed out), ms since the epoch. */
  scheduledAt?: number;
  closedAt?: number;
}

/** A protobuf Timestamp (seconds may be a Long) in ms since the epoch. */
function millis(t: { seconds?: unknown; nanos?: number | null } | null | undefined): number | undefined {
  if (!t) return undefined;
  const s = t.seconds as { toNumber?: () => number } | number | string | null | undefined;
  const seconds = typeof s === 'object' && s?.toNumber ? s.toNumber() : Number(s ?? 0);
  return seconds * 1000 + Math.floor((t.nanos ?? 0) / 1e6);
}

/** The activities a (child) workflow ran, read from its history. */
export async function activityRuns(client: Client, workflowId: string): Promise<ActivityRun[]> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const runs = new Map<number, ActivityRun>();
  for (const e of history.events ?? []) {
    if (e.activityTaskScheduledEventAttributes)
      runs.set(Number(e.eventId), {
        type: e.activityTaskScheduledEventAttributes.activityType?.name ?? '',
        scheduledAt: millis(e.eventTime),
      });
    const closed =
      e.activityTaskCompletedEventAttributes ??
      e.activityTaskFailedEventAttributes ??
      e.activityTaskTimedOutEventAttributes;
    if (closed) runs.get(Number(closed.scheduledEventId))!.closedAt = millis(e.eventTime);
    const started = e.activityTaskStartedEventAttributes;
    if (started) runs.get(Number(started.scheduledEventId))!.attempt = started.attempt ?? undefined;
    const done = e.activityTaskCompletedEventAttributes;
    if (done)
      runs.get(Number(done.scheduledEventId))!.result = defaultPayloadConverter.fromPayload(done.result!.payloads![0]!);
    const failed = e.activityTaskFailedEventAttributes;
    if (failed) runs.get(Number(failed.scheduledEventId))!.retryState = decodeRetryState(failed.retryState);
  }
  return [...runs.values()];
}

/** What assembleImage returned in an image's child workflow (also when a later stage failed). */
export async function assembled(
  client: Client,
  runId: string,
  name: string,
): Promise<{ digest: string; layoutDir: string }> {
  const assemble = (await activityRuns(client, `${runId}/image/${name}`)).find((r) => r.type === 'assembleImage');
  return assemble?.result as { digest: string; layoutDir: string };
}

/** The input a workflow was started with (its first argument), from its history. */
export async function workflowInput<T>(client: Client, workflowId: string): Promise<T> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const started = history.events?.[0]?.workflowExecutionStartedEventAttributes;
  return defaultPayloadConverter.fromPayload(started!.input!.payloads![0]!);
}
