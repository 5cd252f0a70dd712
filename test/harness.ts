// Shared by the pipeline tests: the real services from global-setup, a real worker, and plain
// HTTP reads of the registry (what a person would check with curl).
import { createHash } from 'node:crypto';
import { cp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO_ROOT } from '../config/config.js';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, inject } from 'vitest';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Runtime, type Worker } from '@temporalio/worker';
import { createKilnWorker, WORKFLOWS_PATH } from '../workers/worker.js';
import type { KilnTestEnv } from './global-setup.js';

/** Points this test process (and the activities it runs) at the shared test services. */
export function useKilnEnv(): KilnTestEnv {
  const env = inject('kilnEnv');
  Object.assign(process.env, env);
  return env;
}

export interface TemporalHarness {
  client: Client;
  nativeConnection: NativeConnection;
  bundle: { code: string };
  worker(taskQueue: string): Promise<Worker>;
  close(): Promise<void>;
}

let runtimeInstalled = false;

export async function connectTemporal(env: KilnTestEnv): Promise<TemporalHarness> {
  if (!runtimeInstalled) {
    // Worker lifecycle chatter hides test output; warnings and errors still show.
    Runtime.install({ logger: new DefaultLogger('WARN') });
    runtimeInstalled = true;
  }
  const connection = await Connection.connect({ address: env.TEMPORAL_ADDRESS });
  const nativeConnection = await NativeConnection.connect({ address: env.TEMPORAL_ADDRESS });
  const bundle = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: undefined });
  return {
    client: new Client({ connection }),
    nativeConnection,
    bundle,
    worker: (taskQueue) => createKilnWorker({ connection: nativeConnection, namespace: 'default', taskQueue, workflowBundle: bundle }),
    close: async () => {
      await connection.close();
      await nativeConnection.close();
    },
  };
}

const ACCEPT = 'application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json';

export async function registryGet(env: KilnTestEnv, path: string): Promise<{ status: number; body: Buffer; headers: Headers }> {
  const res = await fetch(`http://${env.KILN_REGISTRY}/v2/${path}`, { headers: { accept: ACCEPT } });
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()), headers: res.headers };
}

export const sha256 = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** Files of a (gzipped) tar layer, by path; enough of ustar + PAX to read apko's layers. */
export function layerFiles(layerGz: Buffer): Map<string, Buffer> {
  const tar = gunzipSync(layerGz);
  const files = new Map<string, Buffer>();
  let off = 0;
  let paxPath: string | undefined;
  while (off + 512 <= tar.length) {
    const header = tar.subarray(off, off + 512);
    if (header.every((b) => b === 0)) break;
    const field = (start: number, len: number) => header.subarray(start, start + len).toString('utf8').replace(/\0.*$/s, '');
    const size = parseInt(field(124, 12).trim() || '0', 8);
    const type = field(156, 1);
    const prefix = field(345, 155);
    const name = paxPath ?? (prefix ? `${prefix}/${field(0, 100)}` : field(0, 100));
    const data = tar.subarray(off + 512, off + 512 + size);
    paxPath = undefined;
    if (type === 'x') {
      const m = /\d+ path=([^\n]*)\n/.exec(data.toString('utf8'));
      paxPath = m?.[1];
    } else if (type === '0' || type === '') {
      files.set(name.replace(/^\.\//, ''), Buffer.from(data));
    }
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return files;
}

/** Package names apk would report as installed in an image, from its layers. */
export async function installedPackages(env: KilnTestEnv, repository: string, manifestDigest: string): Promise<string[]> {
  const manifest = JSON.parse((await registryGet(env, `${repository}/manifests/${manifestDigest}`)).body.toString()) as { layers: { digest: string }[] };
  const names: string[] = [];
  for (const layer of manifest.layers) {
    const blob = await registryGet(env, `${repository}/blobs/${layer.digest}`);
    const db = layerFiles(blob.body).get('usr/lib/apk/db/installed');
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
