import { describe, expect, it } from 'vitest';
import type { BuildPlan } from '../../../domain/catalog.js';
import { selectWork } from '../../../domain/selection.js';

// A hand-written plan (pure logic): base <- lib <- app, and tool on its own.
const plan: BuildPlan = {
  packages: [
    { name: 'app', version: '1', epoch: 0, dependsOn: ['lib'] },
    { name: 'base', version: '1', epoch: 0, dependsOn: [] },
    { name: 'lib', version: '1', epoch: 0, dependsOn: ['base'] },
    { name: 'tool', version: '1', epoch: 0, dependsOn: [] },
  ],
  levels: [['base', 'tool'], ['lib'], ['app']],
  images: [
    { name: 'app-image', packages: ['app', 'lib'], tags: ['latest'] },
    { name: 'tool-image', packages: ['tool'], tags: ['latest'] },
    { name: 'static', packages: [], tags: ['latest'] },
  ],
};

describe('selectWork', () => {
  it('selects everything when nothing is named', () => {
    expect(selectWork(plan, {})).toEqual({
      packages: ['app', 'base', 'lib', 'tool'],
      images: ['app-image', 'tool-image', 'static'],
      unknown: [],
    });
  });

  it('an image brings the packages it installs and what they build against', () => {
    expect(selectWork(plan, { images: ['app-image'] })).toEqual({
      packages: ['app', 'base', 'lib'],
      images: ['app-image'],
      unknown: [],
    });
    expect(selectWork(plan, { images: ['static'] })).toEqual({ packages: [], images: ['static'], unknown: [] });
  });

  it('a package brings its reverse dependencies and every image that includes any of them', () => {
    expect(selectWork(plan, { packages: ['base'] })).toEqual({
      packages: ['app', 'base', 'lib'],
      images: ['app-image'],
      unknown: [],
    });
    expect(selectWork(plan, { packages: ['tool'] })).toEqual({
      packages: ['tool'],
      images: ['tool-image'],
      unknown: [],
    });
  });

  it('reports names the plan does not have, by field', () => {
    expect(selectWork(plan, { packages: ['nope'], images: ['gone'] }).unknown).toEqual([
      { field: 'packages', name: 'nope' },
      { field: 'images', name: 'gone' },
    ]);
  });
});
