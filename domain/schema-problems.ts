// Domain (pure): turns the errors of a JSON-schema validator (ajv, run by io/schemas.ts against the
// schemas melange and apko publish) into catalog problems that name the file, line, field and fix.
import { LineCounter, isMap, isSeq, parseDocument, type Node } from 'yaml';
import type { CatalogProblem } from './catalog.js';
import type { Locate } from './catalog-rules.js';

/**
 * The line of a path's key in a YAML text (of its item, for a list index): `pipline:` is reported
 * on its own line, not on the line its value starts. Undefined where the path does not exist.
 */
export function yamlKeyLocator(text: string): Locate {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter });
  const lineOf = (n: unknown) => {
    const range = (n as Node | null | undefined)?.range;
    return range ? lineCounter.linePos(range[0]).line : undefined;
  };
  return (path) => {
    let node: unknown = doc.contents;
    let line: number | undefined;
    for (const seg of path) {
      if (isMap(node)) {
        const pair = node.items.find((p) => (p.key as { value?: unknown } | null)?.value === seg);
        if (!pair) return undefined;
        line = lineOf(pair.key);
        node = pair.value;
      } else if (isSeq(node) && typeof seg === 'number') {
        node = node.items[seg];
        line = lineOf(node);
      } else return undefined;
    }
    return line ?? lineOf(node);
  };
}

/** The parts of an ajv ErrorObject used here (ajv runs with `verbose`, so parentSchema is set). */
export interface SchemaError {
  keyword: string;
  instancePath: string;
  params: Record<string, unknown>;
  message?: string;
  parentSchema?: unknown;
  /** The value that failed (ajv's `verbose`). */
  data?: unknown;
}

/**
 * The schema as the tools read configs. Both decode YAML with Go's yaml.v3 (unknown keys rejected:
 * `KnownFields(true)`), which requires no field: the schemas' `required` lists come from the
 * generator (every Go field without `omitempty`, some under their Go names), and melange and apko
 * check what they need themselves, as kiln's own rules do. So `required` is dropped, everywhere,
 * and Go-named properties are read under the key yaml.v3 gives them.
 */
export function asToolsRead(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(asToolsRead);
  if (schema === null || typeof schema !== 'object') return schema;
  return Object.fromEntries(
    Object.entries(schema)
      .filter(([k, v]) => !(k === 'required' && Array.isArray(v)))
      .map(([k, v]) => [
        k,
        k === 'properties'
          ? yamlKeys(mapValues(v, asToolsRead))
          : k === '$defs'
            ? mapValues(v, asToolsRead)
            : asToolsRead(v),
      ]),
  );
}

/**
 * A property the generator named after its Go field (`Packages`: the field has no yaml tag) is read
 * by yaml.v3 under the lowercased field name (`packages`), as melange's `needs.packages` is.
 */
function yamlKeys(props: unknown): unknown {
  if (props === null || typeof props !== 'object' || Array.isArray(props)) return props;
  return Object.fromEntries(Object.entries(props).map(([k, x]) => [/^[A-Z]/.test(k) ? k.toLowerCase() : k, x]));
}

function mapValues(v: unknown, f: (x: unknown) => unknown): unknown {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, f(x)]));
}

/**
 * Type errors yaml.v3 does not make: any scalar decodes into a string field as its text
 * (`version: 1.2`, `with: { strip: true }`), and null (`key:` with no value) into any field as its
 * zero value. A string is never read as a number (`epoch: "1"` fails in the tools too).
 */
export function toolsAccept(e: SchemaError): boolean {
  if (e.keyword !== 'type') return false;
  if (e.data === null || e.data === undefined) return true;
  const types = String(e.params.type).split(',');
  return types.includes('string') && (typeof e.data === 'number' || typeof e.data === 'boolean');
}

/** Path segments of a JSON pointer, numbers where the data holds an array (for `Locate`). */
export function pointerSegments(pointer: string, data: unknown): (string | number)[] {
  const out: (string | number)[] = [];
  let at: unknown = data;
  for (const raw of pointer.split('/').slice(1)) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    const key = Array.isArray(at) && /^\d+$/.test(seg) ? Number(seg) : seg;
    out.push(key);
    at = at !== null && typeof at === 'object' ? (at as Record<string | number, unknown>)[key] : undefined;
  }
  return out;
}

/** `pipeline[0].runs` for ['pipeline', 0, 'runs']; `(top level)` for []. */
export function fieldName(path: (string | number)[]): string {
  if (!path.length) return '(top level)';
  return path.map((s, i) => (typeof s === 'number' ? `[${s}]` : i === 0 ? s : `.${s}`)).join('');
}

const TYPE_FIX: Record<string, string> = {
  integer: 'write a whole number without quotes (e.g. 1)',
  number: 'write a number without quotes',
  boolean: 'write true or false without quotes',
  string: 'write a string (quote it if YAML reads it as a number or boolean)',
  array: 'write a list (each item on a line starting with "- ")',
  object: 'write a mapping of keys to values',
};

function accepted(parentSchema: unknown): string[] {
  const props = (parentSchema as { properties?: Record<string, unknown> } | undefined)?.properties;
  return props ? Object.keys(props) : [];
}

/**
 * One problem per distinct schema error. `tool` names the schema, e.g. "melange 0.58.0"; `data` is
 * the parsed document (to tell list indexes from keys); `locate` finds a path's line.
 */
export function schemaProblems(
  errors: readonly SchemaError[],
  file: string,
  tool: string,
  data: unknown,
  locate: Locate,
): CatalogProblem[] {
  const seen = new Set<string>();
  const problems: CatalogProblem[] = [];
  for (const e of errors) {
    if (toolsAccept(e)) continue;
    const path = pointerSegments(e.instancePath, data);
    let field = fieldName(path);
    let linePath = path;
    let message: string;
    let fix: string;
    switch (e.keyword) {
      case 'additionalProperties': {
        const key = String(e.params.additionalProperty);
        linePath = [...path, key];
        field = fieldName(linePath);
        const names = accepted(e.parentSchema);
        message = `unknown field ${key} (${tool} does not accept it here)`;
        fix = `remove it or check its spelling; ${tool} accepts: ${names.length ? names.join(', ') : '(no fields)'}`;
        break;
      }
      case 'type': {
        const type = String(e.params.type);
        message = `must be ${/^[aeiou]/.test(type) ? 'an' : 'a'} ${type} (${tool} schema)`;
        fix = TYPE_FIX[type] ?? `write ${type}`;
        break;
      }
      case 'required': {
        const key = String(e.params.missingProperty);
        message = `missing required field ${key} (${tool} schema)`;
        fix = `add ${key} to ${field === '(top level)' ? 'the file' : field}`;
        break;
      }
      case 'enum': {
        const allowed = (e.params.allowedValues as unknown[] | undefined) ?? [];
        message = `is not one of the values ${tool} accepts`;
        fix = `use one of: ${allowed.map((v) => JSON.stringify(v)).join(', ')}`;
        break;
      }
      default:
        message = `${e.message ?? e.keyword} (${tool} schema, keyword ${e.keyword})`;
        fix = `change it to what the ${tool} schema expects (${e.message ?? e.keyword})`;
    }
    const id = `${field}\0${message}`;
    if (seen.has(id)) continue;
    seen.add(id);
    let line: number | undefined;
    for (let n = linePath.length; line === undefined && n >= 0; n--) line = locate(linePath.slice(0, n));
    problems.push({ file, field, message, fix, ...(line ? { line } : {}) });
  }
  return problems;
}

const within = (a: string, b: string) => a === b || a.startsWith(`${b}.`) || a.startsWith(`${b}[`);

/**
 * The schema problems kiln's own checks have not already reported: one problem per field, kiln's
 * (with its fix) where both see it, the schema's where only the tool's schema knows the rule.
 */
export function newSchemaProblems(found: CatalogProblem[], known: readonly CatalogProblem[]): CatalogProblem[] {
  return found.filter(
    (s) => !known.some((k) => k.file === s.file && (within(s.field, k.field) || within(k.field, s.field))),
  );
}
