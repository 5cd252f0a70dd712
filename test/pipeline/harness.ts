// Shared by the pipeline tests: the real services from global-setup, a real worker, and plain
// HTTP reads of the registry (what a person would check with curl).
import { cp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO_ROOT, configWith, type Environment, type KilnConfig } from '../../config/config.js';
import { gunzipSync } from 'node:zlib';
import { readTar } from '../../domain/tar.js';
import { afterAll, beforeAll, inject } from 'vitest';
import type { Client } from '@temporalio/client';
import { bundleWorkflowCode, type NativeConnection } from '@temporalio/worker';
import { connectClient, connectWorkerConnection } from '../../client/connection.js';
import { sha256digest } from '../../domain/digest.js';
import { installRuntime } from '../../workers/telemetry.js';
import { createKilnWorker, WORKFLOWS_PATH, type KilnWorker } from '../../workers/worker.js';
import type { KilnTestEnv } from './global-setup.js';
import type { CatalogRebuildResult } from '../../domain/run-summary.js';
import type { RebuildSummary } from '../../domain/summary.js';
import { summaryOfResult } from '../../io/run-summary-store.js';

/** The shared test services' variables (test/global-setup.ts), leaving process.env alone. */
export function kilnTestEnv(): KilnTestEnv {
  return inject('kilnEnv');
}

/** A config pointed at the shared test services, with these variables set (or removed: undefined). */
export function kilnTestConfig(env: KilnTestEnv, overrides: Environment = {}): KilnConfig {
  return configWith({ ...env, ...overrides });
}

/**
 * A catalogRebuild's summary, read from the artifact store its result names, as `kiln rebuild`
 * reads it (the result itself is a reference and counts).
 */
export function rebuildSummary(
  result: CatalogRebuildResult,
  config: KilnConfig = kilnTestConfig(kilnTestEnv()),
): Promise<RebuildSummary> {
  return summaryOfResult(config, result);
}

export interface TemporalHarness {
  client: Client;
  nativeConnection: NativeConnection;
  bundle: { code: string };
  /** A worker on this task queue; its activities get `config` (default: kilnTestConfig(env), made now). */
  worker(taskQueue: string, config?: KilnConfig): Promise<KilnWorker>;
  close(): Promise<void>;
}

/** The KILN_METRICS_ADDRESS this process's runtime was installed with ('' for none), once installed. */
let runtimeMetrics: string | undefined;

/**
 * Connects to the shared services. The first call in a test file's process installs Temporal's
 * runtime, serving Prometheus metrics on `metricsAddress` when given (workers/telemetry.ts).
 */
export async function connectTemporal(
  env: KilnTestEnv,
  options: { metricsAddress?: string } = {},
): Promise<TemporalHarness> {
  const metrics = options.metricsAddress ?? '';
  if (runtimeMetrics === undefined) {
    // Worker lifecycle chatter hides test output; warnings and errors still show.
    installRuntime(kilnTestConfig(env, { KILN_METRICS_ADDRESS: metrics || undefined }), 'WARN');
    runtimeMetrics = metrics;
  } else if (runtimeMetrics !== metrics) {
    throw new Error(
      `Temporal's runtime is installed once per process, with metrics "${runtimeMetrics}", not "${metrics}"`,
    );
  }
  const config = kilnTestConfig(env);
  const { client, close } = await connectClient(config);
  const nativeConnection = await connectWorkerConnection(config);
  const bundle = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: undefined });
  return {
    client,
    nativeConnection,
    bundle,
    worker: (taskQueue, workerConfig = kilnTestConfig(env)) =>
      createKilnWorker({ config: workerConfig, connection: nativeConnection, taskQueue, workflowBundle: bundle }),
    close: async () => {
      await close();
      await nativeConnection.close();
    },
  };
}

const ACCEPT = 'application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json';

export async function registryGet(
  env: KilnTestEnv,
  path: string,
): Promise<{ status: number; body: Buffer; headers: Headers }> {
  const res = await fetch(`http://${env.KILN_REGISTRY}/v2/${path}`, { headers: { accept: ACCEPT } });
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()), headers: res.headers };
}

/** `sha256:<hex>` of bytes (domain/digest.ts). */
export const sha256 = sha256digest;

/** Regular files of a (gzipped) tar layer, by path, read with the one tar reader. */
export async function layerFiles(layerGz: Buffer): Promise<Map<string, Buffer>> {
  const entries = await readTar(gunzipSync(layerGz), 'layer');
  return new Map(entries.filter((e) => e.type === '0').map((e) => [e.path, e.data]));
}

/** Package names apk would report as installed in an image, from its layers. */
export async function installedPackages(
  env: KilnTestEnv,
  repository: string,
  manifestDigest: string,
): Promise<string[]> {
  const manifest = JSON.parse(
    (await registryGet(env, `${repository}/manifests/${manifestDigest}`)).body.toString(),
  ) as { layers: { digest: string }[] };
  const names: string[] = [];
  for (const layer of manifest.layers) {
    const blob = await registryGet(env, `${repository}/blobs/${layer.digest}`);
    const db = (await layerFiles(blob.body)).get('usr/lib/apk/db/installed');
    if (db) names.push(...[...db.toString().matchAll(/^P:(.+)$/gm)].map((m) => m[1]!));
  }
  return names.sort();
}

/**
 * Copies a fixture catalog into `dest` with its own package repository and registry prefix, so a
 * test file's builds never make another file's "first build" up to date.
 */
export async function isolatedFixture(name: string, dest: string, tag: string): Promise<string> {
  await cp(join(REPO_ROOT, 'test', 'fixtures', name), dest, { recursive: true });
  const settings = join(dest, 'catalog.yaml');
  const text = await readFile(settings, 'utf8');
  const next = text.replace('${KILN_STATE}/repo"', `\${KILN_STATE}/repo-${tag}"`).replace('/kiln"', `/${tag}"`);
  if (next === text) throw new Error(`fixture ${name} does not use the default repository and registry prefix`);
  await writeFile(settings, next);
  return dest;
}

/** Connects once for the test file (beforeAll) and closes at the end (afterAll). */
export function useTemporal(env: KilnTestEnv): () => TemporalHarness {
  let temporal: TemporalHarness | undefined;
  beforeAll(async () => {
    temporal = await connectTemporal(env);
  });
  afterAll(async () => temporal?.close());
  return () => temporal!;
}
