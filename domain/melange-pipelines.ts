// Domain: melange's pipelines as melange v0.58 compiles them before a build or a test
// (pkg/build/compile.go: Compile, compilePipeline, gatherDeps, readUses; pipeline.go: validateWith,
// MutateWith), so kiln knows every package a build or a test installs. Pure: no fs, no network, no
// process; io/melange-pipelines.ts reads the pipeline files.
//
// - `uses: NAME` loads `<catalog>/pipelines/NAME.yaml`, else melange's built-in NAME (NAME may hold
//   `/`, never `..` or a leading `/`); the definition's keys replace the step's (its `name` stays),
//   unless the step has a `pipeline:` of its own. A `with:` key the definition has no input for,
//   or a required input left empty, is an error; `expected-sha256`, `expected-sha512` and
//   `expected-commit` must be hex of their length.
// - A step's scope is the compile map (melange-compile.ts compileVars) plus `${{inputs.<name>}}`: its
//   inputs' defaults overridden by its `with:` values, both substituted; nested steps see their
//   parent's inputs unless they set their own.
// - `needs.packages`, `runs`, `workdir` and `if` are substituted in that scope, where an undefined
//   placeholder is an error. A step whose `if:` is false contributes no needs, nor do its children.
// - The needs of the build pipeline and of the subpackages' pipelines join the build environment;
//   a test's pipeline needs join its test environment.
// This file: a package config's compile and the dependency list it gives. The step compiler is
// melange-step-compiler.ts (a step's inputs: melange-step-inputs.ts), the definitions, library,
// needs and problem sink it works with are melange-pipeline-library.ts.
import { LayeredVars, ANY_ARCH, compileVars, subpackageLayer } from './melange-compile.js';
import {
  fieldOf,
  type PipelineLibrary,
  type PipelineNeed,
  type ProblemSink,
  type RawNeed,
} from './melange-pipeline-library.js';
import { PipelineCompiler } from './melange-step-compiler.js';
import { isObj, type VarMap } from './melange-vars.js';
import { atomName } from './plan.js';

type Obj = Record<string, unknown>;

/** Needs without repeats (the first field an atom came from wins). */
export function uniqueNeeds(needs: RawNeed[]): PipelineNeed[] {
  const seen = new Set<string>();
  return needs
    .filter((n) => !seen.has(n.atom) && (seen.add(n.atom), true))
    .map((n) => ({ atom: n.atom, field: fieldOf([...n.at, ...n.sub]) }));
}

/**
 * A package's build dependencies with the field each comes from: `environment.contents.packages`
 * as written, then the needs of its build and subpackage pipelines, then what its tests install
 * (test environments and test pipelines' needs) less what the package itself is (`own`: its name,
 * subpackages and provides; kiln builds it before testing it in the same child); each name once.
 */
export function buildDependencyList(
  written: { value: string; field: string }[],
  needs: PackageNeeds,
  testContents: { value: string; field: string }[],
  own: Set<string>,
): { value: string; field: string }[] {
  const seen = new Set(written.map((d) => d.value));
  const added = [
    ...needs.build.map((n) => ({ value: n.atom, field: n.field })),
    ...[...testContents, ...needs.test.map((n) => ({ value: n.atom, field: n.field }))].filter(
      (d) => !own.has(atomName(d.value)),
    ),
  ].filter((d) => !seen.has(d.value) && (seen.add(d.value), true));
  return [...written, ...added];
}

/** A subpackage after range expansion, with its substituted name. */
export interface CompiledSubpackage {
  index: number;
  sub: Obj;
  vars: VarMap;
  name: string;
}

/** What a package config's pipelines need, for the archs it is built for. */
export interface PackageNeeds {
  /** Needs of the build and subpackage pipelines: melange adds them to the build environment. */
  build: PipelineNeed[];
  /** Needs of the test pipelines (package and subpackages): added to their test environments. */
  test: PipelineNeed[];
  /** Catalog pipeline files used (`pipelines/go/build.yaml`), sorted. */
  catalogFiles: string[];
}

/**
 * Compiles a package config's pipelines as melange compiles them for a build and a test of each of
 * `archs` (`if: ${{build.arch}} == ...` and arch placeholders in needs differ); needs are the union.
 */
export function compilePackage(input: {
  doc: Obj;
  /** The config-level map (melangeVars). */
  vars: VarMap;
  name: string;
  subpackages: CompiledSubpackage[];
  archs: string[];
  library: PipelineLibrary | undefined;
  sink: ProblemSink;
  file: string;
}): PackageNeeds {
  const { doc, vars, subpackages, archs } = input;
  // A problem of a step every subpackage or arch reaches is reported once.
  const reported = new Set<string>();
  const sink: ProblemSink = {
    add: (path, message, fix) => {
      const key = `${fieldOf(path)}\0${message}`;
      if (!reported.has(key)) input.sink.add(path, message, fix);
      reported.add(key);
    },
    addIn: (problem) => input.sink.addIn(problem),
  };
  const compiler = new PipelineCompiler(input.library, sink, input.file);
  const names = [input.name, ...subpackages.map((s) => s.name)];
  const options = isObj(doc.options) ? Object.keys(doc.options) : [];
  // Compiled once: arch-dependent values stay stand-ins until a need or an `if:` uses them.
  const compile = compileVars(vars, ANY_ARCH, names, options);
  const build = compiler.steps(doc.pipeline, ['pipeline'], { configVars: vars, compile, archs });
  const test: RawNeed[] = [];
  for (const s of subpackages) {
    const scope = { configVars: s.vars, compile: new LayeredVars(subpackageLayer(s.name), compile), archs };
    build.push(...compiler.steps(s.sub.pipeline, ['subpackages', s.index, 'pipeline'], scope));
    if (isObj(s.sub.test))
      test.push(...compiler.steps(s.sub.test.pipeline, ['subpackages', s.index, 'test', 'pipeline'], scope));
  }
  if (isObj(doc.test))
    test.push(...compiler.steps(doc.test.pipeline, ['test', 'pipeline'], { configVars: vars, compile, archs }));
  return { build: uniqueNeeds(build), test: uniqueNeeds(test), catalogFiles: [...compiler.catalogFiles].sort() };
}
