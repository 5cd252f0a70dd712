// I/O helper of io/catalog-loader.ts: reads a catalog file's data with js-yaml, about ten times
// faster than the `yaml` package at catalog size, under a schema that resolves plain scalars exactly
// as `yaml`'s default (YAML 1.2 core) schema does. Where kiln must keep comments (the upstream
// updater) or name a line (a problem), `yaml` still parses the file.
import jsYaml from 'js-yaml';

const scalar = (tag: string, test: RegExp, construct: (s: string) => unknown) =>
  new jsYaml.Type(`tag:yaml.org,2002:${tag}`, {
    kind: 'scalar',
    resolve: (s: unknown) => typeof s === 'string' && test.test(s),
    construct: (s: string) => construct(s),
  });

/** `yaml`'s core schema tags (yaml/dist/schema/core), in its resolution order. */
const CORE = jsYaml.FAILSAFE_SCHEMA.extend({
  implicit: [
    scalar('null', /^(?:~|[Nn]ull|NULL)?$/, () => null),
    scalar('bool', /^(?:[Tt]rue|TRUE|[Ff]alse|FALSE)$/, (s) => s[0] === 't' || s[0] === 'T'),
    scalar('int', /^(?:0o[0-7]+|[-+]?[0-9]+|0x[0-9a-fA-F]+)$/, (s) =>
      s.startsWith('0o') ? parseInt(s.slice(2), 8) : s.startsWith('0x') ? parseInt(s.slice(2), 16) : parseInt(s, 10),
    ),
    scalar(
      'float',
      /^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN|[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)[eE][-+]?[0-9]+|[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*))$/,
      (s) =>
        s.slice(-3).toLowerCase() === 'nan'
          ? NaN
          : /inf$/i.test(s)
            ? s[0] === '-'
              ? Number.NEGATIVE_INFINITY
              : Number.POSITIVE_INFINITY
            : parseFloat(s),
    ),
  ],
});

/**
 * The data of one YAML document, or undefined when js-yaml cannot read it (a syntax error, several
 * documents, a tag outside the core schema): the caller then parses it with `yaml`, which reports why.
 */
export function loadYamlData(text: string): unknown {
  try {
    return jsYaml.load(text, { schema: CORE });
  } catch {
    return undefined;
  }
}

/**
 * The same document with every scalar as its text (js-yaml's failsafe schema), as Go reads a
 * scalar into a string field: `version: 1.10` is "1.10". Undefined where js-yaml cannot read it.
 */
export function loadYamlText(text: string): unknown {
  try {
    return jsYaml.load(text, { schema: jsYaml.FAILSAFE_SCHEMA });
  } catch {
    return undefined;
  }
}
