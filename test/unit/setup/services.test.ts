// The embedded services serve the upstream source mirror only for a state directory that has one.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../config/config.js';
import { embeddedServices } from '../../../setup/services.js';

let state: string;
beforeAll(async () => {
  state = await mkdtemp(join(tmpdir(), 'kiln-services-'));
});
afterAll(async () => rm(state, { recursive: true, force: true }));

describe('the source mirror service', () => {
  it('is not there without a mirror directory', () => {
    expect(embeddedServices(loadConfig({ KILN_STATE: state })).map((s) => s.name)).not.toContain('mirror');
  });

  it('serves <state>/mirror with busybox httpd on 127.0.0.1:8091 once setup made it', async () => {
    await mkdir(join(state, 'mirror'));
    const mirror = embeddedServices(loadConfig({ KILN_STATE: state })).find((s) => s.name === 'mirror');
    expect(mirror).toMatchObject({ host: '127.0.0.1', port: 8091, command: '/bin/busybox' });
    expect(mirror?.args).toEqual(['httpd', '-f', '-p', '127.0.0.1:8091', '-h', join(state, 'mirror')]);
  });
});
