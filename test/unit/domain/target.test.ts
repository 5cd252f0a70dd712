// A staging target's name comes from a git branch, which anyone who can push a branch chooses: it
// must make a safe registry path and directory name, never reach outside the staging area.
import { describe, expect, it } from 'vitest';
import { describeTarget, stagingName, stagingSettings } from '../../../domain/target.js';
import type { CatalogSettings } from '../../../domain/catalog.js';

const digest = 'ab'.repeat(32);

describe('stagingName', () => {
  it.each([
    ['kiln/update/tiny-lib-1.1.0', 'kiln/update/tiny-lib-1.1.0'],
    ['feature/Try_This', 'feature/try_this'],
    ['../../etc/passwd', 'etc/passwd'],
    ['a//b/./c', 'a/b/c'],
    ['Ünïcode branch!', 'n-code-branch'],
    ['-.-', `adhoc-${digest.slice(0, 12)}`],
    [undefined, `adhoc-${digest.slice(0, 12)}`],
  ])('%s → %s', (branch, name) => {
    expect(stagingName(branch, digest)).toBe(name);
  });

  it('makes only registry-valid path components', () => {
    for (const branch of ['x/..', 'UP/Per', 'a__b--c..d', 'tag:1', 'x'.repeat(300)])
      for (const part of stagingName(branch, digest).split('/')) expect(part).toMatch(/^[a-z0-9]+([._-][a-z0-9]+)*$/);
  });
});

describe('stagingSettings', () => {
  const settings = {
    packageRepository: '/state/repo-x',
    registry: 'reg:5000/kiln',
    repositories: ['/state/bootstrap'],
  } as CatalogSettings;

  it('moves the package repository and registry aside, and reads production only when it has an index', () => {
    expect(stagingSettings(settings, 'kiln/update/a-1', true)).toMatchObject({
      packageRepository: '/state/staging/repo-x/kiln/update/a-1',
      registry: 'reg:5000/kiln/staging/kiln/update/a-1',
      repositories: ['/state/bootstrap', '/state/repo-x'],
    });
    expect(stagingSettings(settings, 'b', false).repositories).toEqual(['/state/bootstrap']);
  });

  it('says plainly that staging is unreviewed', () => {
    expect(
      describeTarget({ kind: 'staging', name: 'b', reason: 'why', packageRepository: '/p', registry: 'r/s' }),
    ).toBe('staging b (unreviewed: why; packages /p, images r/s)');
  });
});
