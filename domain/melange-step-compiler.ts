// Domain: the compiler of melange's pipeline steps (pkg/build/compile.go: compilePipeline,
// gatherDeps, readUses): a step's `uses:` loaded and merged, its inputs checked and scoped, its
// `if:` evaluated per arch, its needs, `runs` and `workdir` substituted, its nested steps compiled;
// the needs found and every problem melange would fail on, reported where it is written.
// domain/melange-pipelines.ts runs it over a package config. Pure.
import {
  conditionText,
  compileSubstitute,
  dependsOnArch,
  evaluateExpression,
  firstUndefined,
  instantiateArch,
  type VarLookup,
} from './melange-compile.js';
import {
  fieldOf,
  type PipelineDefinition,
  type PipelineLibrary,
  type ProblemSink,
  type RawNeed,
  type YamlPath,
} from './melange-pipeline-library.js';
import { INPUT_PREFIX, NO_INPUTS, SHA_LENGTH, StepScope, inputSpecs, type InputSpecs } from './melange-step-inputs.js';
import { isObj, scalar, substitute, type VarMap } from './melange-vars.js';

type Obj = Record<string, unknown>;
const USES: YamlPath = ['uses'];

/** The input of one pipeline list's compile. */
export interface CompileScope {
  /** The config-level map the package file's own strings are substituted with first (vars, range). */
  configVars: VarMap;
  /** The compile map, for ANY_ARCH (compileVars; a subpackage's layer over it). */
  compile: VarLookup;
  /** The archs it is compiled for: an `if:` and a need may differ between them. */
  archs: readonly string[];
}

/** Where a step is: in the package file (`def` undefined) or in a pipeline file it uses. */
interface Site {
  def?: PipelineDefinition;
  /** The step's path in its file. */
  path: YamlPath;
  /** The nearest step written in the package file. */
  top: YamlPath;
  /** Names being expanded, outermost first: a name already here is a loop. */
  chain: string[];
}

/** A step with a used definition's keys over its own (yaml decoding onto the step), and where each is written. */
interface MergedStep {
  raw: Obj;
  def?: PipelineDefinition;
  /** The definition's keys (all but `name`). */
  keys?: Map<string, unknown>;
  site: Site;
  /** The definition's top level, for its keys. */
  defSite?: Site;
}

const value = (m: MergedStep, key: string): unknown => (m.keys?.has(key) ? m.keys.get(key) : m.raw[key]);
const siteOf = (m: MergedStep, key: string): Site => (m.keys?.has(key) ? m.defSite! : m.site);

// Worked out once per parsed definition (io/melange-pipelines.ts keeps them for the process).
const keysOf = new WeakMap<Obj, Map<string, unknown>>();
const specsOf = new WeakMap<Obj, InputSpecs>();

/** Compiles the steps of one package config; collects needs and problems. */
export class PipelineCompiler {
  /** Catalog pipeline files used, relative to the catalog (`pipelines/go/build.yaml`). */
  readonly catalogFiles = new Set<string>();
  /** The scope of a top-level step (no inputs), one per compile map. */
  private readonly roots = new WeakMap<VarLookup, StepScope>();

  constructor(
    private readonly library: PipelineLibrary | undefined,
    private readonly sink: ProblemSink,
    /** How the package config is named in problems about a catalog pipeline file it uses. */
    private readonly packageFile: string,
  ) {}

  /** The needs of a `pipeline:` list at `path` of the package file (a build, subpackage or test pipeline). */
  steps(steps: unknown, path: YamlPath, scope: CompileScope): RawNeed[] {
    if (!Array.isArray(steps)) return [];
    let root = this.roots.get(scope.compile);
    if (!root) this.roots.set(scope.compile, (root = new StepScope(scope.compile, NO_INPUTS)));
    const needs: RawNeed[] = [];
    steps.forEach((step, i) => {
      const at = [...path, i];
      this.step(step, { path: at, top: at, chain: [] }, scope, root, scope.archs, needs);
    });
    return needs;
  }

  private problem(site: Site, sub: YamlPath, message: string, fix: string): void {
    const path = [...site.path, ...sub];
    if (!site.def) {
      this.sink.add(path, message, fix);
      return;
    }
    const where = `${site.def.name} (${site.def.file}${lineOf(site.def, path)}) ${fieldOf(path)}`;
    if (site.def.builtin || !this.library) {
      // melange's own file is not the catalog's to fix: the problem is the package step's.
      this.sink.add([...site.top, 'uses'], `${where}: ${message}`, fix);
      return;
    }
    const key = `${site.def.file}\0${fieldOf(path)}\0${message}`;
    if (this.library.reported.has(key)) return;
    this.library.reported.add(key);
    const line = site.def.locate?.(path);
    this.sink.addIn({
      file: site.def.file,
      field: fieldOf(path),
      message: `${message} (first seen in ${this.packageFile} ${fieldOf([...site.top, 'uses'])})`,
      fix,
      ...(line ? { line } : {}),
    });
  }

  private undefinedVar(
    site: Site,
    sub: YamlPath,
    raw: string,
    bad: { missing: string } | { malformed: string } | undefined,
  ): boolean {
    if (!bad) return false;
    this.problem(
      site,
      sub,
      'missing' in bad
        ? `"${short(raw)}" uses \${{${bad.missing}}}, which melange does not define here`
        : `"${short(raw)}" has a malformed placeholder ${bad.malformed}`,
      'missing' in bad
        ? 'use a placeholder melange defines in this step (package.*, vars.*, inputs.* of this pipeline, targets.*, host.triplet.*, build.arch, context.name, ...), or correct its spelling'
        : 'write placeholders as ${{name}}',
    );
    return true;
  }

  /** The step as melange sees it once its `uses:` is loaded; undefined when it cannot be. */
  private merge(raw: Obj, site: Site): MergedStep | undefined {
    const uses = raw.uses;
    const ownPipeline = Array.isArray(raw.pipeline) && raw.pipeline.length > 0;
    if (uses === undefined || uses === null || uses === '' || ownPipeline) return { raw, site };
    const def = this.resolve(uses, site);
    if (!def?.doc) return undefined;
    let keys = keysOf.get(def.doc);
    if (!keys) keysOf.set(def.doc, (keys = new Map(Object.entries(def.doc).filter(([k]) => k !== 'name'))));
    if (!def.builtin) this.catalogFiles.add(def.file);
    const inputs = isObj(def.doc.inputs) ? def.doc.inputs : {};
    if (isObj(raw.with))
      for (const k of Object.keys(raw.with))
        if (!(k in inputs))
          this.problem(
            site,
            ['with', k],
            `${def.name} has no input "${k}" (melange: undefined input "${k}" to pipeline "${def.name}")`,
            Object.keys(inputs).length
              ? `use one of its inputs: ${Object.keys(inputs).sort().join(', ')}`
              : `remove with: (${def.name} takes no inputs)`,
          );
    return { raw, def, keys, site, defSite: { def, path: [], top: site.top, chain: site.chain } };
  }

  /** validateWith and MutateWith: the step's scope, or undefined after reporting an input melange rejects. */
  private scope(m: MergedStep, scope: CompileScope, parent: StepScope): StepScope | undefined {
    const withValue = value(m, 'with');
    const inputs = value(m, 'inputs');
    if (!isObj(withValue) && !isObj(inputs)) return parent;
    let specs = isObj(inputs) ? specsOf.get(inputs) : undefined;
    if (isObj(inputs) && !specs) specsOf.set(inputs, (specs = inputSpecs(inputs)));
    // Own inputs become ${{inputs.<name>}} over the parent's: `with:` values, else the defaults.
    const defaults = specs?.defaults ?? NO_INPUTS;
    const own = new Map<string, string>();
    const withVars = siteOf(m, 'with').def ? undefined : scope.configVars;
    if (isObj(withValue))
      for (const [k, v] of Object.entries(withValue)) {
        const text = scalar(v) ?? '';
        const key = `${INPUT_PREFIX}${k}}}`;
        if (text || !defaults.has(key)) own.set(key, withVars ? substitute(text, withVars) : text);
      }
    for (const key of specs?.dynamic ?? []) if (!own.has(key)) own.set(key, defaults.get(key)!);
    const inputValue = (k: string) => own.get(`${INPUT_PREFIX}${k}}}`) ?? defaults.get(`${INPUT_PREFIX}${k}}}`);
    for (const k of specs?.hashes ?? []) {
      const text = inputValue(k)!;
      // A plain-digits value (`expected-commit: 0000…`) reaches kiln as a number, its digits lost;
      // melange reads the text. Only a string can be judged.
      if (isObj(withValue) && typeof withValue[k] === 'number') continue;
      if (text && !(text.length === SHA_LENGTH[k] && /^[0-9a-fA-F]+$/.test(text)))
        this.problem(
          m.site,
          ['with', k],
          `"${short(text)}" is not ${SHA_LENGTH[k]} hexadecimal digits (melange rejects it)`,
          `set ${k} to the full ${k === 'expected-commit' ? 'commit hash' : 'checksum'}`,
        );
    }
    for (const k of specs?.required ?? [])
      if (!inputValue(k))
        this.problem(
          m.site,
          ['with'],
          `required input "${k}"${m.def ? ` of ${m.def.name}` : ''} is missing`,
          `set with: { ${k}: ... }`,
        );
    const lookup = new StepScope(parent, own, defaults);
    // Resolved against the parent's scope; inputs may refer to each other: resolve until nothing
    // changes, then report what is left.
    const pending = [...own.keys()].filter((key) => own.get(key)!.includes('${{'));
    for (let pass = 0; pass <= pending.length; pass++) {
      let changed = false;
      for (const key of pending) {
        const s = compileSubstitute(own.get(key)!, lookup);
        if (!s.missing.length && !s.malformed.length && s.text !== own.get(key)) {
          own.set(key, s.text);
          changed = true;
        }
      }
      if (!changed) break;
    }
    for (const key of pending) {
      const text = own.get(key)!;
      const k = key.slice(INPUT_PREFIX.length, -2);
      if (this.undefinedVar(m.site, ['with', k], text, firstUndefined(text, lookup))) return undefined;
    }
    return lookup;
  }

  /** Compiles one step and its children; pushes the needs of the archs (of `active`) it runs for. */
  private step(
    raw: unknown,
    site: Site,
    scope: CompileScope,
    parent: StepScope,
    active: readonly string[],
    out: RawNeed[],
  ): void {
    if (!isObj(raw)) {
      this.problem(site, [], 'a pipeline step must be a mapping', 'write the step as "- uses: ..." or "- runs: ..."');
      return;
    }
    const m = this.merge(raw, site);
    if (!m) return;
    const lookup = this.scope(m, scope, parent);
    if (!lookup) return;

    // gatherDeps: a step whose `if:` is false for an arch adds nothing there, nor do its children.
    let runs = active;
    const cond = scalar(value(m, 'if'));
    if (cond) {
      const condSite = siteOf(m, 'if');
      const text = conditionText(condSite.def ? cond : substitute(cond, scope.configVars), lookup);
      let error = typeof text === 'string' ? undefined : text.error;
      // A condition melange cannot evaluate fails its build: it adds nothing.
      runs = [];
      if (typeof text === 'string')
        runs = active.filter((arch) => {
          const result = evaluateExpression(instantiateArch(text, arch));
          if (typeof result === 'string') error ??= result;
          return result === true;
        });
      if (error)
        this.problem(
          condSite,
          ['if'],
          `"${short(cond)}" cannot be evaluated: ${error}`,
          "write it as ${{build.arch}} == 'x86_64', with && || and parentheses",
        );
    }

    const needs = value(m, 'needs');
    if (isObj(needs) && Array.isArray(needs.packages)) {
      const needsSite = siteOf(m, 'needs');
      needs.packages.forEach((p: unknown, j) => {
        const text = scalar(p) ?? '';
        const s = compileSubstitute(needsSite.def ? text : substitute(text, scope.configVars), lookup);
        const bad = s.missing.length
          ? { missing: s.missing[0]! }
          : s.malformed.length
            ? { malformed: s.malformed[0]! }
            : undefined;
        if (this.undefinedVar(needsSite, ['needs', 'packages', j], text, bad) || !s.text) return;
        // The field is worked out for the needs kept (uniqueNeeds), not for every one.
        const at = needsSite.def ? site.top : site.path;
        const sub = needsSite.def ? USES : ['needs', 'packages', j];
        if (!dependsOnArch(s.text)) {
          if (runs.length) out.push({ atom: s.text, at, sub });
        } else for (const arch of runs) out.push({ atom: instantiateArch(s.text, arch), at, sub });
      });
    }
    for (const key of ['runs', 'workdir']) {
      const text = scalar(value(m, key));
      if (text === undefined || !text.includes('${{')) continue;
      const at = siteOf(m, key);
      this.undefinedVar(at, [key], text, firstUndefined(text, lookup, at.def ? undefined : scope.configVars, !!at.def));
    }
    // Nested steps are compiled (and judged) even when this one does not run, as melange does.
    const children = value(m, 'pipeline');
    if (Array.isArray(children)) {
      const childOf = siteOf(m, 'pipeline');
      const chain = m.def ? [...site.chain, m.def.name] : site.chain;
      children.forEach((child: unknown, j) => {
        const path = [...childOf.path, 'pipeline', j];
        const childSite: Site = { def: childOf.def, path, top: childOf.def ? site.top : path, chain };
        this.step(child, childSite, scope, lookup, runs, out);
      });
    }
  }

  /** The definition a `uses:` names, or undefined after reporting why there is none. */
  private resolve(uses: unknown, site: Site): PipelineDefinition | undefined {
    if (typeof uses !== 'string') {
      this.problem(site, ['uses'], 'must be a pipeline name', 'write uses: NAME, e.g. uses: fetch');
      return undefined;
    }
    if (uses.startsWith('/') || uses.includes('..')) {
      this.problem(
        site,
        ['uses'],
        `"${uses}" is an absolute path or contains "..": melange refuses it`,
        'name a pipeline of the catalog (pipelines/NAME.yaml) or of melange, e.g. uses: go/build',
      );
      return undefined;
    }
    if (site.chain.includes(uses)) {
      this.problem(
        site,
        ['uses'],
        `uses ${uses}, which is already being expanded (${[...site.chain, uses].join(' -> ')})`,
        'remove one uses: of the loop',
      );
      return undefined;
    }
    if (!this.library) return undefined;
    const def = this.library.lookup(uses);
    if (!def && this.library.builtinsAvailable)
      this.problem(
        site,
        ['uses'],
        `"${uses}" is neither a catalog pipeline (pipelines/${uses}.yaml) nor a built-in pipeline of ${this.library.builtinLabel}`,
        `add pipelines/${uses}.yaml to the catalog, or correct the name (built-in ones include fetch, git-checkout, autoconf/configure, go/build)`,
      );
    return def;
  }
}

const short = (s: string) => (s.length > 80 ? `${s.slice(0, 77)}...` : s).replace(/\n/g, '\\n');
const lineOf = (def: PipelineDefinition, path: YamlPath) => {
  const line = def.builtin ? undefined : def.locate?.(path);
  return line ? `:${line}` : '';
};
