// Installing Temporal's runtime with the metrics endpoint: a worker refuses to start without the
// endpoint it was configured with; a one-shot `kiln rebuild` warns and goes on without it.
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApplicationFailure } from '@temporalio/common';
import { Runtime } from '@temporalio/worker';
import { loadConfig } from '../../../config/config.js';
import { installRuntime } from '../../../workers/telemetry.js';

let busy: Server;
let address: string;
beforeAll(async () => {
  busy = createServer();
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
  address = `127.0.0.1:${(busy.address() as { port: number }).port}`;
});
afterAll(() => new Promise<void>((resolve) => busy.close(() => resolve())));

describe('installRuntime, when KILN_METRICS_ADDRESS is in use', () => {
  it('refuses, as a ConfigInvalid naming the variable, by default (a worker)', () => {
    const config = loadConfig({ KILN_METRICS_ADDRESS: address });
    let failure: unknown;
    try {
      installRuntime(config, 'ERROR');
    } catch (err) {
      failure = err;
    }
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect((failure as ApplicationFailure).type).toBe('ConfigInvalid');
    expect((failure as ApplicationFailure).message).toMatch(
      new RegExp(`^KILN_METRICS_ADDRESS=${address}: cannot serve metrics there: .*in use.*fix:`),
    );
  });

  it('warns and installs the runtime without metrics when they are optional (kiln rebuild)', () => {
    const warnings: string[] = [];
    const runtime = installRuntime(loadConfig({ KILN_METRICS_ADDRESS: address }), 'ERROR', {
      metrics: 'optional',
      warn: (m) => warnings.push(m),
    });
    expect(runtime).toBe(Runtime.instance());
    expect(warnings).toEqual([expect.stringMatching(/^KILN_METRICS_ADDRESS=.*; going on without metrics$/)]);
  });
});
