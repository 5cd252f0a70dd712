// Property-style tests of melange substitution, Go regexp replacement and dependency constraints:
// loops over generated inputs with a fixed seed, so a failure reproduces.
import { describe, expect, it } from 'vitest';
import {
  ANY_ARCH,
  compileSubstitute,
  compileVars,
  evaluateCondition,
  firstUndefined,
  instantiateArch,
  subpackageCompileVars,
} from '../../../domain/melange-compile.js';
import {
  expandGoTemplate,
  expandSubpackages,
  goRegExp,
  goReplaceAll,
  melangeVars,
  substitute,
  unresolved,
  type VarProblem,
} from '../../../domain/melange-vars.js';
import { atomName, parseAtom } from '../../../domain/plan.js';

/** A small deterministic generator (mulberry32). */
function rng(seed: number) {
  let a = seed;
  const next = () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const word = (alphabet: string, min: number, max: number) =>
    Array.from({ length: min + int(max - min + 1) }, () => pick([...alphabet])).join('');
  return { int, pick, word };
}

const ALNUM = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const NAME_CHARS = `${ALNUM}._+-`;

describe('substitution', () => {
  it('replaces every defined placeholder with its value and leaves undefined ones as written', () => {
    const r = rng(1);
    for (let run = 0; run < 500; run++) {
      const vars = new Map<string, string>();
      const names = Array.from({ length: 1 + r.int(4) }, () => r.word(ALNUM, 1, 8));
      // Values may look like placeholders themselves: substitution is one pass, as strings.Replacer.
      for (const n of names) vars.set(`\${{vars.${n}}}`, r.pick(['', r.word(NAME_CHARS, 1, 6), '${{vars.x}}']));
      let template = '';
      let expected = '';
      for (let i = r.int(6); i >= 0; i--) {
        const lit = r.word(`${NAME_CHARS}{}$`, 0, 4).replace(/\$\{\{/g, '');
        template += lit;
        expected += lit;
        if (r.int(3) === 0) {
          template += '${{vars.undefined-one}}';
          expected += '${{vars.undefined-one}}';
        } else {
          const n = r.pick(names);
          template += `\${{vars.${n}}}`;
          expected += vars.get(`\${{vars.${n}}}`)!;
        }
      }
      expect(substitute(template, vars)).toBe(expected);
      expect(unresolved(substitute(template, new Map()))).toEqual(
        [...template.matchAll(/\$\{\{([A-Za-z0-9_.-]+)\}\}/g)].map((m) => m[1]),
      );
    }
  });

  it('computes package.*, vars and var-transforms as melange does', () => {
    const problems: VarProblem[] = [];
    const vars = melangeVars(
      {
        package: { name: 'foo', version: '1.22.3', epoch: 4 },
        vars: { py: '3.12' },
        'var-transforms': [
          { from: '${{package.version}}', match: '^(\\d+)\\.(\\d+).*', replace: '${1}$2', to: 'short' },
          { from: '${{vars.short}}-${{vars.py}}', match: '\\.', replace: '_', to: 'tag' },
          { from: '${{package.version}}', match: '(?P<major>\\d+)\\..*', replace: '$major', to: 'major' },
          { from: '${{package.version}}', match: '(\\d+)', replace: '$1x', to: 'go-named' },
        ],
      },
      problems,
    );
    expect(problems).toEqual([]);
    expect(substitute('${{package.full-version}} ${{package.epoch}} ${{vars.short}} ${{vars.tag}}', vars)).toBe(
      '1.22.3-r4 4 122 122-3_12',
    );
    expect(vars.get('${{vars.major}}')).toBe('1');
    // Go reads "$1x" as the group named "1x", which does not exist: empty, unlike JavaScript's "$1" + "x".
    expect(vars.get('${{vars.go-named}}')).toBe('..');
  });

  it('matches JavaScript replacement wherever Go and JavaScript templates agree', () => {
    const r = rng(2);
    for (let run = 0; run < 500; run++) {
      const input = r.word('ab1.-', 0, 12);
      // JavaScript keeps "$2" literally when the pattern has no group 2 (Go expands it to ""): only
      // templates naming existing groups are compared.
      const [pattern, refs] = r.pick([
        ['(a)(b)?', ['${1}', '${2}']],
        ['([0-9]+)', ['${1}']],
        ['(\\.)', ['${1}']],
        ['^(a*)', ['${1}']],
        ['(b|1)$', ['${1}']],
        ['(-)', ['${1}']],
      ] as const);
      const parts = Array.from({ length: r.int(4) }, () => r.pick([...refs, 'X', '-', '$$']));
      const go = goRegExp(pattern) as RegExp;
      const js = parts.map((p) => (p === '${1}' ? '$1' : p === '${2}' ? '$2' : p === '$$' ? '$$' : p)).join('');
      expect(goReplaceAll(go, input, parts.join(''))).toBe(input.replace(new RegExp(pattern, 'g'), js));
    }
    expect(expandGoTemplate('$0|${1}|$2|$9|$$', ['ab', 'a', undefined])).toBe('ab|a|||$');
  });

  it('rejects what RE2 does not have, with the reason', () => {
    for (const p of ['(?=a)', '(?!a)', '(?<=a)', '(?<!a)', '(a)\\1', '[[:alpha:]]', 'a(?i)b'])
      expect(typeof goRegExp(p)).toBe('string');
    expect((goRegExp('(?i)^ABC\\z') as RegExp).test('abc')).toBe(true);
    expect(String(goRegExp('\\Aa'))).toBe('/^a/g');
  });
});

describe('dependency constraints', () => {
  it('parse to the name, operator and version for every operator apk knows', () => {
    const r = rng(3);
    const ops = ['=', '~', '~=', '>', '<', '>=', '<=', '><'];
    for (let run = 0; run < 1000; run++) {
      const prefix = r.pick(['', 'so:', 'cmd:', 'pc:', 'py3.12:']);
      const name = prefix + r.pick([...ALNUM]) + r.word(NAME_CHARS, 0, 12);
      const version = `${r.int(20)}.${r.int(20)}${r.pick(['', '-r0', '_rc1', 'a'])}`;
      const op = r.pick(ops);
      const conflict = r.int(5) === 0;
      const tag = r.int(6) === 0 ? r.word('abcdef', 1, 4) : undefined;
      const space = r.pick(['', ' ']);
      const atom = `${conflict ? '!' : ''}${name}${tag ? `@${tag}` : ''}${space}${op}${space}${version}`;
      expect(parseAtom(atom)).toEqual({ name, conflict, op, version, ...(tag ? { tag } : {}) });
      expect(atomName(atom)).toBe(name);
      expect(atomName(`${conflict ? '!' : ''}${name}`)).toBe(name);
    }
  });
});

describe('range subpackages', () => {
  it('an empty range is no range, as melange treats it', () => {
    const problems: VarProblem[] = [];
    const doc = { subpackages: [{ range: '', name: 'foo-static' }, { name: 'foo-dev' }] };
    const out = expandSubpackages(doc, new Map(), problems);
    expect(problems).toEqual([]);
    expect(out.map((o) => o.sub.name)).toEqual(['foo-static', 'foo-dev']);
  });

  it('a range naming no data entry is a problem naming the subpackage field', () => {
    const problems: VarProblem[] = [];
    expandSubpackages({ subpackages: [{ range: 'versions', name: 'py-${{range.key}}' }] }, new Map(), problems);
    expect(problems.map((p) => p.field)).toEqual(['subpackages[0].range']);
  });
});

describe('compile-time substitution (pipelines)', () => {
  const base = melangeVars({ package: { name: 'foo', version: '1.2.3', epoch: 1 }, vars: { v: 'x' } }, []);

  it('defines what melange defines in a step: targets, host, build, context, cross and package names', () => {
    const x86 = compileVars(base, 'x86_64', ['foo', 'foo-dev'], ['debug']);
    const at = (text: string, map = x86) => compileSubstitute(text, map).text;
    expect(at('${{targets.destdir}} ${{targets.contextdir}} ${{targets.outdir}} ${{package.srcdir}}')).toBe(
      '/home/build/melange-out/foo /home/build/melange-out/foo /home/build/melange-out /home/build',
    );
    expect(at('${{host.triplet.gnu}} ${{host.triplet.rust}} ${{build.arch}} ${{build.goarch}}')).toBe(
      'x86_64-pc-linux-gnu x86_64-unknown-linux-gnu x86_64 amd64',
    );
    expect(at('${{cross.triplet.gnu.musl}} ${{targets.package.foo-dev}} ${{options.debug.enabled}}')).toBe(
      'x86_64-pc-linux-musl /home/build/melange-out/foo-dev false',
    );
    const arm = compileVars(base, 'aarch64', ['foo'], []);
    expect(at('${{host.triplet.gnu}} ${{host.triplet.rust}} ${{build.goarch}}', arm)).toBe(
      'aarch64-unknown-linux-gnu aarch64-unknown-linux-gnu arm64',
    );
    const sub = subpackageCompileVars(x86, 'foo-dev');
    expect(at('${{targets.subpkgdir}} ${{targets.contextdir}} ${{context.name}} ${{subpkg.name}}', sub)).toBe(
      '/home/build/melange-out/foo-dev /home/build/melange-out/foo-dev foo-dev foo-dev',
    );
    // Only a subpackage has a subpkgdir; package.description is substituted before, not here.
    expect(compileSubstitute('${{targets.subpkgdir}} ${{package.description}}', x86).missing).toEqual([
      'targets.subpkgdir',
      'package.description',
    ]);
  });

  it('replaces ${{ name }} with spaces as cond.Subst does, and names what is undefined or malformed', () => {
    const r = rng(4);
    const map = compileVars(base, 'x86_64', ['foo'], []);
    const keys = ['package.name', 'vars.v', 'targets.destdir', 'build.arch'];
    for (let run = 0; run < 500; run++) {
      let template = '';
      let expected = '';
      const missing: string[] = [];
      for (let i = r.int(6); i >= 0; i--) {
        const lit = r.word(`${NAME_CHARS} {}`, 0, 5);
        template += lit;
        expected += lit;
        const pad = () => r.pick(['', ' ', '  ', '\t']);
        if (r.int(4) === 0) {
          const name = `vars.${r.word(ALNUM, 1, 6)}-undefined`;
          template += `\${{${pad()}${name}${pad()}}}`;
          missing.push(name);
        } else {
          const key = r.pick(keys);
          template += `\${{${pad()}${key}${pad()}}}`;
          expected += map.get(`\${{${key}}}`)!;
        }
      }
      const s = compileSubstitute(template, map);
      expect(s.missing).toEqual(missing);
      if (!missing.length) expect(s.text).toBe(expected);
      // The check without substituting agrees.
      const first = firstUndefined(template, map);
      expect(first).toEqual(missing.length ? { missing: missing[0] } : undefined);
    }
    expect(compileSubstitute('a ${{ } b', map).malformed).toEqual(['${{} b']);
    expect(compileSubstitute('${{vars.v', map).malformed).toEqual(['${{vars.v']);
  });

  it('compiles once for every arch: stand-ins become each arch’s values where they are used', () => {
    const r = rng(5);
    const keys = [
      'build.arch',
      'build.goarch',
      'host.triplet.gnu',
      'host.triplet.rust',
      'cross.triplet.rust.musl',
      'package.name',
    ];
    const any = compileVars(base, ANY_ARCH, ['foo'], []);
    for (let run = 0; run < 300; run++) {
      const template = Array.from({ length: 1 + r.int(4) }, () => `${r.word(ALNUM, 0, 3)}\${{${r.pick(keys)}}}`).join(
        '-',
      );
      for (const arch of ['x86_64', 'aarch64', 'ppc64le'])
        expect(instantiateArch(compileSubstitute(template, any).text, arch)).toBe(
          compileSubstitute(template, compileVars(base, arch, ['foo'], [])).text,
        );
    }
  });

  it('is the config-level pass of strings.Replacer: exact ${{key}}, one pass, others left as written', () => {
    const r = rng(6);
    const vars = new Map([
      ['${{a}}', 'A'],
      ['${{b.c}}', '${{a}}'],
    ]);
    const reference = (t: string) =>
      t.replace(/\$\{\{([A-Za-z0-9_.-]+)\}\}/g, (w, k: string) => vars.get(`\${{${k}}}`) ?? w);
    for (let run = 0; run < 1000; run++) {
      const t = Array.from({ length: r.int(6) }, () =>
        r.pick(['${{a}}', '${{b.c}}', '${{ a }}', '${{', '}}', 'x', '${{a', '$', '{']),
      ).join('');
      expect(substitute(t, vars)).toBe(reference(t));
    }
  });
});

describe('if: conditions', () => {
  const map = compileVars(melangeVars({ package: { name: 'foo', version: '1' } }, []), 'aarch64', ['foo'], []);

  it('evaluate as melange’s cond package: quoted values, == and !=, && and || left to right, parentheses', () => {
    const cases: [string, boolean | RegExp][] = [
      ["${{build.arch}} == 'aarch64'", true],
      ['${{build.arch}} == "x86_64"', false],
      ["${{build.arch}} != 'x86_64' && ${{package.name}} == 'foo'", true],
      // Left to right, no precedence: (true || false) && false
      ["'a' == 'a' || 'a' == 'b' && 'a' == 'b'", false],
      ["'a' == 'a' || ('a' == 'b' && 'a' == 'b')", true],
      ["'it\\'s' == \"it's\"", true],
      ['${{build.arch}} == ${{build.arch}}', true],
      ["${{vars.nope}} == 'x'", /variable vars.nope not defined/],
      ["${{build.arch}} = 'aarch64'", /expected '==' or '!='/],
      ["'a' == 'a' )", /unexpected trailing input/],
      // The literal is 'a == ', then a' where an operator must be.
      ["'a == 'a'", /expected '==' or '!=' at position 7/],
      ["'a' == 'b", /unterminated string literal/],
    ];
    for (const [expr, want] of cases) {
      const got = evaluateCondition(expr, map);
      if (typeof want === 'boolean') expect(got, expr).toBe(want);
      else expect(got, expr).toMatch(want);
    }
  });
});
