// `kiln cluster` for real: PostgreSQL, the Temporal server and its Web UI come up from scratch in a
// throwaway state directory on their own loopback ports (beside the shared dev server), register the
// configured namespace and kiln's search attributes, run a workflow through a worker, go down, and
// come back up with their data. The first run on a machine builds the server (minutes; cached).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { configWith, type KilnConfig } from '../../../config/config.js';
import { connectClient, connectWorkerConnection } from '../../../client/connection.js';
import { clusterDown, clusterStatus, clusterUp } from '../../../setup/cluster.js';
import { KILN_SEARCH_ATTRIBUTES } from '../../../workflows/search-attributes.js';
import { freeClusterAddresses } from './cluster-ports.js';

const NAMESPACE = 'kiln-cluster-test';
/** temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD, as the operator service lists it. */
const KEYWORD = 2;
const PROBE = fileURLToPath(new URL('./cluster-probe-workflow.ts', import.meta.url));

let state: string;
let config: KilnConfig;
const quiet = () => undefined;

beforeAll(async () => {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  state = await mkdtemp(join(tmpdir(), 'kiln-cluster-'));
  config = configWith({ KILN_STATE: state, TEMPORAL_NAMESPACE: NAMESPACE, ...(await freeClusterAddresses()) });
});

afterAll(async () => {
  if (config) await clusterDown(config, quiet);
  if (state && !process.env.KILN_KEEP_TEST_STATE) await rm(state, { recursive: true, force: true });
});

async function withClient<T>(fn: (c: Awaited<ReturnType<typeof connectClient>>) => Promise<T>): Promise<T> {
  const c = await connectClient(config);
  try {
    return await fn(c);
  } finally {
    await c.close();
  }
}

/** Workflow ids visibility lists for a query (eventually consistent: polled briefly). */
async function listed(query: string, want: string): Promise<string[]> {
  return withClient(async ({ client }) => {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const ids: string[] = [];
      for await (const w of client.workflow.list({ query })) ids.push(w.workflowId);
      if (ids.includes(want) || Date.now() > deadline) return ids;
      await new Promise((r) => setTimeout(r, 500));
    }
  });
}

describe('kiln cluster', () => {
  const workflowId = `cluster-probe-${Date.now()}`;

  it('comes up from scratch with the namespace, the search attributes and the Web UI', async () => {
    const log: string[] = [];
    await clusterUp(config, (l) => log.push(l));
    expect(log.join('\n')).toMatch(/postgresql: initdb .*postgresql/);
    expect(log.join('\n')).toMatch(new RegExp(`namespace ${NAMESPACE}: created`));
    expect(log.join('\n')).toMatch(/search attributes: .* \(created 4\)/);

    const status = await clusterStatus(config);
    expect(status.map((s) => [s.name, s.state])).toEqual([
      ['postgresql', 'up'],
      ['temporal-server', 'up'],
      ['web-ui', 'up'],
    ]);

    await withClient(async ({ connection }) => {
      const ns = await connection.workflowService.describeNamespace({ namespace: NAMESPACE });
      expect(ns.namespaceInfo?.name).toBe(NAMESPACE);
      const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace: NAMESPACE });
      for (const k of KILN_SEARCH_ATTRIBUTES) {
        expect(customAttributes?.[k.name]).toBe(KEYWORD);
      }
    });

    // The Web UI answers from the cluster: its API lists the namespace the server holds.
    const res = await fetch(`${config.temporal.webUi}/api/v1/namespaces/${NAMESPACE}`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { namespaceInfo: { name: string } }).namespaceInfo.name).toBe(NAMESPACE);
  });

  it('runs a workflow that sets a kiln search attribute, and finds it by that attribute', async () => {
    const taskQueue = `cluster-probe-${Date.now()}`;
    const connection = await connectWorkerConnection(config);
    try {
      const worker = await Worker.create({ connection, namespace: NAMESPACE, taskQueue, workflowsPath: PROBE });
      const result = await withClient(({ client }) =>
        worker.runUntil(client.workflow.execute('clusterProbe', { taskQueue, workflowId, args: ['cluster'] })),
      );
      expect(result).toBe('hello cluster');
    } finally {
      await connection.close();
    }
    expect(await listed(`KilnStage = "probed"`, workflowId)).toContain(workflowId);
  });

  it('is left alone by a second up', async () => {
    const log: string[] = [];
    await clusterUp(config, (l) => log.push(l));
    const text = log.join('\n');
    for (const name of ['postgresql', 'temporal-server', 'web-ui']) expect(text).toMatch(`${name}: already up`);
    expect(text).toMatch(`namespace ${NAMESPACE}: registered`);
    expect(text).toMatch(/search attributes: .* \(registered\)/);
    expect(text).not.toMatch(/initdb|started/);
  });

  it('stops everything on down, and keeps the runs for the next up', async () => {
    await clusterDown(config, quiet);
    expect((await clusterStatus(config)).map((s) => s.state)).toEqual(['down', 'down', 'down']);
    await clusterUp(config, quiet);
    expect((await clusterStatus(config)).map((s) => s.state)).toEqual(['up', 'up', 'up']);
    expect(await listed(`KilnStage = "probed"`, workflowId)).toContain(workflowId);
  });
});
