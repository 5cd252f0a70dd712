// Setup step: copies melange's built-in pipelines (pkg/build/pipelines/**.yaml of the pinned
// module) next to the built tools (<tools dir>/pipelines/melange-0.58.0/), where
// io/melange-pipelines.ts reads the needs of `uses:` steps. Never into the repository.
import { copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { TOOLS } from '../adapters/toolchain.js';
import { failure } from '../domain/failures.js';
import { builtinPipelinesDir } from '../io/melange-pipelines.js';
import { pinnedModuleDir } from './schemas.js';

/** Where the module keeps its built-in pipelines. */
export const PIPELINES_IN_MODULE = 'pkg/build/pipelines';

/** Copies the YAML files under `from` to `to`, as new writable files (the module cache is read-only). */
function copyYaml(from: string, to: string): number {
  mkdirSync(to, { recursive: true });
  let copied = 0;
  for (const entry of readdirSync(from, { withFileTypes: true })) {
    if (entry.isDirectory()) copied += copyYaml(join(from, entry.name), join(to, entry.name));
    else if (entry.isFile() && entry.name.endsWith('.yaml')) {
      copyFileSync(join(from, entry.name), join(to, entry.name));
      copied++;
    }
  }
  return copied;
}

/** Copies the built-in pipelines unless they are there; a second run only checks the directory. */
export async function installMelangePipelines(toolsDir: string): Promise<void> {
  const target = builtinPipelinesDir(toolsDir);
  if (existsSync(target)) {
    console.log(`    melange built-in pipelines: cached (${target})`);
    return;
  }
  const { module, version } = TOOLS.melange;
  mkdirSync(dirname(target), { recursive: true });
  const { dir, exitCode } = await pinnedModuleDir('melange', dirname(target));
  const source = dir && join(dir, PIPELINES_IN_MODULE);
  if (!source || !existsSync(join(source, 'fetch.yaml'))) {
    throw failure(
      'ToolFailed',
      `cannot take the melange ${version} built-in pipelines from ${module}@v${version} ` +
        `(go mod download exit ${exitCode}${source ? `; no ${PIPELINES_IN_MODULE}/fetch.yaml in ${dir}` : ''}). ` +
        'Check that the Go module proxy is reachable.',
    );
  }
  // Rename last so an interrupted copy never looks installed.
  const partial = `${target}.partial`;
  rmSync(partial, { recursive: true, force: true });
  const copied = copyYaml(source, partial);
  renameSync(partial, target);
  console.log(`    melange built-in pipelines: ${copied} files in ${target}`);
}
