// What a kiln process running workers tells its operators: logs, and Prometheus metrics on
// config.metrics.address (KILN_METRICS_ADDRESS). Temporal's native runtime is installed once per
// process, so every entry point that runs a worker (workers/main.ts, `kiln rebuild`, the pipeline
// tests) installs it here: the SDK's own metrics (temporal_*: polls, task latencies, slots, workflow
// and activity outcomes) and kiln's (kiln_*, domain/metrics.ts) then come out of one endpoint.
import { performance } from 'node:perf_hooks';
import { CancelledFailure } from '@temporalio/common';
import { DefaultLogger, Runtime, type ActivityInterceptorsFactory, type RuntimeOptions } from '@temporalio/worker';
import type { KilnConfig, LogLevel } from '../config/config.js';
import { configInvalid } from '../domain/failures.js';
import { HISTOGRAM_BUCKETS, recordStageDuration } from '../domain/metrics.js';

/** The runtime's options: a logger at `logLevel`, and the Prometheus exporter when an address is configured. */
export function runtimeOptions(config: KilnConfig, logLevel: LogLevel): RuntimeOptions {
  const { address } = config.metrics;
  return {
    logger: new DefaultLogger(logLevel),
    ...(address
      ? {
          telemetryOptions: {
            metrics: {
              prometheus: {
                bindAddress: address,
                // kiln's histograms are in seconds; the SDK's keep their documented names and units.
                histogramBucketOverrides: HISTOGRAM_BUCKETS,
              },
            },
          },
        }
      : {}),
  };
}

/**
 * Installs Temporal's runtime for this process (once: a second call throws, as Runtime.install
 * does). A metrics address that cannot be bound (in use by another worker or `kiln rebuild` on
 * this machine) is a ConfigInvalid failure naming the variable; with `metrics: 'optional'` (a
 * one-shot command, whose job is the run) it is a warning, and the runtime serves no metrics.
 */
export function installRuntime(
  config: KilnConfig,
  logLevel: LogLevel = config.worker.logLevel,
  o: { metrics?: 'required' | 'optional'; warn?: (message: string) => void } = {},
): Runtime {
  try {
    return Runtime.install(runtimeOptions(config, logLevel));
  } catch (err) {
    if (!config.metrics.address || !/prometheus|metrics|address/i.test((err as Error).message)) throw err;
    const problem = `KILN_METRICS_ADDRESS=${config.metrics.address}: cannot serve metrics there: ${(err as Error).message}`;
    if (o.metrics === 'optional') {
      (o.warn ?? console.warn)(`${problem}; going on without metrics`);
      return Runtime.install(runtimeOptions({ ...config, metrics: {} }, logLevel));
    }
    throw configInvalid(
      `${problem} (fix: another worker or kiln rebuild on this machine may hold it: choose a free port, or unset it)`,
    );
  }
}

/**
 * Times every activity attempt as kiln_stage_duration_seconds{stage=<activity type>, outcome}, on
 * the activity's meter (which adds namespace, task queue and activity type). A retried stage
 * records each attempt; a stage that heartbeats for an hour records once, when it ends.
 */
export const stageDurations: ActivityInterceptorsFactory = (ctx) => ({
  inbound: {
    async execute(input, next) {
      const started = performance.now();
      let outcome: 'ok' | 'failed' | 'cancelled' = 'failed';
      try {
        const result = await next(input);
        outcome = 'ok';
        return result;
      } catch (err) {
        if (err instanceof CancelledFailure || ctx.cancellationSignal.aborted) outcome = 'cancelled';
        throw err;
      } finally {
        recordStageDuration(ctx.metricMeter, {
          stage: ctx.info.activityType,
          seconds: (performance.now() - started) / 1000,
          outcome,
        });
      }
    },
  },
});
