import { describe, expect, it } from 'vitest';
import { installedVulnerabilities, secdbProblems, vulnerabilities, type Secdb } from '../../../domain/secdb.js';

const feed: Secdb = {
  packages: [
    {
      pkg: {
        name: 'busybox',
        secfixes: {
          '1.36.1-r2': ['CVE-2023-42363', 'CVE-2023-42364'],
          '1.36.1-r5': ['CVE-2023-42365'],
          '0': ['CVE-2022-48174'],
        },
      },
    },
    { pkg: { name: 'openssl', secfixes: { '3.0.8_rc1-r0': ['CVE-2023-0001'], '3.0.13-r0': ['CVE-2024-0727'] } } },
  ],
};

describe('vulnerabilities', () => {
  it('reports what a newer release fixed, with the version that fixes it', () => {
    expect(vulnerabilities(feed, 'busybox', '1.36.1-r1')).toEqual([
      { id: 'CVE-2023-42363', fixedIn: '1.36.1-r2' },
      { id: 'CVE-2023-42364', fixedIn: '1.36.1-r2' },
      { id: 'CVE-2023-42365', fixedIn: '1.36.1-r5' },
    ]);
  });

  it('drops fixes the version already has', () => {
    expect(vulnerabilities(feed, 'busybox', '1.36.1-r2').map((v) => v.id)).toEqual(['CVE-2023-42365']);
    expect(vulnerabilities(feed, 'busybox', '1.37.0-r0')).toEqual([]);
  });

  it('never reports ids marked "0" (not affected)', () => {
    expect(vulnerabilities(feed, 'busybox', '1.0-r0').map((v) => v.id)).not.toContain('CVE-2022-48174');
  });

  it('orders versions as apk does, not as strings', () => {
    // "3.0.8" < "3.0.13" numerically, though not as text
    expect(vulnerabilities(feed, 'openssl', '3.0.8-r0').map((v) => v.id)).toEqual(['CVE-2024-0727']);
    // a release candidate is older than the release it precedes
    expect(vulnerabilities(feed, 'openssl', '3.0.8_rc0-r0').map((v) => v.id)).toEqual([
      'CVE-2023-0001',
      'CVE-2024-0727',
    ]);
  });

  it('knows nothing about packages the feed does not list', () => {
    expect(vulnerabilities(feed, 'hello', '1.0-r0')).toEqual([]);
  });
});

describe('secdbProblems', () => {
  it('accepts a well-formed feed', () => expect(secdbProblems(feed)).toEqual([]));
  it('names the path of each malformed part', () => {
    expect(secdbProblems({ packages: [{ pkg: { secfixes: { '1.0': 'CVE-1' } } }] })).toEqual([
      'packages[0].pkg.name: must be a string',
      'packages[0].pkg.secfixes["1.0"]: must be a list of ids',
    ]);
    expect(secdbProblems({ apkurl: 'x' })).toEqual(['packages: must be a list of {pkg: {name, secfixes}}']);
  });
});

describe('installedVulnerabilities', () => {
  const libs: Secdb = {
    packages: [{ pkg: { name: 'openssl', secfixes: { '3.0.13-r0': ['CVE-2024-0727'], '0': ['CVE-2020-0001'] } } }],
  };

  it('judges a subpackage by its origin (secdb is keyed by origin), at its own version', () => {
    expect(
      installedVulnerabilities(libs, [
        { name: 'libcrypto3', version: '3.0.8-r0', origin: 'openssl' },
        { name: 'openssl-dev', version: '3.0.13-r0', origin: 'openssl' },
      ]),
    ).toEqual([
      { package: 'libcrypto3', version: '3.0.8-r0', origin: 'openssl', id: 'CVE-2024-0727', fixedIn: '3.0.13-r0' },
    ]);
  });

  it('uses the package name when there is no origin, and never the subpackage name', () => {
    expect(installedVulnerabilities(libs, [{ name: 'openssl', version: '3.0.8-r0' }])).toEqual([
      { package: 'openssl', version: '3.0.8-r0', id: 'CVE-2024-0727', fixedIn: '3.0.13-r0' },
    ]);
    const byName: Secdb = { packages: [{ pkg: { name: 'libcrypto3', secfixes: { '9.0-r0': ['CVE-2099-1'] } } }] };
    expect(installedVulnerabilities(byName, [{ name: 'libcrypto3', version: '3.0.8-r0', origin: 'openssl' }])).toEqual(
      [],
    );
  });

  it('judges a package installed for several archs once', () => {
    const twice = [
      { name: 'libcrypto3', version: '3.0.8-r0', origin: 'openssl' },
      { name: 'libcrypto3', version: '3.0.8-r0', origin: 'openssl' },
    ];
    expect(installedVulnerabilities(libs, twice)).toHaveLength(1);
  });
});
