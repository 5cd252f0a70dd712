// melange's pipeline compile as kiln repeats it, on pipelines held in memory: which packages a
// `uses:` step needs for which inputs, defaults and `with:` values, in nested steps, under `if:`,
// and where each problem melange would fail on is reported. Loops over generated inputs use a
// fixed seed, so a failure reproduces.
import { describe, expect, it } from 'vitest';
import type { CatalogProblem } from '../../../domain/catalog.js';
import {
  fieldOf,
  type PipelineDefinition,
  type PipelineLibrary,
  type YamlPath,
} from '../../../domain/melange-pipeline-library.js';
import { compilePackage } from '../../../domain/melange-pipelines.js';
import { melangeVars } from '../../../domain/melange-vars.js';

type Obj = Record<string, unknown>;

/** A library of definitions held in memory: `builtin` ones as melange's own. */
function library(catalog: Record<string, Obj>, builtin: Record<string, Obj> = {}): PipelineLibrary {
  const defs = new Map<string, PipelineDefinition>();
  return {
    builtinsAvailable: true,
    builtinLabel: 'melange 0.58.0',
    reported: new Set(),
    lookup(name) {
      if (!defs.has(name)) {
        const doc = catalog[name] ?? builtin[name];
        if (doc)
          defs.set(name, {
            name,
            doc,
            builtin: !catalog[name],
            file: catalog[name] ? `pipelines/${name}.yaml` : `melange 0.58.0 built-in ${name}`,
          });
      }
      return defs.get(name);
    },
  };
}

/** Compiles a package config's pipelines; returns its needs (atom <- field) and problems. */
function compile(doc: Obj, lib: PipelineLibrary, archs = ['x86_64']) {
  const problems: { field: string; message: string; file?: string }[] = [];
  const vars = melangeVars(doc, []);
  const subs = Array.isArray(doc.subpackages)
    ? (doc.subpackages as Obj[]).map((sub, index) => ({ index, sub, vars, name: String(sub.name) }))
    : [];
  const needs = compilePackage({
    doc,
    vars,
    name: String((doc.package as Obj).name),
    subpackages: subs,
    archs,
    library: lib,
    file: 'packages/p.yaml',
    sink: {
      add: (path: YamlPath, message: string) => problems.push({ field: fieldOf(path), message }),
      addIn: (p: CatalogProblem) => problems.push({ file: p.file, field: p.field, message: p.message }),
    },
  });
  const show = (n: { atom: string; field: string }) => `${n.atom} <- ${n.field}`;
  return { build: needs.build.map(show), test: needs.test.map(show), problems, files: needs.catalogFiles };
}

const pkg = (extra: Obj = {}): Obj => ({ package: { name: 'p', version: '1.0.0', epoch: 0 }, ...extra });

/** mulberry32: a small deterministic generator. */
function rng(seed: number) {
  let a = seed;
  const next = () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  return { int, pick: <T>(xs: readonly T[]): T => xs[int(xs.length)]! };
}

describe('a step that uses a pipeline', () => {
  it('needs what its inputs say: a with: value, else the default, substituted (property)', () => {
    const r = rng(7);
    for (let run = 0; run < 300; run++) {
      const inputs: Obj = {};
      const withs: Obj = {};
      const expected: string[] = [];
      const n = 1 + r.int(4);
      for (let i = 0; i < n; i++) {
        const def = r.pick(['', `d${i}`, 'lib-${{package.name}}']);
        const given = r.pick([undefined, '', `w${i}`, '${{vars.flavour}}-${{package.version}}']);
        inputs[`in${i}`] = def === '' ? { description: 'no default' } : { default: def };
        if (given !== undefined) withs[`in${i}`] = given;
        // validateWith: an empty with: value takes the default; package.* and vars.* are substituted.
        const value = (given || def)
          .replace('${{package.name}}', 'p')
          .replace('${{vars.flavour}}-${{package.version}}', 'mild-1.0.0');
        if (value) expected.push(value);
      }
      const lib = library({
        gen: { inputs, needs: { packages: Object.keys(inputs).map((k) => `\${{inputs.${k}}}`) } },
      });
      const result = compile(pkg({ vars: { flavour: 'mild' }, pipeline: [{ uses: 'gen', with: withs }] }), lib);
      expect(result.problems).toEqual([]);
      expect(result.build).toEqual([...new Set(expected)].map((e) => `${e} <- pipeline[0].uses`));
    }
  });

  it('passes its inputs to nested steps, which may set their own and use other pipelines', () => {
    const lib = library({
      outer: {
        inputs: { tool: { default: 'hammer' }, size: { default: 'big' } },
        pipeline: [
          { runs: 'echo ${{inputs.tool}}', needs: { packages: ['${{inputs.tool}}'] } },
          { uses: 'inner', with: { part: '${{inputs.size}}-part' } },
          { with: { tool: 'saw' }, needs: { packages: ['${{inputs.tool}}-blade'] } },
        ],
      },
      inner: {
        inputs: { part: { required: true } },
        needs: { packages: ['${{inputs.part}}', '${{inputs.tool}}-case'] },
      },
    });
    const result = compile(pkg({ pipeline: [{ uses: 'outer', with: { size: 'small' } }] }), lib);
    expect(result.problems).toEqual([]);
    expect(result.build).toEqual([
      'hammer <- pipeline[0].uses',
      'small-part <- pipeline[0].uses',
      // A nested step sees its parent's inputs (inner has no input "tool").
      'hammer-case <- pipeline[0].uses',
      'saw-blade <- pipeline[0].uses',
    ]);
    expect(result.files).toEqual(['pipelines/inner.yaml', 'pipelines/outer.yaml']);
  });

  it('takes the definition’s keys over its own, but keeps its needs when the definition has none', () => {
    const lib = library({ withNeeds: { needs: { packages: ['theirs'] } }, plain: { runs: 'true' } });
    const result = compile(
      pkg({
        pipeline: [
          { uses: 'withNeeds', needs: { packages: ['mine'] } },
          { uses: 'plain', needs: { packages: ['kept'] } },
          // With a pipeline of its own, uses: is only a label.
          { uses: 'no-such-pipeline', pipeline: [{ needs: { packages: ['inline'] } }] },
        ],
      }),
      lib,
    );
    expect(result).toMatchObject({
      problems: [],
      build: [
        'theirs <- pipeline[0].uses',
        'kept <- pipeline[1].needs.packages[0]',
        'inline <- pipeline[2].pipeline[0].needs.packages[0]',
      ],
    });
  });

  it('needs nothing where its if: is false, for each arch', () => {
    const lib = library({ arm: { needs: { packages: ['arm-${{build.goarch}}'] } } });
    const doc = pkg({
      pipeline: [
        { if: "${{build.arch}} == 'aarch64'", uses: 'arm' },
        { if: "${{build.arch}} != 'aarch64'", pipeline: [{ needs: { packages: ['x86-${{host.triplet.gnu}}'] } }] },
      ],
    });
    expect(compile(doc, lib, ['x86_64']).build).toEqual([
      'x86-x86_64-pc-linux-gnu <- pipeline[1].pipeline[0].needs.packages[0]',
    ]);
    expect(compile(doc, lib, ['aarch64']).build).toEqual(['arm-arm64 <- pipeline[0].uses']);
    expect(compile(doc, lib, ['x86_64', 'aarch64']).build).toEqual([
      'arm-arm64 <- pipeline[0].uses',
      'x86-x86_64-pc-linux-gnu <- pipeline[1].pipeline[0].needs.packages[0]',
    ]);
  });

  it('counts build, subpackage and test pipelines, each where melange puts it', () => {
    const lib = library(
      {},
      { 'split/dev': { needs: { packages: ['dev-tools'] }, pipeline: [{ runs: 'mv x ${{targets.subpkgdir}}' }] } },
    );
    const result = compile(
      pkg({
        subpackages: [
          {
            name: 'p-dev',
            pipeline: [{ uses: 'split/dev' }],
            test: { pipeline: [{ needs: { packages: ['sub-test'] } }] },
          },
        ],
        test: { pipeline: [{ needs: { packages: ['main-test'] } }] },
      }),
      lib,
    );
    expect(result).toMatchObject({
      problems: [],
      build: ['dev-tools <- subpackages[0].pipeline[0].uses'],
      test: [
        'sub-test <- subpackages[0].test.pipeline[0].needs.packages[0]',
        'main-test <- test.pipeline[0].needs.packages[0]',
      ],
      // Built-in definitions are no catalog files.
      files: [],
    });
  });
});

describe('a step melange would refuse', () => {
  it('is reported at the package step for melange’s own pipelines, and in the file for the catalog’s', () => {
    const builtin = { 'split/dev': { pipeline: [{ runs: 'mv x ${{targets.subpkgdir}}' }] } };
    const catalog = { mine: { pipeline: [{ runs: 'echo ${{inputs.typo}}' }] } };
    const result = compile(
      pkg({ pipeline: [{ uses: 'split/dev' }, { uses: 'mine' }, { uses: 'mine' }] }),
      library(catalog, builtin),
    );
    expect(result.problems).toEqual([
      {
        field: 'pipeline[0].uses',
        message:
          'split/dev (melange 0.58.0 built-in split/dev) pipeline[0].runs: "mv x ${{targets.subpkgdir}}" uses ${{targets.subpkgdir}}, which melange does not define here',
      },
      {
        file: 'pipelines/mine.yaml',
        field: 'pipeline[0].runs',
        message:
          '"echo ${{inputs.typo}}" uses ${{inputs.typo}}, which melange does not define here (first seen in packages/p.yaml pipeline[1].uses)',
      },
    ]);
  });

  it('names a checksum of the wrong length and a condition that does not parse', () => {
    const lib = library({}, { fetch: { inputs: { uri: { required: true }, 'expected-sha256': {} } } });
    const result = compile(
      pkg({
        pipeline: [
          { uses: 'fetch', with: { uri: 'https://x', 'expected-sha256': 'abc' } },
          { if: '${{build.arch}} === 1', runs: 'true' },
        ],
      }),
      lib,
    );
    expect(result.problems.map((p) => `${p.field}: ${p.message}`)).toEqual([
      'pipeline[0].with.expected-sha256: "abc" is not 64 hexadecimal digits (melange rejects it)',
      'pipeline[1].if: "${{build.arch}} === 1" cannot be evaluated: unexpected character "=" at position 11',
    ]);
  });
});
