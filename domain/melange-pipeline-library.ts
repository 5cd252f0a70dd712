// Domain: the vocabulary of melange's pipeline compile (domain/melange-pipelines.ts): the
// definitions a `uses:` names and the library they are looked up in (io/melange-pipelines.ts reads
// them), the needs a compile finds, where its problems go, and how a YAML path names a field. Pure.
import type { CatalogProblem } from './catalog.js';

type Obj = Record<string, unknown>;

/** A YAML path: `['pipeline', 2, 'uses']`. */
export type YamlPath = (string | number)[];

/** `['pipeline', 2, 'with', 'x']` -> `pipeline[2].with.x`. */
export function fieldOf(path: YamlPath): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

/** One pipeline definition `uses:` can name. */
export interface PipelineDefinition {
  /** The name steps use: `go/build`. */
  name: string;
  /** How problems name its file: `pipelines/go/build.yaml`, or `melange 0.58.0 built-in go/build`. */
  file: string;
  /** One of melange's own pipelines (not editable in the catalog). */
  builtin: boolean;
  /** Its parsed YAML; undefined when it does not parse (the reader reported why, once). */
  doc: Obj | undefined;
  /** The line of a path in the file, when known. */
  locate?: (path: YamlPath) => number | undefined;
}

/** Where `uses:` names are looked up: the catalog's pipelines/ first, then melange's built-ins. */
export interface PipelineLibrary {
  lookup(name: string): PipelineDefinition | undefined;
  /**
   * Whether melange's built-in pipelines could be read. Without them a name the catalog does not
   * define is skipped (its needs unknown), not reported.
   */
  builtinsAvailable: boolean;
  /** Label of the built-ins for messages: `melange 0.58.0`. */
  builtinLabel: string;
  /** Problems in pipeline files already reported (file, field and message), so each is reported once. */
  reported: Set<string>;
}

/** A package a build or test needs, and the package-file field it comes from. */
export interface PipelineNeed {
  atom: string;
  /** `pipeline[2].uses` (from the named pipeline) or `pipeline[2].needs.packages[0]` (written there). */
  field: string;
}

/** A need as the compiler finds it: its field is `[...at, ...sub]`, written out only if it is kept. */
export interface RawNeed {
  atom: string;
  at: YamlPath;
  sub: YamlPath;
}

/** Where a package config's problems go. */
export interface ProblemSink {
  /** A problem in the package config at `path`. */
  add(path: YamlPath, message: string, fix: string): void;
  /** A problem in a catalog pipeline file, once per file, field and message. */
  addIn(problem: CatalogProblem): void;
}
