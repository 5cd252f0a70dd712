// Two worker processes that share nothing but Temporal (the PostgreSQL-backed cluster, `kiln cluster`),
// the registry and the package repository: each has its own state directory. One is killed with
// SIGKILL while it builds; the other finishes the run with nothing lost and nothing finished redone.
// Real Temporal server, PostgreSQL, melange, apko, bubblewrap and registry.
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa, type ResultPromise } from 'execa';
import type { WorkflowExecutionDescription } from '@temporalio/client';
import { REPO_ROOT, configWith, type KilnConfig } from '../../../config/config.js';
import { connectClient } from '../../../client/connection.js';
import { parseApkIndex } from '../../../domain/apkindex.js';
import { formatSummary, type RebuildSummary } from '../../../domain/summary.js';
import { clusterDown, clusterUp } from '../../../setup/cluster.js';
import { catalogRebuild } from '../../../workflows/catalog-rebuild.js';
import { kilnTestConfig, kilnTestEnv, rebuildSummary } from '../harness.js';
import { freeClusterAddresses } from '../setup/cluster-ports.js';
import { FIXTURES } from '../../fixtures/paths.js';
import { activityRuns } from '../workflows/image-registry.js';

const env = kilnTestEnv();
const TASK_QUEUE = 'share-nothing';
const quiet = () => undefined;

let cluster: KilnConfig;
let clusterState: string;
let shared: string;
let catalogDir: string;
const workers = new Map<string, { state: string; process: ResultPromise; output: string[] }>();

/** A worker process with its own KILN_STATE (holding only copies of the signing keys). */
async function startWorker(id: string): Promise<void> {
  const state = await mkdtemp(join(env.KILN_STATE, `worker-${id}-`));
  await cp(join(env.KILN_STATE, 'keys'), join(state, 'keys'), { recursive: true });
  const output: string[] = [];
  const child = execa(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'workers', 'main.ts')], {
    cwd: REPO_ROOT,
    env: {
      KILN_STATE: state,
      KILN_WORKER_ID: id,
      KILN_TASK_QUEUE: TASK_QUEUE,
      KILN_CATALOG: catalogDir,
      KILN_SHARED: shared,
      KILN_REGISTRY: env.KILN_REGISTRY,
      KILN_ARTIFACTS: `${env.KILN_REGISTRY}/share-nothing-artifacts`,
      KILN_LOG_LEVEL: 'WARN',
      TEMPORAL_ADDRESS: cluster.temporal.connection.address,
      TEMPORAL_NAMESPACE: cluster.temporal.namespace,
    },
    extendEnv: true,
    reject: false,
    all: true,
  });
  child.all?.on('data', (d: Buffer) => output.push(d.toString()));
  workers.set(id, { state, process: child, output });
  const deadline = Date.now() + 120_000;
  while (!output.join('').includes('kiln worker polling')) {
    if (Date.now() > deadline || child.exitCode !== null)
      throw new Error(`worker ${id} did not start:\n${output.join('')}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

beforeAll(async () => {
  // Not under the test state directory: PostgreSQL runs as its own user, which must reach its data.
  clusterState = await mkdtemp(join(tmpdir(), 'kiln-share-nothing-cluster-'));
  cluster = configWith({
    KILN_STATE: clusterState,
    TEMPORAL_NAMESPACE: 'kiln-share-nothing',
    ...(await freeClusterAddresses()),
  });
  await clusterUp(cluster, quiet);
  // What the workers share besides Temporal and the registry: the package repository, the
  // bootstrap repository and the public keys, all under KILN_SHARED.
  shared = await mkdtemp(join(env.KILN_STATE, 'shared-'));
  await cp(join(env.KILN_STATE, 'bootstrap'), join(shared, 'bootstrap'), { recursive: true });
  await cp(join(env.KILN_STATE, 'keys'), join(shared, 'keys'), { recursive: true });
  catalogDir = join(shared, 'catalog');
  await cp(join(FIXTURES, 'share-nothing'), catalogDir, { recursive: true });
  await startWorker('a');
  await startWorker('b');
});

afterAll(async () => {
  for (const w of workers.values()) w.process.kill('SIGKILL');
  if (cluster) await clusterDown(cluster, quiet);
  if (clusterState && !process.env.KILN_KEEP_TEST_STATE) await rm(clusterState, { recursive: true, force: true });
  if (!process.env.KILN_KEEP_TEST_STATE)
    for (const w of workers.values()) await rm(w.state, { recursive: true, force: true });
});

describe('two workers that share no state directory, one killed mid-build', () => {
  let summary: RebuildSummary;
  let killed: string;
  const workflowId = `share-nothing-${Date.now()}`;

  beforeAll(async () => {
    const { client, close } = await connectClient(cluster);
    try {
      const run = await client.workflow.start(catalogRebuild, { taskQueue: TASK_QUEUE, workflowId, args: [{}] });
      // Wait until the level-0 packages are done and a worker runs sn-slow's (25 s) build, then kill
      // that worker: what it finished before stays finished.
      const done = async (name: string) =>
        (
          await client.workflow
            .getHandle(`${workflowId}/package/${name}`)
            .describe()
            .catch(() => undefined)
        )?.status.name === 'COMPLETED';
      const slow = client.workflow.getHandle(`${workflowId}/package/sn-slow`);
      let building: WorkflowExecutionDescription['raw']['pendingActivities'] | undefined;
      for (const deadline = Date.now() + 180_000; Date.now() < deadline;) {
        const d = await slow.describe().catch(() => undefined);
        building = d?.raw.pendingActivities?.filter(
          (a) => a.activityType?.name === 'buildPackage' && a.lastWorkerIdentity && Number(a.state) === 2,
        );
        if (building?.length && (await done('sn-base')) && (await done('sn-other'))) break;
        await new Promise((r) => setTimeout(r, 500));
      }
      const identity = building?.[0]?.lastWorkerIdentity ?? '';
      const pid = Number(identity.split('@')[0]);
      killed = [...workers].find(([, w]) => w.process.pid === pid)?.[0] ?? '';
      expect(killed, `a worker of ours builds sn-slow (identity ${identity})`).not.toBe('');
      workers.get(killed)!.process.kill('SIGKILL');
      // Stored in the artifact store the workers share (read with their KILN_ARTIFACTS).
      summary = await rebuildSummary(
        await run.result(),
        kilnTestConfig(env, { KILN_ARTIFACTS: `${env.KILN_REGISTRY}/share-nothing-artifacts` }),
      );
    } finally {
      await close();
    }
  });

  it('finishes the run on the surviving worker: every package built, the image published', () => {
    expect(summary.ok, formatSummary(summary)).toBe(true);
    expect(summary.packages.map((p) => [p.name, p.status])).toEqual([
      ['sn-base', 'built'],
      ['sn-other', 'built'],
      ['sn-slow', 'built'],
      ['sn-top', 'built'],
    ]);
    expect(summary.images.map((i) => [i.name, i.status])).toEqual([['sn-app', 'published']]);
  });

  it('loses nothing: the shared package repository indexes every package', async () => {
    const index = await parseApkIndex(await readFile(join(shared, 'repo', 'x86_64', 'APKINDEX.tar.gz')));
    expect(index.map((e) => e.name).sort()).toEqual(['sn-base', 'sn-other', 'sn-slow', 'sn-top']);
  });

  it('redoes nothing that finished: each package built and published once', async () => {
    const { client, close } = await connectClient(cluster);
    try {
      for (const p of summary.packages) {
        const runs = await activityRuns(client, `${workflowId}/package/${p.name}`);
        const completed = (type: string) => runs.filter((r) => r.type === type && r.result !== undefined).length;
        expect([p.name, completed('buildPackage'), completed('publishPackage')]).toEqual([p.name, 1, 1]);
      }
    } finally {
      await close();
    }
  });

  it('gave each worker the catalog snapshot under its own state directory (one took it, one materialized it)', () => {
    for (const [id, w] of workers)
      expect(existsSync(join(w.state, 'snapshots', summary.catalogDigest, '.kiln-catalog.json')), id).toBe(true);
  });
});
