// I/O: the pipeline definitions a melange config's `uses:` names, for domain/melange-pipelines.ts.
// melange looks in the catalog's `pipelines/` first (kiln passes it as the pipeline directory),
// then in its own built-in pipelines, which setup copies from the pinned module next to the tools
// (<tools dir>/pipelines/melange-0.58.0/, setup/melange-pipelines.ts); never from the repository.
// Each file is read and parsed once per process (again only when it changes on disk).
import { readFileSync, statSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { TOOLS } from '../adapters/toolchain.js';
import { loadConfig } from '../config/config.js';
import type { CatalogProblem } from '../domain/catalog.js';
import { isObj, parseYaml, yamlLocator, type Obj } from '../domain/catalog-rules.js';
import type { PipelineDefinition, PipelineLibrary } from '../domain/melange-pipeline-library.js';
import { loadYamlData } from './fast-yaml.js';

/** "melange 0.58.0": how problems name the built-in pipelines. */
export const BUILTIN_LABEL = `melange ${TOOLS.melange.version}`;

/** Where setup puts melange's built-in pipelines: `<tools dir>/pipelines/melange-0.58.0/`. */
export function builtinPipelinesDir(toolsDir: string): string {
  return join(toolsDir, 'pipelines', `melange-${TOOLS.melange.version}`);
}

interface Parsed {
  mtimeMs: number;
  size: number;
  doc: Obj | undefined;
  text: string;
}
/** Parsed files by absolute path, for the life of the process. */
const parsedFiles = new Map<string, Parsed>();
let warned = false;
// config.tools.dir, read once.
let defaultToolsDir: string | undefined;

const statOf = (path: string): Stats | undefined => {
  try {
    const s = statSync(path);
    return s.isFile() ? s : undefined;
  } catch {
    return undefined;
  }
};

/** One pipeline file, parsed (from the cache while its size and mtime are unchanged). */
function readDefinition(
  path: string,
  stats: Stats,
  name: string,
  file: string,
  builtin: boolean,
  problems: CatalogProblem[],
): PipelineDefinition {
  let parsed = parsedFiles.get(path);
  if (!parsed || parsed.mtimeMs !== stats.mtimeMs || parsed.size !== stats.size) {
    const text = readFileSync(path, 'utf8');
    const data = loadYamlData(text);
    parsed = { mtimeMs: stats.mtimeMs, size: stats.size, text, doc: isObj(data) ? data : undefined };
    if (parsed.doc) parsedFiles.set(path, parsed);
  }
  // A file that does not parse is parsed again by `yaml` for its problems (once per load: lookups are cached).
  const doc = parsed.doc ?? parseYaml(file, parsed.text, problems);
  let locate: ((p: (string | number)[]) => number | undefined) | undefined;
  const text = parsed.text;
  return { name, file, builtin, doc, locate: (p) => (locate ??= yamlLocator(text))(p) };
}

/**
 * The pipelines a catalog's configs can use: `<root>/pipelines/NAME.yaml`, then melange's built-in
 * NAME from `toolsDir`. A catalog pipeline file that does not parse is a problem (into `problems`).
 * Without the built-ins (setup not run) it warns once per process; names the catalog does not
 * define are then not judged.
 */
export function pipelineLibrary(
  root: string,
  problems: CatalogProblem[],
  toolsDir: string = (defaultToolsDir ??= loadConfig().tools.dir),
): PipelineLibrary {
  const builtinDir = builtinPipelinesDir(toolsDir);
  const builtinsAvailable = statOf(join(builtinDir, 'fetch.yaml')) !== undefined;
  if (!builtinsAvailable && !warned) {
    warned = true;
    console.warn(
      `warning: ${BUILTIN_LABEL}'s built-in pipelines are not in ${builtinDir}; ` +
        '`uses:` of them were not checked and their needs.packages not counted as build dependencies (run scripts/setup)',
    );
  }
  const byName = new Map<string, PipelineDefinition | undefined>();
  return {
    builtinsAvailable,
    builtinLabel: BUILTIN_LABEL,
    reported: new Set(),
    lookup(name) {
      if (byName.has(name)) return byName.get(name);
      let def: PipelineDefinition | undefined;
      const own = join(root, 'pipelines', `${name}.yaml`);
      const ownStats = statOf(own);
      if (ownStats) def = readDefinition(own, ownStats, name, `pipelines/${name}.yaml`, false, problems);
      else if (builtinsAvailable) {
        const path = join(builtinDir, `${name}.yaml`);
        const stats = statOf(path);
        if (stats) def = readDefinition(path, stats, name, `${BUILTIN_LABEL} built-in ${name}`, true, problems);
      }
      byName.set(name, def);
      return def;
    },
  };
}
