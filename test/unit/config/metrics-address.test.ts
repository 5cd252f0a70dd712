// KILN_METRICS_ADDRESS: off unless set; an IP address and port the runtime can bind, or a
// ConfigInvalid naming the variable and the fix (a host name would only fail later, in the runtime).
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../config/config.js';
import { runtimeOptions } from '../../../workers/telemetry.js';

describe('KILN_METRICS_ADDRESS', () => {
  it('is off by default', () => {
    const config = loadConfig({});
    expect(config.metrics.address).toBeUndefined();
    expect(runtimeOptions(config, 'WARN').telemetryOptions).toBeUndefined();
  });

  it('takes an IPv4 or bracketed IPv6 address with a port, and gives it to the Prometheus exporter', () => {
    expect(loadConfig({ KILN_METRICS_ADDRESS: '[::1]:9464' }).metrics.address).toBe('[::1]:9464');
    const config = loadConfig({ KILN_METRICS_ADDRESS: '127.0.0.1:9464' });
    const metrics = runtimeOptions(config, 'WARN').telemetryOptions?.metrics;
    expect(metrics && 'prometheus' in metrics ? metrics.prometheus.bindAddress : undefined).toBe('127.0.0.1:9464');
    expect(metrics && 'prometheus' in metrics ? metrics.prometheus.histogramBucketOverrides : {}).toHaveProperty(
      'kiln_stage_duration_seconds',
    );
  });

  it.each(['localhost:9464', '127.0.0.1', '127.0.0.1:0', '127.0.0.1:70000', '::1:9464', '300.0.0.1:9464'])(
    'refuses %s, naming the variable and the fix',
    (raw) => {
      expect(() => loadConfig({ KILN_METRICS_ADDRESS: raw })).toThrow(
        new RegExp(`KILN_METRICS_ADDRESS=${raw.replace(/[.[\]]/g, '\\$&')}: expected an IP address and port.*fix:`),
      );
    },
  );
});
