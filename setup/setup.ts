// Second half of scripts/setup: pinned Go tools, signing keys and the offline bootstrap repository.
//   scripts/setup [--tools-only] [--worker | --tools temporal,melange,apko,cosign]
// Without flags it builds every pinned tool (cosign too: the tests check kiln's output with it).
// The worker image builds only what a worker runs (`--tools-only`, at image build; `--worker` at start).
import {
  chmodSync,
  cpSync,
  createWriteStream,
  existsSync,
  mkdirSync,
  readdirSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { execa } from 'execa';
import { TOOLS, cachedToolPath, reportedVersion, type ToolName, type ToolPin } from '../adapters/toolchain.js';
import { loadConfig } from '../config/config.js';
import { failure, invalidInput } from '../domain/failures.js';
import { ensureKeys } from './keys.js';
import { installSchemas } from './schemas.js';
import { installMelangePipelines } from './melange-pipelines.js';
import { installSpdxValidator } from './spdx-validator.js';
import { bootstrapForArch } from './bootstrap-arch.js';
import { catalogNeeds, prepareCatalogNeeds, repositoryCatalogs } from './toolchain-needs.js';
import { ensureEmulation, hostArch } from './emulation.js';

const step = (s: string) => console.log(`\x1b[1m==> ${s}\x1b[0m`);

/**
 * What a worker runs: melange and apko, and the Temporal CLI for `kiln dev`. cosign is not here: only
 * the tests run it (to check kiln's signatures independently), so the worker image does not carry it.
 */
export const WORKER_TOOLS: readonly ToolName[] = ['temporal', 'melange', 'apko'];

/**
 * Builds one pinned tool. Not `go install m@v`: for the chainguard.dev modules the module proxy here
 * refuses the version-list lookup that `go install` makes for its deprecation check. A throwaway
 * module that requires exactly the pinned version selects the same dependency graph.
 */
export async function installTool(tool: ToolPin, toolsDir: string): Promise<void> {
  const target = cachedToolPath(tool, toolsDir);
  if (existsSync(target) && reportedVersion(target, tool) !== undefined) {
    console.log(`    ${tool.name} ${tool.version}: cached (${target})`);
    return;
  }
  const prefix = dirname(dirname(target));
  const staging = `${prefix}.partial`;
  const work = `${prefix}.gomod`;
  for (const d of [staging, work]) rmSync(d, { recursive: true, force: true });
  mkdirSync(join(staging, 'bin'), { recursive: true });
  mkdirSync(work, { recursive: true });
  writeFileSync(join(work, 'go.mod'), 'module kiln.local/toolbuild\n\ngo 1.26\n');
  const log = `${prefix}.log`;
  const started = Date.now();
  console.log(
    `    ${tool.name} ${tool.version}: building ${tool.module}@v${tool.version} (first time only; minutes; log ${log})`,
  );
  const out = createWriteStream(log);
  const ticker = setInterval(
    () => console.log(`    ... ${tool.name} still building (${Math.round((Date.now() - started) / 1000)}s)`),
    30_000,
  );
  const go = (args: string[]) => {
    const run = execa('go', args, {
      cwd: work,
      env: { CGO_ENABLED: '0', GOFLAGS: '-mod=mod' },
      all: true,
      reject: false,
    });
    run.all?.pipe(out, { end: false });
    return run;
  };
  try {
    for (const args of [
      ['get', `${tool.module}@v${tool.version}`],
      ['build', '-trimpath', ...tool.goFlags, '-o', join(staging, 'bin', tool.name), tool.package ?? tool.module],
    ]) {
      const result = await go(args);
      if (result.exitCode !== 0) {
        throw failure(
          'ToolFailed',
          `building ${tool.name} ${tool.version} failed at 'go ${args[0]}' (exit ${result.exitCode}); see ${log}. ` +
            'Check that the Go module proxy is reachable and that Go is 1.26 or newer (go version).',
        );
      }
    }
    if (tool.moduleFiles?.length) {
      const listed = await go(['list', '-m', '-json', tool.module]);
      const dir = (JSON.parse(listed.stdout) as { Dir?: string }).Dir;
      for (const files of tool.moduleFiles) {
        if (!dir || !existsSync(join(dir, files)))
          throw failure('ToolFailed', `${tool.module}@v${tool.version} has no ${files} (module at ${dir ?? '?'})`);
        cpSync(join(dir, files), join(staging, files), { recursive: true });
        writable(join(staging, files));
      }
    }
  } finally {
    clearInterval(ticker);
    out.end();
  }
  // Rename last so an interrupted build never looks installed.
  rmSync(prefix, { recursive: true, force: true });
  renameSync(staging, prefix);
  rmSync(work, { recursive: true, force: true });
  console.log(`    ${tool.name} ${tool.version}: built in ${Math.round((Date.now() - started) / 1000)}s`);
}

/** The module cache is read-only; a copy of it must stay removable by the next build. */
function writable(path: string): void {
  chmodSync(path, 0o755);
  for (const entry of readdirSync(path, { withFileTypes: true })) {
    const child = join(path, entry.name);
    if (entry.isDirectory()) writable(child);
    else chmodSync(child, 0o644);
  }
}

/** The tools to build: `--tools a,b`, else the worker's with `--worker` or `--tools-only`, else all. */
export function toolsToBuild(o: { tools?: string; worker?: boolean; toolsOnly?: boolean }): ToolName[] {
  if (o.tools !== undefined) {
    const names = o.tools
      .split(',')
      .map((t) => t.trim())
      .filter(Boolean);
    const unknown = names.filter((t) => !(t in TOOLS));
    if (unknown.length)
      throw invalidInput(`--tools: unknown ${unknown.join(', ')} (fix: choose from ${Object.keys(TOOLS).join(', ')})`);
    return names as ToolName[];
  }
  return o.worker || o.toolsOnly ? [...WORKER_TOOLS] : (Object.keys(TOOLS) as ToolName[]);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { 'tools-only': { type: 'boolean' }, worker: { type: 'boolean' }, tools: { type: 'string' } },
  });
  const config = loadConfig();
  const paths = config.paths;
  const tools = toolsToBuild({ tools: values.tools, worker: values.worker, toolsOnly: values['tools-only'] });
  step(`Go tools (pinned, cached outside the repository): ${tools.join(', ')}`);
  for (const name of tools) await installTool(TOOLS[name], config.tools.dir);
  step(`melange and apko JSON schemas (from the pinned modules) in ${config.tools.dir}/schemas`);
  await installSchemas(config.tools.dir);
  await installMelangePipelines(config.tools.dir);
  // The tests' SPDX validator, like cosign not for workers.
  if (tools.includes('cosign')) {
    step(`SPDX validator (spdx-tools from PyPI) in ${config.tools.dir}`);
    await installSpdxValidator(config.tools.dir);
  }
  // Image builds stop here: keys are made where the worker runs, never baked into a layer.
  if (values['tools-only']) return;
  step(`Keys in ${paths.keys}`);
  ensureKeys(paths.state);
  // Only what a catalog uses (its archs, catalog.yaml naming ${KILN_STATE}/toolchain, fetch steps
  // under the mirror): the repository's catalogs, or a worker's configured one; instant when cached.
  const needs = await catalogNeeds(await repositoryCatalogs(config, !values.worker), paths.state);
  const foreign = needs.archs.filter((a) => a !== hostArch());
  if (foreign.length) {
    step(`Emulation (qemu-user through binfmt_misc) for ${foreign.join(', ')}`);
    await ensureEmulation(needs.archs);
  }
  step(`Bootstrap APK repository in ${paths.bootstrap} (${needs.archs.join(', ')})`);
  for (const arch of needs.archs) await bootstrapForArch({ config, stateDir: paths.state, arch });
  step(`Toolchain repository (from Debian's .debs) and source mirror in ${paths.state}`);
  await prepareCatalogNeeds(config, paths.state, needs);
  step('Setup complete');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err) => {
    console.error(`setup: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
