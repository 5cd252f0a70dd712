// The pure mapping of schema errors to catalog problems, and the schema read as yaml.v3 reads.
import { describe, expect, it } from 'vitest';
import { Ajv2020 } from 'ajv/dist/2020.js';
import {
  asToolsRead,
  fieldName,
  newSchemaProblems,
  pointerSegments,
  schemaProblems,
  yamlKeyLocator,
  type SchemaError,
} from '../../../domain/schema-problems.js';

const schema = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: {
    name: { type: 'string' },
    count: { type: 'integer' },
    mode: { enum: ['a', 'b'] },
    items: { type: 'array', items: { type: 'object', properties: { required: { type: 'boolean' } } } },
    nested: { type: 'object', additionalProperties: false, properties: { ok: { type: 'string' } } },
  },
};
const validate = new Ajv2020({ allErrors: true, verbose: true, strict: false }).compile(asToolsRead(schema) as object);

function problems(data: unknown, text = ''): ReturnType<typeof schemaProblems> {
  validate(data);
  return schemaProblems((validate.errors ?? []) as SchemaError[], 'f.yaml', 'tool 1.0', data, yamlKeyLocator(text));
}

describe('schemaProblems', () => {
  it('names the path of list items and keys', () => {
    expect(pointerSegments('/items/0/x~1y', { items: [{}] })).toEqual(['items', 0, 'x/y']);
    expect(pointerSegments('/0', { '0': 1 })).toEqual(['0']);
    expect(fieldName(['items', 0, 'x'])).toBe('items[0].x');
    expect(fieldName([])).toBe('(top level)');
  });

  it('drops required lists but keeps a property called required', () => {
    expect(JSON.stringify(asToolsRead(schema))).not.toContain('"required":[');
    expect(problems({ items: [{ required: 'yes' }] })).toEqual([
      expect.objectContaining({ field: 'items[0].required', fix: 'write true or false without quotes' }),
    ]);
  });

  it('reads a Go-named property (no yaml tag) under its lowercased name, as yaml.v3 does', () => {
    const goNamed = {
      type: 'object',
      additionalProperties: false,
      properties: { Packages: { type: 'array', items: { type: 'string' } } },
    };
    const check = new Ajv2020({ allErrors: true, strict: false }).compile(asToolsRead(goNamed) as object);
    expect(check({ packages: ['busybox'] })).toBe(true);
    expect(check({ Packages: ['busybox'] })).toBe(false);
  });

  it('accepts what yaml.v3 decodes: scalars into strings, null anywhere', () => {
    expect(problems({ name: 1.2, count: null, nested: { ok: true } })).toEqual([]);
    expect(problems({ name: 'x', count: '1' })).toEqual([
      expect.objectContaining({ field: 'count', message: 'must be an integer (tool 1.0 schema)' }),
    ]);
  });

  it('gives the line of the key and the accepted names for an unknown one', () => {
    const text = 'name: x\nnested:\n  ok: y\n  okk:\n    - 1\n';
    expect(problems({ name: 'x', nested: { ok: 'y', okk: [1] } }, text)).toEqual([
      {
        file: 'f.yaml',
        field: 'nested.okk',
        line: 4,
        message: 'unknown field okk (tool 1.0 does not accept it here)',
        fix: 'remove it or check its spelling; tool 1.0 accepts: ok',
      },
    ]);
  });

  it('lists the allowed values of an enum', () => {
    expect(problems({ name: 'x', mode: 'c' }, 'name: x\nmode: c\n')).toEqual([
      expect.objectContaining({ field: 'mode', line: 2, fix: 'use one of: "a", "b"' }),
    ]);
  });

  it('keeps only the fields kiln’s own checks did not report', () => {
    const p = (file: string, field: string) => ({ file, field, message: 'm', fix: 'f' });
    const known = [p('a.yaml', 'package.epoch'), p('a.yaml', 'environment.contents.packages[1]')];
    const found = [
      p('a.yaml', 'package.epoch'),
      p('a.yaml', 'environment.contents'),
      p('a.yaml', 'pipeline[0].runz'),
      p('b.yaml', 'package.epoch'),
    ];
    expect(newSchemaProblems(found, known).map((x) => `${x.file}: ${x.field}`)).toEqual([
      'a.yaml: pipeline[0].runz',
      'b.yaml: package.epoch',
    ]);
  });
});
