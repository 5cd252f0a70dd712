// The source mirror: what a catalog fetches from it, and which Debian file serves each request.
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { debianUpstream, mirrorRequests, MIRROR_URL, origTarball } from '../../../setup/source-mirror.js';

const config = (uri: string, extra = '') =>
  parse(
    [
      'package:',
      '  name: zlib',
      '  version: "1.2.13"',
      'vars:',
      `  mirror: ${MIRROR_URL}`,
      'pipeline:',
      '  - uses: fetch',
      '    with:',
      `      uri: ${uri}`,
      '      expected-sha256: ${{vars.sum}}',
      '  - runs: make',
      extra,
    ].join('\n'),
  ) as Record<string, unknown>;

describe('mirrorRequests', () => {
  it('finds fetch steps under the mirror, after melange substitutions', () => {
    const doc = config('${{vars.mirror}}/zlib/zlib-${{package.version}}.tar.bz2');
    (doc.vars as Record<string, string>).sum = 'ab'.repeat(32);
    expect(mirrorRequests(doc, 'packages/zlib.yaml')).toEqual([
      {
        project: 'zlib',
        version: '1.2.13',
        file: 'zlib-1.2.13.tar.bz2',
        from: 'packages/zlib.yaml',
        expectedSha256: 'ab'.repeat(32),
      },
    ]);
  });

  it('finds them in subpackage pipelines too, and leaves other URLs alone', () => {
    const doc = config(
      'https://zlib.net/zlib-${{package.version}}.tar.gz',
      [
        'subpackages:',
        '  - name: zlib-extra',
        '    pipeline:',
        '      - uses: fetch',
        '        with:',
        `          uri: ${MIRROR_URL}/zlib/zlib-\${{package.version}}.tar.xz`,
      ].join('\n'),
    );
    expect(mirrorRequests(doc, 'z.yaml').map((r) => r.file)).toEqual(['zlib-1.2.13.tar.xz']);
  });

  it('refuses a mirror URL outside its layout, naming the layout', () => {
    expect(() => mirrorRequests(config(`${MIRROR_URL}/zlib/zlib-1.3.tar.gz`), 'packages/zlib.yaml')).toThrow(
      /serves http:\/\/127\.0\.0\.1:8091\/<Debian source>\/<Debian source>-<package.version>\.tar\.<ext>/,
    );
  });
});

describe('Debian source versions', () => {
  it('strips the epoch, the revision and the repack marks', () => {
    expect(debianUpstream('1:1.2.13.dfsg-1')).toBe('1.2.13');
    expect(debianUpstream('1:1.3.dfsg+really1.3.1-1+deb13u1')).toBe('1.3.1');
    expect(debianUpstream('1.3.3+ds-1')).toBe('1.3.3');
    expect(debianUpstream('2.8-1')).toBe('2.8');
  });

  it('finds the orig tarball and its compression', () => {
    const src = {
      name: 'pigz',
      version: '2.8-1',
      files: [
        { name: 'pigz_2.8-1.dsc', sha256: 'a', size: 1 },
        { name: 'pigz_2.8.orig.tar.xz', sha256: 'b', size: 2 },
        { name: 'pigz_2.8-1.debian.tar.xz', sha256: 'c', size: 3 },
      ],
    };
    expect(origTarball(src)).toEqual({ name: 'pigz_2.8.orig.tar.xz', sha256: 'b', ext: 'xz' });
    expect(() => origTarball({ ...src, files: [src.files[0]!] })).toThrow(/no \.orig tarball/);
  });
});
