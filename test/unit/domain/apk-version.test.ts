import { describe, expect, it } from 'vitest';
import { compareApkVersions, isValidApkVersion } from '../../../domain/apk-version.js';

// Each row: a < b, in apk-tools 2.x order.
const ascending: [string, string][] = [
  ['1.0', '1.0.1'],
  ['1.0', '1.1'],
  ['1.9', '1.10'],
  ['2.9.9', '2.10'],
  ['1.0', '1.0a'],
  ['1.0a', '1.0b'],
  ['1.0_alpha', '1.0_beta'],
  ['1.0_beta', '1.0_pre'],
  ['1.0_pre', '1.0_rc'],
  ['1.0_rc', '1.0'],
  ['1.0_rc1', '1.0_rc2'],
  ['1.0_rc9', '1.0_rc10'],
  ['1.0_alpha9', '1.0_beta1'],
  ['1.0', '1.0_cvs'],
  ['1.0_cvs', '1.0_svn'],
  ['1.0_svn', '1.0_git'],
  ['1.0_git', '1.0_hg'],
  ['1.0_hg', '1.0_p'],
  ['1.0_p1', '1.0_p2'],
  ['1.0_p9', '1.0.1'],
  ['1.0', '1.0-r0'],
  ['1.0-r0', '1.0-r1'],
  ['1.0-r9', '1.0-r10'],
  ['1.0-r10', '1.0.1-r0'],
  ['1.0-r5', '1.0a-r0'],
  ['1.0_rc1-r9', '1.0-r0'],
  ['1.01', '1.1'],
  ['1.001', '1.01'],
  ['1.0.5', '1.1'],
  ['1.36.1-r1', '1.36.1-r2'],
  ['3.0.8-r0', '3.0.13-r0'],
];

describe('compareApkVersions', () => {
  it.each(ascending)('%s < %s', (a, b) => {
    expect(compareApkVersions(a, b)).toBe(-1);
    expect(compareApkVersions(b, a)).toBe(1);
  });

  it.each(['1.0', '1.2.3-r4', '1.0_rc1', '2.0a_p3-r1', '0'])('%s equals itself', (v) => {
    expect(compareApkVersions(v, v)).toBe(0);
  });

  it('sorts a shuffled list into apk order', () => {
    const sorted = ['1.0_alpha', '1.0_beta2', '1.0_rc1', '1.0', '1.0-r1', '1.0_p1', '1.0a', '1.0.1', '1.1', '1.10'];
    const shuffled = [...sorted].reverse();
    shuffled.sort(compareApkVersions);
    expect(shuffled).toEqual(sorted);
  });
});

describe('isValidApkVersion', () => {
  it.each(['1', '1.2.3', '1.2.3a', '1.2_rc1', '1.2_p1-r3', '20240101'])('accepts %s', (v) =>
    expect(isValidApkVersion(v)).toBe(true),
  );
  it.each(['', 'v1.2', '1.2-3', '1..2', '1.2_foo', '1.2-r', '1.0-r1_p1'])('rejects %s', (v) =>
    expect(isValidApkVersion(v)).toBe(false),
  );
});

describe('leading zeros compare as text, as apk-tools 2.14 does', () => {
  it.each([
    ['8.2.0015', '8.2.002'],
    ['1.0.05', '1.0.1'],
    ['1.001', '1.002'],
  ])('%s < %s', (a, b) => expect(compareApkVersions(a, b)).toBe(-1));
});
