// Temporal for unit tests of workflows: the pinned Temporal CLI's dev server in memory (from the
// tools cache scripts/setup fills; nothing is downloaded), the workflow bundle built once per test
// file, and a worker per test on its own task queue with the activities the test passes (fakes).
import { existsSync, statSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { HistoryAndWorkflowId } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, DefaultLogger, Runtime, Worker, type WorkerOptions } from '@temporalio/worker';
import { resolveTool } from '../../../adapters/toolchain.js';
import { loadConfig, REPO_ROOT } from '../../../config/config.js';
import { KILN_SEARCH_ATTRIBUTES } from '../../../workflows/search-attributes.js';

const WORKFLOWS = join(REPO_ROOT, 'workflows', 'index.ts');
const BUNDLE_CACHE = join(REPO_ROOT, 'node_modules', '.cache', 'kiln', 'unit-workflow-bundle.json');

interface CachedBundle {
  code: string;
  /** Every file webpack read, with the size and mtime it had. */
  files: Record<string, { size: number; mtimeMs: number }>;
  /** Paths webpack looked for and did not find (a new one there could change what resolves). */
  missing: string[];
}

function stillCurrent(cached: CachedBundle): boolean {
  for (const [file, was] of Object.entries(cached.files)) {
    const now = statSync(file, { throwIfNoEntry: false });
    if (!now || now.size !== was.size || now.mtimeMs !== was.mtimeMs) return false;
  }
  return !cached.missing.some((path) => existsSync(path));
}

/**
 * The workflow bundle. Bundling takes seconds, most of a unit run, so the last bundle is kept in
 * node_modules/.cache and reused while no file webpack read (or looked for) has changed: the same
 * check webpack's watch mode makes.
 */
async function workflowBundle(): Promise<{ code: string }> {
  try {
    const cached = JSON.parse(await readFile(BUNDLE_CACHE, 'utf8')) as CachedBundle;
    if (stillCurrent(cached)) return { code: cached.code };
  } catch {
    // No cache yet, or an unreadable one: bundle.
  }
  const seen: { files: string[]; missing: string[] } = { files: [], missing: [] };
  const { code } = await bundleWorkflowCode({
    workflowsPath: WORKFLOWS,
    logger: new DefaultLogger('WARN'),
    webpackConfigHook: (config) => ({
      ...config,
      plugins: [
        ...(config.plugins ?? []),
        {
          apply: (compiler) =>
            compiler.hooks.done.tap('kiln-unit-bundle-cache', ({ compilation }) => {
              seen.files.push(...compilation.fileDependencies);
              seen.missing.push(...compilation.missingDependencies);
            }),
        },
      ],
    }),
  });
  const files: CachedBundle['files'] = {};
  for (const file of seen.files) {
    const stat = statSync(file, { throwIfNoEntry: false });
    if (stat?.isFile()) files[file] = { size: stat.size, mtimeMs: stat.mtimeMs };
  }
  if (Object.keys(files).length) {
    // Written aside and renamed: a concurrent run reads the old cache or the new one, never half.
    await mkdir(dirname(BUNDLE_CACHE), { recursive: true });
    const partial = `${BUNDLE_CACHE}.${process.pid}`;
    await writeFile(partial, JSON.stringify({ code, files, missing: seen.missing } satisfies CachedBundle));
    await rename(partial, BUNDLE_CACHE);
  }
  return { code };
}

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
 * start: one per file, not per test).
 */
export async function startWorkflowTestEnv(activities: WorkerOptions['activities']): Promise<WorkflowTestEnv> {
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
      },
    }),
    workflowBundle(),
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
  let failed: unknown;
  const running = worker.run().catch((err: unknown) => {
    failed = err;
  });
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
      worker.shutdown();
      await running;
      await env.teardown();
      if (failed) throw failed;
    },
  };
}
