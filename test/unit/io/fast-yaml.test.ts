// io/fast-yaml.ts: js-yaml under kiln's schema reads plain scalars exactly as `yaml`'s core schema does.
import { describe, expect, it } from 'vitest';
import { parse, parseDocument } from 'yaml';
import { loadYamlData } from '../../../io/fast-yaml.js';

const SCALARS = [
  ...['', '~', 'null', 'Null', 'NULL', 'nULL', 'true', 'True', 'TRUE', 'tRue', 'yes', 'no', 'on', 'off'],
  ...['0', '-0', '+12', '012', '0o17', '0o8', '0x1F', '0X1F', '0b101', '1_000', '9007199254740993'],
  ...['1.10', '1.', '.5', '+.5', '-1.5e3', '1e3', '1E-3', '.inf', '-.Inf', '+.INF', '.nan', '.NaN', 'nan'],
  ...['2024-01-01', '1:30', '12:30:00', '1.2.3', '00', "'3'", '"true"', '<<', '=', 'x # c', '${{package.name}}'],
];
// JSON cannot hold NaN or infinities: name them.
const shown = (v: unknown) =>
  JSON.stringify(v, (_k, x: unknown) => (typeof x === 'number' && !Number.isFinite(x) ? String(x) : x));

describe('loadYamlData', () => {
  it.each(SCALARS)('reads the plain scalar %j as yaml does (or leaves a syntax error to yaml)', (scalar) => {
    for (const text of [`a: ${scalar}\n`, `b: [${scalar}]\n`]) {
      const doc = parseDocument(text);
      if (doc.errors.length) expect(loadYamlData(text)).toBeUndefined();
      else expect(shown(loadYamlData(text))).toBe(shown(doc.toJS()));
    }
  });

  it('takes << as a plain key and resolves anchors, as yaml does by default', () => {
    const text = 'b: &x {c: 1}\nd: *x\n<<: {e: 2}\n';
    expect(loadYamlData(text)).toEqual(parse(text));
  });

  it('returns undefined where the caller must ask yaml: syntax errors, several documents, other tags', () => {
    expect(loadYamlData('a: [1, 2\n')).toBeUndefined();
    expect(loadYamlData('a: 1\na: 2\n')).toBeUndefined();
    expect(loadYamlData('a: 1\n---\nb: 2\n')).toBeUndefined();
    expect(loadYamlData('a: !!binary aGVsbG8=\n')).toBeUndefined();
  });
});
