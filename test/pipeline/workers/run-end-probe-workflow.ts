// What catalogRebuild does at the end of a run, on its own: kiln's run metrics through the
// workflow's metric meter, and the run report through the writeRunReport activity. The metrics and
// report test runs it after a real catalogRebuild, with that run's summary.
import { metricMeter, proxyActivities } from '@temporalio/workflow';
import type { KilnActivities, RunReport } from '../../../activities/index.js';
import { recordRunMetrics } from '../../../domain/metrics.js';
import type { RebuildSummary } from '../../../domain/summary.js';

const { writeRunReport } = proxyActivities<KilnActivities>({
  startToCloseTimeout: '5 minutes',
  retry: { initialInterval: '2 seconds', maximumAttempts: 3 },
});

export async function runEndProbe(summary: RebuildSummary): Promise<RunReport> {
  recordRunMetrics(metricMeter, summary);
  return writeRunReport({ summary });
}
