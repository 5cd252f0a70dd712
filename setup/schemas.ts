// Setup step: copies the JSON schemas melange and apko publish, from the pinned Go modules, next to
// the built tools (<tools dir>/schemas/), where io/schemas.ts reads them. Never into the repository.
import { existsSync, mkdirSync } from 'node:fs';
import { copyFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { TOOLS } from '../adapters/toolchain.js';
import { failure } from '../domain/failures.js';
import { replaceFile } from '../io/atomic-file.js';
import { schemaPath, type SchemaTool } from '../io/schemas.js';

/** Where each module keeps its schema. */
export const SCHEMA_IN_MODULE: Record<SchemaTool, string> = {
  melange: 'pkg/config/schema.json',
  apko: 'pkg/build/types/schema.json',
};

/**
 * The directory of a tool's pinned Go module in the module cache (`go mod download` fetches the
 * exact pinned version if the tool was not built here), or undefined with go's exit code.
 */
export async function pinnedModuleDir(tool: SchemaTool, cwd: string): Promise<{ dir?: string; exitCode?: number }> {
  const { module, version } = TOOLS[tool];
  const run = await execa('go', ['mod', 'download', '-json', `${module}@v${version}`], { cwd, reject: false });
  return {
    dir: run.exitCode === 0 ? (JSON.parse(run.stdout) as { Dir?: string }).Dir : undefined,
    exitCode: run.exitCode,
  };
}

/**
 * Copies each schema that is not there yet. A second run only checks the files exist; the first
 * takes the module from the Go module cache (`go mod download` fetches the exact pinned version if
 * the tool was not built here).
 */
export async function installSchemas(toolsDir: string): Promise<void> {
  for (const tool of Object.keys(SCHEMA_IN_MODULE) as SchemaTool[]) {
    const target = schemaPath(toolsDir, tool);
    if (existsSync(target)) {
      console.log(`    ${tool} schema: cached (${target})`);
      continue;
    }
    const { module, version } = TOOLS[tool];
    mkdirSync(dirname(target), { recursive: true });
    const { dir, exitCode } = await pinnedModuleDir(tool, dirname(target));
    const source = dir && join(dir, SCHEMA_IN_MODULE[tool]);
    if (!source || !existsSync(source)) {
      throw failure(
        'ToolFailed',
        `cannot take the ${tool} ${version} JSON schema from ${module}@v${version} ` +
          `(go mod download exit ${exitCode}${source ? `; no ${SCHEMA_IN_MODULE[tool]} in ${dir}` : ''}). ` +
          'Check that the Go module proxy is reachable.',
      );
    }
    // Rename last so an interrupted copy never looks installed.
    await replaceFile(target, (aside) => copyFile(source, aside));
    console.log(`    ${tool} schema: ${target}`);
  }
}
