// Domain: a pipeline step's `${{inputs.*}}` in melange's compile (pkg/build/pipeline.go:
// validateWith, MutateWith): a definition's `inputs:` as validateWith reads them (defaults,
// required, hex-checked) and the scope a step's placeholders are looked up in, its inputs over its
// parent's. Used by domain/melange-step-compiler.ts. Pure.
import type { VarLookup } from './melange-compile.js';
import { isObj, scalar } from './melange-vars.js';

type Obj = Record<string, unknown>;

/** Inputs melange checks as hex digits, and how many. */
export const SHA_LENGTH: Record<string, number> = {
  'expected-sha256': 64,
  'expected-sha512': 128,
  'expected-commit': 40,
};
export const INPUT_PREFIX = '${{inputs.';
/** A step with no inputs of its own. */
export const NO_INPUTS: Map<string, string> = new Map();

/** A step's scope: its `${{inputs.*}}` over its parent's (the compile map at the root). */
export class StepScope implements VarLookup {
  constructor(
    readonly parent: VarLookup,
    /** Inputs set by `with:`, and defaults with placeholders (resolved for this step). */
    readonly inputs: Map<string, string>,
    /** The definition's defaults, for the inputs neither of those holds. */
    readonly defaults: Map<string, string> = NO_INPUTS,
  ) {}
  get(key: string): string | undefined {
    return this.inputs.get(key) ?? this.defaults.get(key) ?? this.parent.get(key);
  }
}

/** A definition's `inputs:` as validateWith reads them, worked out once per definition. */
export interface InputSpecs {
  /** `${{inputs.<name>}}` -> default ("" when none). */
  defaults: Map<string, string>;
  /** Keys of the defaults that hold placeholders: resolved again for each step. */
  dynamic: string[];
  required: string[];
  /** Inputs melange checks as hex of a length. */
  hashes: string[];
}

/** validateWith's reading of a definition's `inputs:` (cache it per definition: it is the same each time). */
export function inputSpecs(inputs: Obj): InputSpecs {
  const defaults = new Map<string, string>();
  const required: string[] = [];
  for (const [k, spec] of Object.entries(inputs)) {
    const input = isObj(spec) ? spec : {};
    defaults.set(`${INPUT_PREFIX}${k}}}`, scalar(input.default) ?? '');
    if (input.required === true) required.push(k);
  }
  return {
    defaults,
    dynamic: [...defaults.keys()].filter((key) => defaults.get(key)!.includes('${{')),
    required,
    hashes: Object.keys(inputs).filter((k) => SHA_LENGTH[k]),
  };
}
