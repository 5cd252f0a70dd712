// The registry client's answer to an overloaded registry: a 429 or 5xx is RegistryUnavailable
// (retried), carrying the delay the registry asked for in Retry-After, in either of its forms.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { retryAfterMs } from '../../../domain/host-limits.js';
import { RegistryClient, parseImageRef } from '../../../oci/registry.js';
import { failureOf } from '../../failure-of.js';

/** An in-process registry that answers every request with `status` and these headers. */
let answer: { status: number; headers: Record<string, string> } = { status: 429, headers: {} };
let server: Server;
let client: RegistryClient;

beforeAll(async () => {
  server = createServer((_req, res) => {
    res.writeHead(answer.status, answer.headers);
    res.end('slow down');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  client = new RegistryClient(parseImageRef(`127.0.0.1:${port}/kiln/hello`), {});
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

describe('a registry answering 429', () => {
  it('with Retry-After as an HTTP-date: RegistryUnavailable, retried after the time it names', async () => {
    // HTTP-dates have whole seconds: the delay is what is left until that second.
    const at = new Date(Math.ceil(Date.now() / 1000) * 1000 + 90_000);
    answer = { status: 429, headers: { 'retry-after': at.toUTCString() } };
    const before = Date.now();
    const err = await failureOf(client.getManifest('latest'));
    const after = Date.now();
    expect(err.type).toBe('RegistryUnavailable');
    expect(err.nonRetryable).toBe(false);
    expect(err.message).toMatch(/answered 429 for GET http:\/\/127\.0\.0\.1:\d+\/v2\/kiln\/hello\/manifests\/latest/);
    const delay = Number(err.nextRetryDelay);
    expect(delay).toBeGreaterThanOrEqual(at.getTime() - after);
    expect(delay).toBeLessThanOrEqual(at.getTime() - before);
    expect(delay).toBeGreaterThan(80_000);
  });

  it('with Retry-After in seconds: retried after that many seconds', async () => {
    answer = { status: 503, headers: { 'retry-after': '7' } };
    const err = await failureOf(client.getManifest('latest'));
    expect(err.type).toBe('RegistryUnavailable');
    expect(err.nextRetryDelay).toBe(7000);
  });

  it('with a date already past, or no Retry-After: the retry policy decides the delay', async () => {
    answer = { status: 429, headers: { 'retry-after': 'Thu, 01 Jan 2015 00:00:00 GMT' } };
    expect((await failureOf(client.getManifest('latest'))).nextRetryDelay).toBeUndefined();
    answer = { status: 502, headers: {} };
    const err = await failureOf(client.getManifest('latest'));
    expect(err.type).toBe('RegistryUnavailable');
    expect(err.nextRetryDelay).toBeUndefined();
  });
});

describe('retryAfterMs', () => {
  const now = Date.parse('2026-10-21T07:28:00Z');
  it('reads both forms of the header', () => {
    expect(retryAfterMs('120', now)).toBe(120_000);
    expect(retryAfterMs('Wed, 21 Oct 2026 07:30:00 GMT', now)).toBe(120_000);
  });
  it('ignores what names no future time', () => {
    expect(retryAfterMs(null, now)).toBeUndefined();
    expect(retryAfterMs('0', now)).toBeUndefined();
    expect(retryAfterMs('soon', now)).toBeUndefined();
    expect(retryAfterMs('-5', now)).toBeUndefined();
    expect(retryAfterMs('Wed, 21 Oct 2026 07:27:00 GMT', now)).toBeUndefined();
  });
});
