// I/O: the JSON schemas melange and apko publish for the pinned versions, read from where setup
// copies them (next to the built tools: <tools dir>/schemas/, setup/schemas.ts) and compiled with
// ajv once per process. The mapping of errors to problems is pure: domain/schema-problems.ts.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { ValidateFunction } from 'ajv/dist/2020.js';
import { TOOLS } from '../adapters/toolchain.js';
import { loadConfig } from '../config/config.js';
import type { CatalogProblem } from '../domain/catalog.js';
import {
  asToolsRead,
  newSchemaProblems,
  schemaProblems,
  toolsAccept,
  yamlKeyLocator,
} from '../domain/schema-problems.js';
import { writeFileAtomicallySync } from './atomic-file.js';

export type SchemaTool = 'melange' | 'apko';

/** Where setup puts a tool's schema: `<tools dir>/schemas/melange-0.58.0.json`. */
export function schemaPath(toolsDir: string, tool: SchemaTool): string {
  return join(toolsDir, 'schemas', `${tool}-${TOOLS[tool].version}.json`);
}

/** "melange 0.58.0": how problems name the schema. */
export const schemaLabel = (tool: SchemaTool) => `${tool} ${TOOLS[tool].version}`;

const requireHere = createRequire(import.meta.url);
const AJV_VERSION = (requireHere('ajv/package.json') as { version: string }).version;

// Compiled validators by schema file, once per process.
const compiled = new Map<string, ValidateFunction | undefined>();
let warned = false;
// config.tools.dir, read once: the loader checks every config of a catalog.
let defaultToolsDir: string | undefined;

/**
 * The compiled validator for a tool's schema, or undefined if setup has not put the schema there.
 * Compiling melange's schema takes a few hundred milliseconds, so the compiled code is kept next to
 * the schema (ajv's standalone output, keyed by ajv's version) and loaded from there afterwards.
 */
export function schemaValidator(tool: SchemaTool, toolsDir: string): ValidateFunction | undefined {
  const file = schemaPath(toolsDir, tool);
  if (compiled.has(file)) return compiled.get(file);
  let validate: ValidateFunction | undefined;
  if (existsSync(file)) {
    const cached = file.replace(/\.json$/, `.ajv-${AJV_VERSION}.cjs`);
    validate = existsSync(cached) && statSync(cached).mtimeMs >= statSync(file).mtimeMs ? load(cached) : undefined;
    if (!validate) {
      // ajv's compiler is loaded only here: with the cached code, a run never needs it.
      const { Ajv2020 } = requireHere('ajv/dist/2020.js') as typeof import('ajv/dist/2020.js');
      const standalone = requireHere('ajv/dist/standalone/index.js') as typeof import('ajv/dist/standalone/index.js');
      // strict: false, the schemas are generated from Go types and may carry keywords ajv does not know.
      const ajv = new Ajv2020({ allErrors: true, verbose: true, strict: false, code: { source: true } });
      validate = ajv.compile(asToolsRead(JSON.parse(readFileSync(file, 'utf8'))) as object);
      try {
        writeFileAtomicallySync(cached, standalone.default(ajv, validate));
      } catch {
        // A read-only tools directory: compile again next time.
      }
    }
  }
  compiled.set(file, validate);
  return validate;
}

/** Loads ajv standalone code, whose `require`s of ajv's runtime resolve from kiln's own modules. */
function load(file: string): ValidateFunction | undefined {
  try {
    const module = { exports: {} as { default?: ValidateFunction } };
    // Code kiln generated itself from the pinned schema (ajv's standalone output), not input.
    new Function('require', 'module', 'exports', readFileSync(file, 'utf8'))(requireHere, module, module.exports);
    return module.exports.default ?? (module.exports as unknown as ValidateFunction);
  } catch {
    return undefined;
  }
}

/**
 * Checks one parsed config (`file`, relative to the catalog `root`) against its tool's schema,
 * adding a problem per error at a field kiln's own checks (run before, into `problems`) did not
 * already report; only then is the file read again, to find the lines of the keys.
 * Without the schema (setup not run) it warns once per process and adds nothing: kiln's own checks
 * still run.
 */
export function checkToolSchema(
  tool: SchemaTool,
  root: string,
  file: string,
  doc: unknown,
  problems: CatalogProblem[],
  toolsDir: string = (defaultToolsDir ??= loadConfig().tools.dir),
): void {
  const validate = schemaValidator(tool, toolsDir);
  if (!validate) {
    if (!warned) {
      warned = true;
      console.warn(
        `warning: the ${schemaLabel(tool)} JSON schema is not in ${join(toolsDir, 'schemas')}; ` +
          'configs were checked by kiln only, not against the schemas of the tools (run scripts/setup)',
      );
    }
    return;
  }
  // Most failing configs of a real catalog fail only where yaml.v3 is lenient (a number in a string
  // field): those need no second, line-keeping parse of the file.
  if (validate(doc) || (validate.errors ?? []).every(toolsAccept)) return;
  const locate = yamlKeyLocator(readFileSync(join(root, file), 'utf8'));
  const found = schemaProblems(validate.errors ?? [], file, schemaLabel(tool), doc, locate);
  problems.push(...newSchemaProblems(found, problems));
}
