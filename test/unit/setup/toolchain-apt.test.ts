// kiln's own apt: which of the machine's sources it takes, the sources.list it writes, and what it
// reads from apt's output. Pure; the apt runs themselves are exercised by the toolchain pipeline test.
import { describe, expect, it } from 'vitest';
import {
  compareDebianVersions,
  debianSources,
  parseDeb822Sources,
  parseOneLineSources,
  printedUris,
  renderSources,
} from '../../../setup/toolchain-apt.js';

const KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';

describe('the machine sources', () => {
  it('reads deb822 paragraphs of type deb, one entry per URI and suite', () => {
    const text = [
      'Types: deb',
      '# http://snapshot.debian.org/archive/debian/20250520T000000Z',
      'URIs: http://deb.debian.org/debian',
      'Suites: bookworm bookworm-updates',
      'Components: main',
      `Signed-By: ${KEYRING}`,
      '',
      'Types: deb-src',
      'URIs: http://deb.debian.org/debian',
      'Suites: bookworm',
      'Components: main',
      '',
      'Types: deb',
      'URIs: http://example.org/off',
      'Suites: x',
      'Components: main',
      'Enabled: no',
      '',
    ].join('\n');
    expect(parseDeb822Sources(text)).toEqual([
      { uri: 'http://deb.debian.org/debian', suite: 'bookworm', components: ['main'], signedBy: KEYRING },
      { uri: 'http://deb.debian.org/debian', suite: 'bookworm-updates', components: ['main'], signedBy: KEYRING },
    ]);
  });

  it('reads one-line deb entries with their options', () => {
    const text = `# comment\ndeb [arch=amd64 signed-by=${KEYRING}] http://deb.debian.org/debian bookworm main contrib\ndeb-src http://x y z\n`;
    expect(parseOneLineSources(text)).toEqual([
      { uri: 'http://deb.debian.org/debian', suite: 'bookworm', components: ['main', 'contrib'], signedBy: KEYRING },
    ]);
  });

  it('keeps Debian archives only, once each', () => {
    const debian = { uri: 'http://deb.debian.org/debian-security', suite: 'bookworm-security', components: ['main'] };
    const other = { uri: 'https://deb.nodesource.com/node_20.x', suite: 'nodistro', components: ['main'] };
    expect(debianSources([debian, other, debian])).toEqual([debian]);
  });

  it('writes deb for every architecture, deb-src beside it, and the next release sources', () => {
    const list = renderSources(
      [{ uri: 'http://deb.debian.org/debian', suite: 'bookworm', components: ['main'], signedBy: KEYRING }],
      ['amd64', 'arm64'],
      (s) => s.signedBy,
    );
    expect(list.trim().split('\n')).toEqual([
      `deb [arch=amd64,arm64 signed-by=${KEYRING}] http://deb.debian.org/debian bookworm main`,
      `deb-src [signed-by=${KEYRING}] http://deb.debian.org/debian bookworm main`,
      `deb-src [signed-by=${KEYRING}] http://deb.debian.org/debian trixie main`,
    ]);
  });
});

describe('printedUris', () => {
  it('reads file names (decoded), sizes and SHA-256 sums', () => {
    const out = [
      "'http://deb.debian.org/debian/pool/main/g/gcc-defaults/gcc_12.2.0-3_amd64.deb' gcc_4%3a12.2.0-3_amd64.deb 5216 SHA256:" +
        'a'.repeat(64),
      "'http://deb.debian.org/debian/pool/main/m/make-dfsg/make_4.3-4.1_amd64.deb' make_4.3-4.1_amd64.deb 395632 MD5Sum:ad23",
      'Reading package lists...',
    ].join('\n');
    expect(printedUris(out)).toEqual([
      { file: 'gcc_4:12.2.0-3_amd64.deb', size: 5216, sha256: 'a'.repeat(64) },
      { file: 'make_4.3-4.1_amd64.deb', size: 395632 },
    ]);
  });
});

describe('compareDebianVersions', () => {
  it('orders as dpkg does', () => {
    const sorted = ['1:1.2.13.dfsg-1', '1.3~rc1-1', '1.3-1', '1.3-1+deb12u1', '1.3+really1.3.1-1', '1.10-1', '1:0.1-1'];
    expect([...sorted].sort(compareDebianVersions)).toEqual([
      '1.3~rc1-1',
      '1.3-1',
      '1.3-1+deb12u1',
      '1.3+really1.3.1-1',
      '1.10-1',
      '1:0.1-1',
      '1:1.2.13.dfsg-1',
    ]);
    expect(compareDebianVersions('2.36-9+deb12u14', '2.36-9+deb12u14')).toBe(0);
  });
});
