// Domain: melange's compile-time substitution (pkg/build: NewSubstitutionMap,
// SubstitutionMap.Subpackage, MutateWith, util.MutateStringFromMap, cond.Subst and cond.Evaluate).
// After the config-level pass (domain/melange-vars.ts), melange compiles each pipeline step against
// a larger map: the build's arch and triplets, the output directories, `${{inputs.*}}` of the
// step's pipeline and, in a subpackage, its name and directory. There an undefined placeholder is
// an error, not left as written. Also a step's `if:`, evaluated as melange evaluates it. Pure.
import type { VarMap } from './melange-vars.js';

/** Something that answers placeholders (`${{key}}` -> value): a VarMap or a step's scope. */
export interface VarLookup {
  get(key: string): string | undefined;
}

/** The APK arch names melange builds for (apko's Architecture.ToAPK). */
export const APK_ARCHS = ['x86', 'x86_64', 'aarch64', 'armhf', 'armv7', 'loongarch64', 'ppc64le', 'riscv64', 's390x'];

/** apko's Architecture for an APK arch: its Go name and GNU/Rust triplets (ToTriplet, ToRustTriplet). */
function archNames(arch: string): { go: string; gnu: (flavor: string) => string; rust: (flavor: string) => string } {
  const plain =
    (cpu: string, vendor = 'unknown') =>
    (flavor: string) =>
      `${cpu}-${vendor}-linux-${flavor}`;
  const eabihf = (cpu: string) => (flavor: string) => `${cpu}-unknown-linux-${flavor}eabihf`;
  switch (arch) {
    case 'x86':
      return { go: '386', gnu: plain('i486', 'pc'), rust: plain('i686') };
    case 'x86_64':
      return { go: 'amd64', gnu: plain('x86_64', 'pc'), rust: plain('x86_64') };
    case 'aarch64':
      return { go: 'arm64', gnu: plain('aarch64'), rust: plain('aarch64') };
    case 'armhf':
      return { go: 'arm/v6', gnu: eabihf('arm'), rust: eabihf('armv6') };
    case 'armv7':
      return { go: 'arm/v7', gnu: eabihf('armv7l'), rust: eabihf('armv7') };
    case 'loongarch64':
      return { go: 'loong64', gnu: plain('loong64'), rust: plain('loong64') };
    case 's390x':
      return { go: 's390x', gnu: plain('s390x', 'ibm'), rust: plain('s390x') };
    default:
      return { go: arch, gnu: plain(arch), rust: plain(arch) };
  }
}

const OUT = '/home/build/melange-out';

/**
 * melange's compile map of a package for one arch (NewSubstitutionMap, build flavor gnu, no build
 * options enabled): the config-level map without `package.description`, plus `package.srcdir`,
 * `targets.{outdir,destdir,contextdir}`, `targets.package.<name>` for the package and each
 * subpackage, `context.name`, `host.triplet.{gnu,rust}`, `cross.triplet.{gnu,rust}.{glibc,musl}`,
 * `build.arch`, `build.goarch` and `options.<name>.enabled` ("false").
 */
export function compileVars(vars: VarMap, arch: string, packageNames: string[], options: string[] = []): VarMap {
  const name = vars.get('${{package.name}}') ?? '';
  const map: VarMap = new Map(vars);
  map.delete('${{package.description}}');
  map.set('${{package.srcdir}}', '/home/build');
  map.set('${{targets.outdir}}', OUT);
  map.set('${{targets.destdir}}', `${OUT}/${name}`);
  map.set('${{targets.contextdir}}', `${OUT}/${name}`);
  map.set('${{context.name}}', name);
  for (const n of packageNames) map.set(`\${{targets.package.${n}}}`, `${OUT}/${n}`);
  for (const o of options) map.set(`\${{options.${o}.enabled}}`, 'false');
  for (const [key, value] of archVars(arch)) map.set(key, value);
  return map;
}

/** The placeholders whose value depends on the build arch. */
const ARCH_KEYS = [
  'host.triplet.gnu',
  'host.triplet.rust',
  'cross.triplet.gnu.glibc',
  'cross.triplet.gnu.musl',
  'cross.triplet.rust.glibc',
  'cross.triplet.rust.musl',
  'build.arch',
  'build.goarch',
];

const archTables = new Map<string, VarMap>();
/** The arch-dependent placeholders for one arch, or for ANY_ARCH stand-ins (see instantiateArch). */
function archVars(arch: string): VarMap {
  let table = archTables.get(arch);
  if (!table) {
    const a = archNames(arch);
    const values = [
      a.gnu('gnu'),
      a.rust('gnu'),
      a.gnu('gnu'),
      a.gnu('musl'),
      a.rust('gnu'),
      a.rust('musl'),
      arch,
      a.go,
    ];
    table = new Map(ARCH_KEYS.map((k, i) => [`\${{${k}}}`, arch === ANY_ARCH ? `\uE000${k}\uE001` : values[i]!]));
    archTables.set(arch, table);
  }
  return table;
}

/**
 * An arch to compile for once instead of once per arch: its arch-dependent placeholders become
 * stand-ins (private-use characters around the key) that instantiateArch turns into one arch's
 * values where a value is used (a need, an `if:`).
 */
export const ANY_ARCH = '\uE000any';

/** A text compiled for ANY_ARCH, as compiled for `arch`. */
export function instantiateArch(text: string, arch: string): string {
  if (!text.includes('\uE000')) return text;
  const table = archVars(arch);
  return text.replace(/\uE000([a-z.]+)\uE001/g, (_, key: string) => table.get(`\${{${key}}}`) ?? '');
}

/** Whether a text compiled for ANY_ARCH holds an arch-dependent value. */
export const dependsOnArch = (text: string): boolean => text.includes('\uE000');

/** The placeholders a subpackage adds to its package's compile map (SubstitutionMap.Subpackage). */
export function subpackageLayer(subpackage: string): VarMap {
  return new Map([
    ['${{subpkg.name}}', subpackage],
    ['${{context.name}}', subpackage],
    ['${{targets.subpkgdir}}', `${OUT}/${subpackage}`],
    ['${{targets.contextdir}}', `${OUT}/${subpackage}`],
  ]);
}

/** A lookup of `top`'s placeholders over `base`'s. */
export class LayeredVars implements VarLookup {
  constructor(
    readonly top: VarMap,
    readonly base: VarLookup,
  ) {}
  get(key: string): string | undefined {
    return this.top.get(key) ?? this.base.get(key);
  }
}

/** The compile map inside a subpackage (SubstitutionMap.Subpackage): its name and directory. */
export function subpackageCompileVars(map: VarMap, subpackage: string): VarMap {
  return new Map([...map, ...subpackageLayer(subpackage)]);
}

const isVarChar = (c: string) => {
  const x = c.charCodeAt(0);
  // a-z A-Z 0-9 . - _
  return (x >= 97 && x <= 122) || (x >= 65 && x <= 90) || (x >= 48 && x <= 57) || x === 46 || x === 45 || x === 95;
};
const NONE: readonly string[] = Object.freeze([]);
const isSpace = (c: string | undefined) => c === ' ' || c === '\t' || c === '\n' || c === '\r';

/** The result of a compile-time substitution: the text and what melange would reject in it. */
export interface Substituted {
  text: string;
  /** Placeholders the map does not define (`variable x not defined`). */
  missing: readonly string[];
  /** `${{` not followed by a name and `}}` (melange: empty variable name, unterminated reference). */
  malformed: readonly string[];
}

/**
 * melange's compile-time substitution (cond.Subst with MutateStringFromMap's lookup): `${{ name }}`
 * (spaces allowed inside the braces) becomes its value; `quote` writes values as Go string literals,
 * as MutateAndQuoteStringFromMap does for `if:` expressions.
 */
export function compileSubstitute(text: string, lookup: VarLookup, quote = false): Substituted {
  if (!text.includes('${{')) return { text, missing: NONE, malformed: NONE };
  const missing: string[] = [];
  const malformed: string[] = [];
  let out = '';
  let i = 0;
  while (i < text.length) {
    const at = text.indexOf('${{', i);
    if (at < 0) {
      out += text.slice(i);
      break;
    }
    out += text.slice(i, at);
    i = at + 3;
    while (isSpace(text[i])) i++;
    const start = i;
    while (i < text.length && isVarChar(text[i]!)) i++;
    const name = text.slice(start, i);
    if (name === '') {
      malformed.push(`\${{${text.slice(start, start + 10)}`);
      continue;
    }
    while (isSpace(text[i])) i++;
    if (text.slice(i, i + 2) !== '}}') {
      malformed.push(`\${{${name}`);
      continue;
    }
    i += 2;
    const value = lookup.get(`\${{${name}}}`);
    if (value === undefined) missing.push(name);
    else out += quote ? JSON.stringify(value) : value;
  }
  return { text: out, missing, malformed };
}

/**
 * Evaluates a step's `if:` as melange does: placeholders substituted and quoted, then
 * cond.Evaluate's grammar (`'a' == "b"`, `!=`, `&&`, `||`, parentheses; `&&` and `||` left to
 * right without precedence). Returns the error text melange would fail with instead of a result.
 */
export function evaluateCondition(condition: string, lookup: VarLookup): boolean | string {
  const s = conditionText(condition, lookup);
  return typeof s === 'string' ? evaluateExpression(s) : s.error;
}

/** An `if:` with its placeholders substituted and quoted (MutateAndQuoteStringFromMap), or why not. */
export function conditionText(condition: string, lookup: VarLookup): string | { error: string } {
  const s = compileSubstitute(condition, lookup, true);
  if (s.missing.length) return { error: `variable ${s.missing[0]} not defined` };
  if (s.malformed.length) return { error: `malformed variable reference ${s.malformed[0]}` };
  return s.text;
}

/** cond.Evaluate of a substituted `if:`: its value, or the error text melange fails with. */
export function evaluateExpression(input: string): boolean | string {
  let pos = 0;
  const skip = () => {
    while (isSpace(input[pos])) pos++;
  };
  const fail = (message: string): never => {
    throw new Error(message);
  };
  const value = (): string => {
    skip();
    const quote = input[pos];
    if (quote === "'" || quote === '"') {
      let out = '';
      for (pos++; pos < input.length && input[pos] !== quote; pos++) {
        if (input[pos] === '\\' && pos + 1 < input.length) {
          const c = input[++pos]!;
          out += c === 'n' ? '\n' : c === 't' ? '\t' : '\\\'"'.includes(c) ? c : `\\${c}`;
        } else out += input[pos];
      }
      if (pos >= input.length) fail(`unterminated string literal at position ${pos}`);
      pos++;
      return out;
    }
    // A variable left after substitution resolves to "" (cond.Evaluate's NullLookup).
    if (input.startsWith('${{', pos)) {
      pos += 3;
      skip();
      const start = pos;
      while (pos < input.length && isVarChar(input[pos]!)) pos++;
      if (pos === start) fail(`empty variable name at position ${pos}`);
      skip();
      if (!input.startsWith('}}', pos)) fail(`unterminated variable reference at position ${start}`);
      pos += 2;
      return '';
    }
    return pos >= input.length
      ? fail(`unexpected end of input at position ${pos}`)
      : fail(`unexpected character ${JSON.stringify(input[pos])} at position ${pos}`);
  };
  const comparison = (): boolean => {
    const lhs = value();
    skip();
    const op = input.slice(pos, pos + 2);
    if (op !== '==' && op !== '!=') fail(`expected '==' or '!=' at position ${pos}, got ${JSON.stringify(op)}`);
    pos += 2;
    const rhs = value();
    return op === '==' ? lhs === rhs : lhs !== rhs;
  };
  const atom = (): boolean => {
    skip();
    if (input[pos] !== '(') return comparison();
    pos++;
    const result = expr();
    skip();
    if (input[pos] !== ')') fail(`expected ')' at position ${pos}`);
    pos++;
    return result;
  };
  const expr = (): boolean => {
    let result = atom();
    for (;;) {
      skip();
      const op = input.slice(pos, pos + 2);
      if (op !== '&&' && op !== '||') return result;
      pos += 2;
      const rhs = atom();
      result = op === '&&' ? result && rhs : result || rhs;
    }
  };
  try {
    const result = expr();
    skip();
    if (pos !== input.length) fail(`unexpected trailing input at position ${pos}: ${JSON.stringify(input.slice(pos))}`);
    return result;
  } catch (e) {
    return (e as Error).message;
  }
}

/** The placeholders of a text: each key once (`${{name}}`), and whether it is ever written with spaces. */
type Placeholders = { keys: Map<string, boolean> } | { malformed: string };

function placeholdersOf(text: string): Placeholders {
  const keys = new Map<string, boolean>();
  for (let at = text.indexOf('${{'); at >= 0; at = text.indexOf('${{', at + 3)) {
    let i = at + 3;
    while (isSpace(text[i])) i++;
    const start = i;
    while (i < text.length && isVarChar(text[i]!)) i++;
    const name = text.slice(start, i);
    const end = i;
    while (isSpace(text[i])) i++;
    if (name === '' || text.slice(i, i + 2) !== '}}') return { malformed: `\${{${text.slice(start, start + 10)}` };
    const key = `\${{${name}}}`;
    keys.set(key, keys.get(key) === true || start !== at + 3 || end !== i);
  }
  return { keys };
}

// Texts of pipeline definitions are compiled for every step that uses them: parsed once.
const parsedTexts = new Map<string, Placeholders>();

/**
 * The first placeholder of a text melange would reject at compile time, without substituting:
 * `{ missing }` for one `lookup` does not define (nor `configVars`, which the config-level pass
 * already replaced in text written in the package file), `{ malformed }` for a broken `${{`.
 * `shared`: the text is a definition's, seen again and again (its placeholders are remembered).
 */
export function firstUndefined(
  text: string,
  lookup: VarLookup,
  configVars?: VarMap,
  shared = false,
): { missing: string } | { malformed: string } | undefined {
  let found = shared ? parsedTexts.get(text) : undefined;
  if (!found) {
    found = placeholdersOf(text);
    // Bounded: a worker reading edited catalogs for months sees new texts.
    if (shared && parsedTexts.size >= 10_000) parsedTexts.clear();
    if (shared) parsedTexts.set(text, found);
  }
  if ('malformed' in found) return found;
  for (const [key, spaced] of found.keys)
    if (lookup.get(key) === undefined && (spaced || !configVars?.has(key))) return { missing: key.slice(3, -2) };
  return undefined;
}
