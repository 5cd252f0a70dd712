// The configuration object, without services: the Temporal connection settings envconfig derives
// from TEMPORAL_* variables or a profile (TLS, mTLS, API key, metadata), and a bad value reported
// as a non-retryable ConfigInvalid failure naming the variable.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApplicationFailure } from '@temporalio/common';
import { loadConfig } from '../../../config/config.js';

let dir: string;
const file = (name: string) => join(dir, name);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiln-config-'));
  // Not real PEM: envconfig passes the bytes through, the TLS handshake would read them.
  await writeFile(file('client.crt'), 'client certificate bytes');
  await writeFile(file('client.key'), 'client key bytes');
  await writeFile(file('ca.crt'), 'server CA bytes');
  await writeFile(
    file('temporal.toml'),
    [
      '[profile.cloud]',
      'address = "kiln.a1b2c.tmprl.cloud:7233"',
      'namespace = "kiln.a1b2c"',
      'api_key = "from-the-profile"',
      '',
    ].join('\n'),
  );
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The failure loadConfig throws for this environment. */
function configFailure(env: Record<string, string>): ApplicationFailure {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ApplicationFailure);
    return err as ApplicationFailure;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

describe('the Temporal connection', () => {
  it('defaults to the embedded dev server: plain gRPC on 127.0.0.1:7233, namespace default', () => {
    const { temporal } = loadConfig({});
    expect(temporal.connection.address).toBe('127.0.0.1:7233');
    expect(temporal.connection.tls).toBeUndefined();
    expect(temporal.connection.apiKey).toBeUndefined();
    expect(temporal.namespace).toBe('default');
    expect(temporal.taskQueue).toBe('kiln');
  });

  it('takes an API key (Temporal Cloud) and turns TLS on with it', () => {
    const { temporal } = loadConfig({
      TEMPORAL_ADDRESS: 'kiln.a1b2c.tmprl.cloud:7233',
      TEMPORAL_NAMESPACE: 'kiln.a1b2c',
      TEMPORAL_API_KEY: 'secret-key',
    });
    expect(temporal.connection).toMatchObject({
      address: 'kiln.a1b2c.tmprl.cloud:7233',
      apiKey: 'secret-key',
      tls: true,
    });
    expect(temporal.namespace).toBe('kiln.a1b2c');
  });

  it('reads the mTLS client pair, a private CA and a server name from their files', () => {
    const { temporal } = loadConfig({
      TEMPORAL_ADDRESS: 'temporal.internal:7233',
      TEMPORAL_TLS_CLIENT_CERT_PATH: file('client.crt'),
      TEMPORAL_TLS_CLIENT_KEY_PATH: file('client.key'),
      TEMPORAL_TLS_SERVER_CA_CERT_PATH: file('ca.crt'),
      TEMPORAL_TLS_SERVER_NAME: 'temporal.example',
    });
    const tls = temporal.connection.tls;
    expect(tls && typeof tls === 'object').toBe(true);
    if (!tls || typeof tls !== 'object') return;
    expect(Buffer.from(tls.clientCertPair!.crt).toString()).toBe('client certificate bytes');
    expect(Buffer.from(tls.clientCertPair!.key).toString()).toBe('client key bytes');
    expect(Buffer.from(tls.serverRootCACertificate!).toString()).toBe('server CA bytes');
    expect(tls.serverNameOverride).toBe('temporal.example');
    expect(temporal.connection.apiKey).toBeUndefined();
  });

  it('turns plain TLS on with TEMPORAL_TLS=true and sends TEMPORAL_GRPC_META_* as metadata', () => {
    const { temporal } = loadConfig({ TEMPORAL_TLS: 'true', TEMPORAL_GRPC_META_X_KILN_TEAM: 'platform' });
    expect(temporal.connection.tls).toBeTruthy();
    expect(temporal.connection.metadata).toEqual({ 'x-kiln-team': 'platform' });
  });

  it('reads a profile from the Temporal config file; variables override it', () => {
    const fromProfile = loadConfig({ TEMPORAL_CONFIG_FILE: file('temporal.toml'), TEMPORAL_PROFILE: 'cloud' }).temporal;
    expect(fromProfile.connection).toMatchObject({
      address: 'kiln.a1b2c.tmprl.cloud:7233',
      apiKey: 'from-the-profile',
      tls: true,
    });
    expect(fromProfile.namespace).toBe('kiln.a1b2c');
    const overridden = loadConfig({
      TEMPORAL_CONFIG_FILE: file('temporal.toml'),
      TEMPORAL_PROFILE: 'cloud',
      TEMPORAL_NAMESPACE: 'other',
    });
    expect(overridden.temporal.namespace).toBe('other');
  });

  it('refuses an unreadable certificate file as ConfigInvalid', () => {
    const err = configFailure({
      TEMPORAL_TLS_CLIENT_CERT_PATH: file('missing.crt'),
      TEMPORAL_TLS_CLIENT_KEY_PATH: file('client.key'),
    });
    expect(err.type).toBe('ConfigInvalid');
    expect(err.nonRetryable).toBe(true);
    expect(err.message).toContain('missing.crt');
  });
});

describe('a bad value', () => {
  it('is ConfigInvalid, never retried, naming the variable, its value and the fix', () => {
    const err = configFailure({ KILN_MAX_ACTIVITIES: 'abc' });
    expect(err.type).toBe('ConfigInvalid');
    expect(err.nonRetryable).toBe(true);
    expect(err.message).toContain('KILN_MAX_ACTIVITIES=abc');
    expect(err.message).toMatch(/fix:/);
  });

  it('reports every problem at once', () => {
    const err = configFailure({ KILN_MAX_ACTIVITIES: '0', KILN_LOG_LEVEL: 'LOUD', KILN_REGISTRY_INSECURE: 'yes' });
    expect(err.message).toContain('KILN_MAX_ACTIVITIES=0');
    expect(err.message).toContain('KILN_LOG_LEVEL=LOUD');
    expect(err.message).toContain('KILN_REGISTRY_INSECURE=yes');
  });

  it('accepts the same variables when they are valid', () => {
    const config = loadConfig({ KILN_MAX_ACTIVITIES: '4', KILN_LOG_LEVEL: 'WARN', KILN_REGISTRY_INSECURE: 'true' });
    expect(config.worker).toMatchObject({ maxConcurrentActivities: 4, logLevel: 'WARN' });
    expect(config.registryAuth.insecure).toBe(true);
  });
});

describe('KILN_WORKER_ARCHS', () => {
  it('lists the archs whose build queues the worker polls, each once', () => {
    expect(loadConfig({ KILN_WORKER_ARCHS: 'aarch64, x86_64,aarch64' }).worker.archs).toEqual(['aarch64', 'x86_64']);
  });

  it('is left to the worker (what the machine runs) when unset or empty', () => {
    expect(loadConfig({}).worker.archs).toBeUndefined();
    expect(loadConfig({ KILN_WORKER_ARCHS: ' ' }).worker.archs).toBeUndefined();
  });

  it('refuses a name that is no APK arch, with the fix', () => {
    const err = configFailure({ KILN_WORKER_ARCHS: 'x86_64,arm/v8' });
    expect(err.message).toContain('"arm/v8" is not an APK arch');
    expect(err.message).toMatch(/fix:/);
  });
});
