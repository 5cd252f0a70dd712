// Debian packages as APKs: control fields, relations, the usrmerge layout, provides, dependencies
// and licenses, decided from bytes (fixtures written here, ELF objects from this machine).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  apkDepends,
  apkProvides,
  apkVersion,
  closureIndex,
  DEBIAN_ARCHS,
  debianArch,
  debianPackage,
  keptPath,
  linkableLibraries,
  parseControl,
  parseRelations,
  usrmergeFiles,
  usrmergePath,
  usrmergeTarget,
  type DebEntry,
} from '../../../setup/toolchain-debian.js';
import { elfSummary, missingSonames } from '../../../setup/toolchain-elf.js';
import { apkLicense } from '../../../setup/toolchain-origin.js';
import { ZLIB } from '../../fixtures/elf.js';

const x86 = DEBIAN_ARCHS.x86_64!;
const control = (fields: Record<string, string>) =>
  debianPackage(
    Object.entries(fields)
      .map(([k, v]) => `${k}: ${v}`)
      .join('\n') + '\n',
  );

describe('parseControl', () => {
  it('reads fields and joins continuation lines', () => {
    const f = parseControl(
      'Package: zlib1g\nDescription: compression library - runtime\n zlib is a library\n .\n more\n',
    );
    expect(f.get('Package')).toBe('zlib1g');
    expect(f.get('Description')).toBe('compression library - runtime\nzlib is a library\n.\nmore');
  });

  it('stops at the end of the first paragraph', () => {
    expect([...parseControl('\nA: 1\n\nB: 2\n').keys()]).toEqual(['A']);
  });

  it('refuses a line that is not a field', () => {
    expect(() => parseControl('not a field\n')).toThrow(/not a Debian control line/);
  });
});

describe('parseRelations', () => {
  it('reads groups of alternatives with versions and architecture qualifiers', () => {
    expect(parseRelations('libc6 (>= 2.34), debconf (>= 0.5) | debconf-2.0, python3:any')).toEqual([
      [{ name: 'libc6', op: '>=', version: '2.34' }],
      [{ name: 'debconf', op: '>=', version: '0.5' }, { name: 'debconf-2.0' }],
      [{ name: 'python3', archQualifier: 'any' }],
    ]);
    expect(parseRelations(undefined)).toEqual([]);
  });
});

describe('versions and architectures', () => {
  it('derives the APK version from the upstream part', () => {
    expect(apkVersion('2.36-9+deb12u14')).toBe('2.36-r0');
    expect(apkVersion('1:4.4.33-2')).toBe('4.4.33-r0');
    expect(apkVersion('4:12.2.0-3')).toBe('12.2.0-r0');
  });

  it('names the Debian side of each APK arch', () => {
    expect(debianArch('aarch64')).toEqual({ apk: 'aarch64', deb: 'arm64', triplet: 'aarch64-linux-gnu' });
    expect(() => debianArch('s390x')).toThrow(/no Debian architecture for APK arch s390x/);
  });
});

describe('the usrmerge layout', () => {
  it('moves /bin, /sbin, /usr/sbin and /lib under /usr and keeps multiarch paths', () => {
    expect(usrmergePath('./bin/ls')).toBe('usr/bin/ls');
    expect(usrmergePath('sbin/ldconfig')).toBe('usr/bin/ldconfig');
    expect(usrmergePath('usr/sbin/zic')).toBe('usr/bin/zic');
    expect(usrmergePath('lib/x86_64-linux-gnu/libc.so.6')).toBe('usr/lib/x86_64-linux-gnu/libc.so.6');
    expect(usrmergePath('lib64/ld-linux-x86-64.so.2')).toBe('usr/lib64/ld-linux-x86-64.so.2');
    expect(usrmergePath('usr/lib/x86_64-linux-gnu/libz.so.1')).toBe('usr/lib/x86_64-linux-gnu/libz.so.1');
    expect(usrmergePath('library/x')).toBe('library/x');
  });

  it('moves symlink targets with their paths, relative links staying relative', () => {
    expect(usrmergeTarget('lib64/ld-linux-x86-64.so.2', '/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2')).toBe(
      '/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2',
    );
    expect(usrmergeTarget('lib/x86_64-linux-gnu/libcrypt.so.1', 'libcrypt.so.1.1.0')).toBe('libcrypt.so.1.1.0');
    // /usr/lib/compat-ld/ld -> ../../bin/ld.bfd resolves to /usr/bin/ld.bfd, still there
    expect(usrmergeTarget('usr/lib/compat-ld/ld', '../../bin/ld.bfd')).toBe('../../bin/ld.bfd');
    // a link that moves while its target stays: made relative from the new place
    expect(usrmergeTarget('bin/zcat', '../usr/bin/gzip')).toBe('gzip');
  });

  it('keeps each package copyright and leaves out manuals, info pages and translations', () => {
    expect(keptPath('usr/share/doc/libc6/copyright')).toBe(true);
    expect(keptPath('usr/share/doc/libc6/changelog.Debian.gz')).toBe(false);
    expect(keptPath('usr/share/man/man1/gcc.1.gz')).toBe(false);
    expect(keptPath('usr/share/locale/de/LC_MESSAGES/bfd.mo')).toBe(false);
    expect(keptPath('usr/share/zoneinfo/UTC')).toBe(true);
  });

  it('makes the files of a package, with the lib64 link and the alternatives links', () => {
    const entries: DebEntry[] = [
      { path: './', type: 'dir', mode: 0o755 },
      { path: './lib/', type: 'dir', mode: 0o755 },
      { path: './lib/x86_64-linux-gnu/ld-linux-x86-64.so.2', type: 'file', mode: 0o755, content: Buffer.from('x') },
      { path: './lib64/', type: 'dir', mode: 0o755 },
      {
        path: './lib64/ld-linux-x86-64.so.2',
        type: 'symlink',
        mode: 0o777,
        target: '/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2',
      },
      { path: './usr/bin/gcc', type: 'symlink', mode: 0o777, target: 'gcc-12' },
      { path: './usr/bin/c99-gcc', type: 'file', mode: 0o755, content: Buffer.from('#!/bin/sh\n') },
      { path: './usr/lib/', type: 'dir', mode: 0o755 },
      { path: './usr/share/man/man1/gcc.1.gz', type: 'file', mode: 0o644, content: Buffer.from('') },
    ];
    const files = usrmergeFiles('gcc', entries);
    expect(files.map((f) => `${f.type} ${f.path}${f.target ? ` -> ${f.target}` : ''}`)).toEqual([
      'symlink lib64 -> usr/lib64',
      'symlink usr/bin/c99 -> c99-gcc',
      'file usr/bin/c99-gcc',
      'symlink usr/bin/cc -> gcc',
      'symlink usr/bin/gcc -> gcc-12',
      'dir usr/lib',
      'file usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2',
      'dir usr/lib64',
      'symlink usr/lib64/ld-linux-x86-64.so.2 -> /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2',
    ]);
  });

  it('refuses two files landing on one path', () => {
    const entries: DebEntry[] = [
      { path: './bin/true', type: 'file', mode: 0o755, content: Buffer.from('a') },
      { path: './usr/bin/true', type: 'file', mode: 0o755, content: Buffer.from('b') },
    ];
    expect(() => usrmergeFiles('coreutils', entries)).toThrow(/two entries land on usr\/bin\/true/);
  });
});

describe('apkProvides', () => {
  const zlib = readFileSync(ZLIB);

  it('provides a cmd: for each program and a so: for each library in a library directory', () => {
    const pkg = control({ Package: 'zlib1g', Version: '1:1.2.13.dfsg-1', Provides: 'libz1' });
    const provides = apkProvides(
      pkg,
      [
        { path: 'usr/lib/x86_64-linux-gnu/libz.so.1.2.13', type: 'file', mode: 0o644, content: zlib },
        { path: 'usr/lib/x86_64-linux-gnu/libz.so.1', type: 'symlink', mode: 0o777, target: 'libz.so.1.2.13' },
        // a private copy outside the loader's directories provides nothing
        { path: 'usr/lib/private/libz.so.1.2.13', type: 'file', mode: 0o644, content: zlib },
        { path: 'usr/bin/zpipe', type: 'file', mode: 0o755, content: Buffer.from('#!/bin/sh\n') },
        { path: 'usr/bin/README', type: 'file', mode: 0o644, content: Buffer.from('not a program') },
      ],
      x86,
    );
    expect(provides).toEqual(['cmd:zpipe=1.2.13-r0', 'libz1', 'so-ver:libz.so.1=1.2.13-r0', 'so:libz.so.1=1']);
  });
});

describe('dependencies', () => {
  const packages = [
    control({ Package: 'libc6', Version: '2.36-9', Depends: 'libgcc-s1' }),
    control({ Package: 'libgcc-s1', Version: '12.2.0-14', Depends: 'gcc-12-base (= 12.2.0-14), libc6 (>= 2.35)' }),
    control({ Package: 'gcc-12-base', Version: '12.2.0-14' }),
    control({ Package: 'libc6-dev', Version: '2.36-9', Depends: 'libc6 (= 2.36-9)', Provides: 'libc-dev' }),
    control({ Package: 'zlib1g', Version: '1:1.2.13.dfsg-1', Depends: 'libc6 (>= 2.14)' }),
    control({ Package: 'tool', Version: '1', 'Pre-Depends': 'zlib1g', Depends: 'libc-dev | nothing, libc6' }),
  ];
  const closure = closureIndex(packages);

  it('resolves each clause to a package of the closure, virtual names to their provider', () => {
    expect(apkDepends(packages[1]!, closure)).toEqual(['gcc-12-base', 'libc6']);
    expect(apkDepends(packages[5]!, closure)).toEqual(['libc6', 'libc6-dev', 'zlib1g']);
  });

  it('names a clause the closure cannot satisfy', () => {
    const broken = control({ Package: 'x', Version: '1', Depends: 'libfoo (>= 2) | libbar' });
    expect(() => apkDepends(broken, closure)).toThrow(/x 1 depends on libfoo \(>= 2\) \| libbar/);
  });

  it('counts as linkable only what a -dev package of the closure depends on', () => {
    expect([...linkableLibraries(packages, closure)]).toEqual(['libc6']);
  });
});

describe('apkLicense', () => {
  it('takes the known license of the source package', () => {
    expect(apkLicense(control({ Package: 'libc6', Version: '1', Source: 'glibc' }), undefined)).toBe(
      'LGPL-2.1-or-later',
    );
  });

  it('maps the License of the Files: * paragraph of a machine-readable copyright file to SPDX', () => {
    const copyright = [
      'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/',
      'Upstream-Name: gmp',
      '',
      'Files: *',
      'Copyright: the authors',
      'License: GPL-2+ or LGPL-3+',
      '',
      'Files: debian/*',
      'License: GPL-3+',
      '',
    ].join('\n');
    expect(apkLicense(control({ Package: 'libfoo', Version: '1' }), copyright)).toBe(
      'GPL-2.0-or-later OR LGPL-3.0-or-later',
    );
  });

  it('reads the DEP-5 draft format too, whatever the case of the short name', () => {
    const copyright = 'Format: http://dep.debian.net/deps/dep5\n\nFiles: *\nCopyright: x\nLicense: BSD-3-Clause\n';
    expect(apkLicense(control({ Package: 'libbar', Version: '1' }), copyright)).toBe('BSD-3-Clause');
  });

  it('falls back to a LicenseRef naming the Debian source', () => {
    expect(apkLicense(control({ Package: 'libfoo', Version: '1', Source: 'foo (1-1)' }), 'free text')).toBe(
      'LicenseRef-Debian-foo',
    );
  });
});

describe('missingSonames', () => {
  it('names needed sonames that no file of the repository declares', () => {
    const zlib = elfSummary([
      { path: 'usr/lib/x86_64-linux-gnu/libz.so.1.2.13', type: 'file', mode: 0o644, content: readFileSync(ZLIB) },
    ]);
    expect(zlib.sonames).toEqual(['libz.so.1']);
    expect(missingSonames([{ name: 'zlib1g', ...zlib }])).toEqual([
      { package: 'zlib1g', path: 'usr/lib/x86_64-linux-gnu/libz.so.1.2.13', soname: 'libc.so.6' },
    ]);
    expect(
      missingSonames([
        { name: 'zlib1g', ...zlib },
        { name: 'libc6', sonames: ['libc.so.6'], needed: [] },
      ]),
    ).toEqual([]);
  });
});
