// Temporal for unit tests of workflows: the pinned Temporal CLI's dev server in memory (from the
// tools cache scripts/setup fills; nothing is downloaded), the workflow bundle built once per test
// file, and a worker per test on its own task queue with the activities the test passes (fakes).
import { join } from 'node:path';
import type { HistoryAndWorkflowId } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, DefaultLogger, Runtime, Worker, type WorkerOptions } from '@temporalio/worker';
import { resolveTool } from '../../../adapters/toolchain.js';
import { loadConfig, REPO_ROOT } from '../../../config/config.js';
import { archQueue } from '../../../domain/package-archs.js';
import { KILN_SEARCH_ATTRIBUTES } from '../../../workflows/search-attributes.js';

const WORKFLOWS = join(REPO_ROOT, 'workflows', 'index.ts');

export interface WorkflowTestEnv {
  env: TestWorkflowEnvironment;
  /** The task queue of the file's one worker. */
  taskQueue: string;
  /** Proves these histories replay on the current workflow code without nondeterminism. */
  replay(histories: HistoryAndWorkflowId[]): Promise<string[]>;
  /** Stops the worker, then the server. */
  teardown(): Promise<void>;
}

/**
 * The server, the bundle and one running worker with these activities (workers are not cheap to
 * start: one per file, not per test). `serverArgs` go to the dev server's command line.
 */
export async function startWorkflowTestEnv(
  activities: WorkerOptions['activities'],
  options: { serverArgs?: string[] } = {},
): Promise<WorkflowTestEnv> {
  try {
    // Failed runs are expected here (they are asserted); the worker's warnings about them are noise.
    Runtime.install({ logger: new DefaultLogger('ERROR') });
  } catch {
    // Already installed in this process.
  }
  const [env, bundle] = await Promise.all([
    TestWorkflowEnvironment.createLocal({
      server: {
        // The pinned CLI scripts/setup builds (or KILN_TEMPORAL): the SDK downloads nothing.
        executable: { type: 'existing-path', path: resolveTool('temporal', loadConfig().tools) },
        // Registered from their one definition, as setup/services.ts does for the dev services.
        searchAttributes: [...KILN_SEARCH_ATTRIBUTES],
        // e.g. dynamic config for this file's server only (`--dynamic-config-value KEY=VALUE`).
        ...(options.serverArgs ? { extraArgs: options.serverArgs } : {}),
      },
    }),
    bundleWorkflowCode({ workflowsPath: WORKFLOWS, logger: new DefaultLogger('WARN') }),
  ]);
  const taskQueue = `unit-${process.pid}`;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: bundle,
    activities,
    // The workflows' own limits are under test, not the worker's.
    maxConcurrentActivityTaskExecutions: 100,
  });
  // Package builds go to one task queue per arch (domain/package-archs.ts), as on a kiln worker.
  const builders = await Promise.all(
    ['x86_64', 'aarch64'].map((arch) =>
      Worker.create({
        connection: env.nativeConnection,
        taskQueue: archQueue(taskQueue, arch),
        activities,
        maxConcurrentActivityTaskExecutions: 100,
      }),
    ),
  );
  let failed: unknown;
  const running = Promise.all(
    [worker, ...builders].map((w) =>
      w.run().catch((err: unknown) => {
        failed = err;
      }),
    ),
  );
  return {
    env,
    taskQueue,
    async replay(histories) {
      const problems: string[] = [];
      for await (const result of Worker.runReplayHistories({ workflowBundle: bundle }, histories)) {
        if (result.error) problems.push(`${result.workflowId}: ${result.error.message}`);
      }
      return problems;
    },
    async teardown() {
      for (const w of [worker, ...builders]) w.shutdown();
      await running;
      await env.teardown();
      if (failed) throw failed;
    },
  };
}
