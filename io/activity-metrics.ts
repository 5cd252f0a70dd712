// The metric meter of the activity running now, for kiln's own metrics recorded from activity code
// (domain/metrics.ts: recordRateLimitWait, recordStageDuration). Outside an activity (a unit test
// calling an activity function or a client directly) it is a meter that records nothing.
import { Context } from '@temporalio/activity';
import { noopMetricMeter, type MetricMeter } from '@temporalio/common';

export function activityMeter(): MetricMeter {
  try {
    return Context.current().metricMeter;
  } catch {
    return noopMetricMeter;
  }
}
