// Domain: pure catalog model, plan and rules (no fs, no network, no process): workflows and the
// CLI use them too. This is what the catalog's validation rules share, over parsed YAML and the
// list of files io/catalog-loader.ts read: every problem is collected (not just the first), each
// naming the file, the field and the fix (FileCheck), YAML parsed and its lines located, and the
// failure an invalid catalog is. The rules themselves: package-rules.ts (a package config),
// dependency-rules.ts (across packages), image-rules.ts, catalog-settings.ts, catalog-trust.ts.
import { ApplicationFailure } from '@temporalio/common';
import { LineCounter, isNode, isScalar, parseDocument } from 'yaml';
import type { CatalogProblem } from './catalog.js';
import { FAILURES } from './failures.js';
import { substitute, unresolved, type VarMap } from './melange-vars.js';

const VAR_FIX =
  'define it under vars: or var-transforms (package.*, vars.*, and range.* in a range subpackage are substituted), or correct its spelling';

export function formatProblems(problems: CatalogProblem[]): string {
  return problems
    .map((p) => `${p.file}${p.line ? `:${p.line}` : ''}: ${p.field}: ${p.message} (fix: ${p.fix})`)
    .join('\n');
}

/** The catalog does not validate: every problem, one per line of the message. Never retried. */
export class CatalogInvalid extends ApplicationFailure {
  constructor(readonly problems: CatalogProblem[]) {
    super(
      `catalog is invalid (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${formatProblems(problems)}`,
      'CatalogInvalid',
      !FAILURES.CatalogInvalid.retryable,
      [problems],
    );
  }
}

export const NAME = /^[a-z0-9][a-z0-9._+-]*$/;
/** Package names as melange and apk accept them (melange's packageNameRegex), case-sensitive. */
export const PACKAGE_NAME = /^[A-Za-z0-9][A-Za-z0-9+_.-]*$/;
export type Obj = Record<string, unknown>;
export const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Collects problems for one file. */
export class FileCheck {
  constructor(
    readonly file: string,
    private readonly problems: CatalogProblem[],
  ) {}
  add(field: string, message: string, fix: string, line?: number): void {
    this.problems.push({ file: this.file, field, message, fix, ...(line ? { line } : {}) });
  }
  /** A problem of another file found while checking this one (a pipeline file a config uses). */
  report(problem: CatalogProblem): void {
    this.problems.push(problem);
  }
  unknownKeys(doc: Obj, allowed: string[], prefix = ''): void {
    for (const k of Object.keys(doc)) {
      if (!allowed.includes(k))
        this.add(`${prefix}${k}`, 'unknown key', `remove it, or use one of: ${allowed.join(', ')}`);
    }
  }
  /** An optional mapping: absent is {}, any other type is a problem (and {}). */
  mapping(value: unknown, field: string, example: string): Obj {
    if (value === undefined || value === null) return {};
    if (isObj(value)) return value;
    this.add(
      field,
      `must be a mapping, got ${Array.isArray(value) ? 'a list' : typeof value}`,
      `write it as ${example}`,
    );
    return {};
  }
  /** A list of strings with melange's substitutions applied; placeholders left unset are problems. */
  substituted(value: unknown, field: string, vars: VarMap): string[] {
    return this.substitutedAt(value, field, vars).map((x) => x.value);
  }
  /** As `substituted`, each value with the field it was written at (`field[i]`). */
  substitutedAt(value: unknown, field: string, vars: VarMap): { value: string; field: string }[] {
    return this.stringList(value, field).flatMap((raw, i) => {
      const text = substitute(raw, vars);
      const unset = unresolved(text);
      if (!unset.length) return [{ value: text, field: `${field}[${i}]` }];
      this.add(`${field}[${i}]`, `"${raw}" uses \${{${unset[0]}}}, which melange does not define here`, VAR_FIX);
      return [];
    });
  }
  stringList(value: unknown, field: string): string[] {
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) {
      this.add(field, 'must be a list of strings', `write it as [a, b] or as "- a" lines`);
      return [];
    }
    return value as string[];
  }
  name(value: unknown, field: string, what: string): string | undefined {
    if (typeof value !== 'string' || value === '') {
      this.add(field, `missing ${what} name`, `set ${field} to a name like "hello"`);
      return undefined;
    }
    const unset = unresolved(value);
    if (unset.length) {
      this.add(field, `"${value}" uses \${{${unset[0]}}}, which melange does not define here`, VAR_FIX);
      return undefined;
    }
    if (!PACKAGE_NAME.test(value) || value.includes('..')) {
      this.add(
        field,
        `"${value}" is not a valid ${what} name (it must match [A-Za-z0-9][A-Za-z0-9+_.-]* and must not contain "..", so it cannot escape a directory)`,
        'use upper- or lower-case letters, digits, ".", "_", "+" and "-", starting with a letter or digit',
      );
      return undefined;
    }
    return value;
  }
}

/**
 * Parses one YAML file's text into a mapping, or records why it cannot. Scalars at `literal` paths keep
 * their text: melange reads them into strings, so `version: 1.10` means "1.10", not 1.1.
 */
export function parseYaml(
  file: string,
  text: string,
  problems: CatalogProblem[],
  literal: string[][] = [],
): Obj | undefined {
  const check = new FileCheck(file, problems);
  const doc = parseDocument(text, { keepSourceTokens: true });
  if (doc.errors.length) {
    for (const e of doc.errors) {
      const at = e.linePos?.[0] ? `line ${e.linePos[0].line}, column ${e.linePos[0].col}` : '(document)';
      check.add(
        at,
        `malformed YAML: ${e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`,
        'correct the YAML syntax at that position',
      );
    }
    return undefined;
  }
  for (const path of literal) {
    const node = doc.getIn(path, true);
    if (isScalar(node) && typeof node.value === 'number' && node.srcToken && 'source' in node.srcToken)
      node.value = node.srcToken.source;
  }
  const value = doc.toJS() as unknown;
  if (!isObj(value)) {
    check.add('(document)', 'must be a YAML mapping', 'write key: value pairs at the top level');
    return undefined;
  }
  return value;
}

/** The line of a YAML path in its file, when known. */
export type Locate = (path: (string | number)[]) => number | undefined;

/** Finds the line a path of a YAML text starts on, for problems that name it. */
export function yamlLocator(text: string): Locate {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter });
  return (path) => {
    const node = doc.getIn(path, true);
    return isNode(node) && node.range ? lineCounter.linePos(node.range[0]).line : undefined;
  };
}
