// A catalog rebuild's summary, stored outside its history (io/run-summary-store.ts): each run
// stores the outcomes it finished as parts; the last one assembles them, writes the run report
// (activities/run-report.ts) and stores the whole summary, whose reference the workflow returns.
import type { KilnConfig } from '../config/config.js';
import type { SummaryHeader, SummaryPart } from '../domain/run-summary.js';
import { waitsOf } from '../io/host-pacer.js';
import * as store from '../io/run-summary-store.js';
import { writeRunReport, type RunReport } from './run-report.js';

export interface SummaryPartInput {
  workflowId: string;
  runId: string;
  /** The part's place among this run's parts. */
  index: number;
  part: SummaryPart;
}

/** Stores outcomes one run finished; returns the part's reference. */
export function storeSummaryPart(config: KilnConfig, input: SummaryPartInput): Promise<string> {
  return store.storeSummaryPart(config, input, input.part);
}

export interface FinishSummaryInput {
  header: SummaryHeader;
  /** Every part every run of the rebuild stored. */
  parts: string[];
}

export interface FinishedSummary {
  /** The stored summary (RebuildResult.summary). */
  reference: string;
  report?: RunReport;
}

/**
 * The whole summary, with what the run waited on shared rate limits (asked of the hosts' gates) and
 * its run report when one could be written (a report never fails a run).
 */
export async function finishRunSummary(config: KilnConfig, input: FinishSummaryInput): Promise<FinishedSummary> {
  const summary = await store.assembleStoredSummary(config, input.header, input.parts);
  // Like the report, what a run waited is told when it can be asked: it never fails the run.
  const limits = await waitsOf(input.header.workflowId).catch(() => []);
  if (limits.length) summary.limits = limits;
  const report = await writeRunReport(config, { summary }).catch(() => undefined);
  if (report) summary.report = report;
  return { reference: await store.storeRunSummary(config, summary), ...(report ? { report } : {}) };
}
