// Domain: melange's variable substitution, applied as melange v0.58 applies it before it builds
// (pkg/config: buildConfigMap, PerformVarSubstitutions, replaceSubpackages), so kiln judges the
// names and dependencies melange will really use. Pure: no fs, no network, no process.
//
// - `${{package.name}}`, `${{package.version}}`, `${{package.epoch}}`, `${{package.full-version}}`
//   (`<version>-r<epoch>`), `${{package.description}}` and `${{vars.<name>}}` (the raw `vars:`
//   values) form the substitution map.
// - `var-transforms` run in order: `from` is substituted, `match` (a Go RE2 regexp) is replaced in
//   it everywhere with `replace` (Go's `$1`/`${1}`/`$name` template), and the result becomes
//   `${{vars.<to>}}` for the transforms after it and for the whole config.
// - A subpackage with `range: <data name>` becomes one subpackage per item of that `data:` entry,
//   in key order, with `${{range.key}}` and `${{range.value}}` set.
// Placeholders the map does not hold are left as written (melange's strings.Replacer does the same);
// `unresolved` finds them so the rules can report them. The compile-time pass each pipeline step
// gets later (arch, targets, inputs, `if:`) is domain/melange-compile.ts.

/** The substitution map: `${{...}}` placeholder -> value. */
export type VarMap = Map<string, string>;

/** A var-transform or data range melange would reject, with the field that says so. */
export interface VarProblem {
  field: string;
  message: string;
  fix: string;
}

const PLACEHOLDER = /\$\{\{([A-Za-z0-9_.-]+)\}\}/g;

/** Replaces every placeholder the map holds; others stay as written. */
export function substitute(text: string, vars: VarMap): string {
  let at = text.indexOf('${{');
  if (at < 0) return text;
  // strings.Replacer over `${{key}}` keys: the exact placeholder, no spaces.
  let out = '';
  let from = 0;
  for (; at >= 0; at = text.indexOf('${{', at + 3)) {
    const end = text.indexOf('}}', at + 3);
    if (end < 0) break;
    const value = vars.get(text.slice(at, end + 2));
    if (value === undefined) continue;
    out += text.slice(from, at) + value;
    from = end + 2;
    at = end - 1;
  }
  return from === 0 ? text : out + text.slice(from);
}

/** Placeholders a substituted text still holds (`vars.missing`, `targets.destdir`, ...). */
export function unresolved(text: string): string[] {
  if (!text.includes('${{')) return [];
  return [...text.matchAll(PLACEHOLDER)].map((m) => m[1]!);
}

/**
 * Translates a Go RE2 pattern into a JS RegExp, or says which RE2 construct kiln cannot take.
 * Named groups `(?P<n>...)` become `(?<n>...)`, `\A`/`\z` become `^`/`$`, and leading `(?i)`/`(?s)`
 * flags become RegExp flags. Constructs RE2 itself rejects (lookaround, backreferences) are errors,
 * as melange would fail on them.
 */
export function goRegExp(pattern: string): RegExp | string {
  if (/\(\?<?[=!]/.test(pattern)) return 'lookahead and lookbehind ((?=, (?!, (?<=, (?<!) are not RE2 syntax';
  if (/\\[1-9]/.test(pattern.replace(/\\\\/g, ''))) return 'backreferences (\\1) are not RE2 syntax';
  if (/\[\[:[a-z]+:\]\]|\\[pP]\{|\\Q|\(\?[a-zA-Z]*-/.test(pattern))
    return 'POSIX classes, \\p{...}, \\Q...\\E and flag clearing are RE2 constructs kiln does not translate';
  let flags = '';
  let body = pattern;
  const lead = /^\(\?([ims]+)\)/.exec(body);
  if (lead) {
    flags = [...new Set(lead[1]!)].join('');
    body = body.slice(lead[0].length);
  }
  if (/\(\?[a-zA-Z]/.test(body.replace(/\(\?P?</g, '')))
    return 'inline flags are supported only at the start of the pattern';
  body = body
    .replace(/\(\?P</g, '(?<')
    .replace(/\\A/g, '^')
    .replace(/\\z/g, '$');
  try {
    return new RegExp(body, `g${flags}`);
  } catch (e) {
    return `it does not compile: ${(e as Error).message}`;
  }
}

/** Go's Regexp.Expand template: `$1`, `${1}`, `$name`, `${name}`, `$$`; a missing group is empty. */
export function expandGoTemplate(
  template: string,
  groups: (string | undefined)[],
  named: Record<string, string | undefined> = {},
): string {
  return template.replace(
    /\$(\$|\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))/g,
    (whole, _all, braced?: string, bare?: string) => {
      if (whole === '$$') return '$';
      const ref = braced ?? bare!;
      if (/^\d+$/.test(ref)) return groups[Number(ref)] ?? '';
      return named[ref] ?? '';
    },
  );
}

/** Go's ReplaceAllString with an already translated pattern. */
export function goReplaceAll(re: RegExp, input: string, template: string): string {
  return input.replace(re, (...args: unknown[]) => {
    const hasNamed = typeof args[args.length - 1] === 'object';
    const named = (hasNamed ? args[args.length - 1] : {}) as Record<string, string | undefined>;
    const groups = args.slice(0, hasNamed ? -3 : -2) as (string | undefined)[];
    return expandGoTemplate(template, groups, named);
  });
}

/** A YAML mapping of a parsed melange config (not a list, not null). */
export const isObj = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
/** A YAML scalar as melange reads it into a string field; undefined for a mapping, list or null. */
export const scalar = (v: unknown): string | undefined =>
  typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : undefined;

/** The substitution map of a parsed melange config, var-transforms applied; problems go to `problems`. */
export function melangeVars(doc: Record<string, unknown>, problems: VarProblem[]): VarMap {
  const pkg = isObj(doc.package) ? doc.package : {};
  const version = scalar(pkg.version) ?? '';
  const epoch = scalar(pkg.epoch) ?? '0';
  const vars: VarMap = new Map([
    ['${{package.name}}', scalar(pkg.name) ?? ''],
    ['${{package.version}}', version],
    ['${{package.epoch}}', epoch],
    ['${{package.full-version}}', `${version}-r${epoch}`],
    ['${{package.description}}', scalar(pkg.description) ?? ''],
  ]);
  if (isObj(doc.vars)) {
    for (const [k, v] of Object.entries(doc.vars)) {
      const value = scalar(v);
      if (value === undefined)
        problems.push({ field: `vars.${k}`, message: 'must be a string', fix: `write it as ${k}: "value"` });
      else vars.set(`\${{vars.${k}}}`, value);
    }
  } else if (doc.vars !== undefined && doc.vars !== null)
    problems.push({ field: 'vars', message: 'must be a mapping', fix: 'write vars: with name: value pairs under it' });
  const transforms = doc['var-transforms'];
  if (transforms !== undefined && transforms !== null && !Array.isArray(transforms))
    problems.push({
      field: 'var-transforms',
      message: 'must be a list',
      fix: 'write it as a list of {from, match, replace, to}',
    });
  (Array.isArray(transforms) ? transforms : []).forEach((t: unknown, i) => {
    const field = `var-transforms[${i}]`;
    const [from, match, replace, to] = ['from', 'match', 'replace', 'to'].map((k) =>
      isObj(t) ? scalar(t[k]) : undefined,
    );
    if (from === undefined || match === undefined || replace === undefined || !to) {
      problems.push({
        field,
        message: 'needs from, match, replace and to',
        fix: 'set all four keys (replace may be "")',
      });
      return;
    }
    const input = substitute(from, vars);
    const missing = unresolved(input);
    if (missing.length) {
      problems.push({
        field: `${field}.from`,
        message: `variable ${missing[0]} is not defined`,
        fix: 'define it under vars: or in an earlier var-transform, or correct its name',
      });
      return;
    }
    const re = goRegExp(match);
    if (typeof re === 'string') {
      problems.push({
        field: `${field}.match`,
        message: `"${match}": ${re}`,
        fix: 'write the pattern in the RE2 syntax Go regexp accepts',
      });
      return;
    }
    vars.set(`\${{vars.${to}}}`, goReplaceAll(re, input, replace));
  });
  return vars;
}

/** A subpackage item after range expansion: the raw mapping and the map its strings use. */
export interface ExpandedSubpackage {
  /** Index in the config's `subpackages:` list. */
  index: number;
  sub: Record<string, unknown>;
  vars: VarMap;
}

/** `subpackages:` with every `range:` expanded to one subpackage per `data:` item (in key order). */
export function expandSubpackages(
  doc: Record<string, unknown>,
  vars: VarMap,
  problems: VarProblem[],
): ExpandedSubpackage[] {
  const data = new Map<string, Record<string, unknown>>();
  if (Array.isArray(doc.data))
    doc.data.forEach((d: unknown, i) => {
      if (isObj(d) && typeof d.name === 'string' && isObj(d.items)) data.set(d.name, d.items);
      else
        problems.push({
          field: `data[${i}]`,
          message: 'must have a name and an items mapping',
          fix: 'write - name: versions with items: { key: value }',
        });
    });
  else if (doc.data !== undefined && doc.data !== null)
    problems.push({ field: 'data', message: 'must be a list', fix: 'write data: as a list of {name, items}' });
  const out: ExpandedSubpackage[] = [];
  if (!Array.isArray(doc.subpackages)) return out;
  doc.subpackages.forEach((sub: unknown, index) => {
    // melange treats an empty range like none (Wolfi writes `range: ""`).
    if (!isObj(sub) || sub.range === undefined || sub.range === null || sub.range === '') {
      out.push({ index, sub: isObj(sub) ? sub : {}, vars });
      return;
    }
    const items = typeof sub.range === 'string' ? data.get(sub.range) : undefined;
    if (!items) {
      problems.push({
        field: `subpackages[${index}].range`,
        message: `range ${JSON.stringify(sub.range)} is not defined under data:`,
        fix: 'add a data: entry with that name, or correct the range',
      });
      return;
    }
    for (const key of Object.keys(items).sort()) {
      const withRange = new Map(vars);
      withRange.set('${{range.key}}', key);
      withRange.set('${{range.value}}', scalar(items[key]) ?? '');
      out.push({ index, sub, vars: withRange });
    }
  });
  return out;
}
