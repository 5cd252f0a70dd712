// The clean-up's policy and Schedule settings as config/config.ts reads them from the environment.
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../config/config.js';

describe('the retention policy in the configuration', () => {
  it('keeps the last 7 runs and a day by default, cleaning daily', () => {
    const config = loadConfig({});
    expect(config.retention).toEqual({ keepRuns: 7, minAgeMs: 24 * 3_600_000 });
    expect(config.schedules).toMatchObject({ cleanupId: 'kiln-cleanup', cleanupEvery: '1d' });
    expect(config.paths.worktrees).toBe(`${config.paths.state}/worktrees`);
  });

  it('accepts 0 for both (keep nothing idle)', () => {
    const config = loadConfig({ KILN_RETAIN_RUNS: '0', KILN_RETAIN_MIN_AGE_MINUTES: '0', KILN_CLEANUP_EVERY: '6h' });
    expect(config.retention).toEqual({ keepRuns: 0, minAgeMs: 0 });
    expect(config.schedules.cleanupEvery).toBe('6h');
  });

  it('refuses bad values, naming each variable and the fix', () => {
    const load = () =>
      loadConfig({ KILN_RETAIN_RUNS: '-1', KILN_RETAIN_MIN_AGE_MINUTES: '1.5', KILN_CLEANUP_EVERY: 'daily' });
    expect(load).toThrow(/KILN_RETAIN_RUNS=-1: expected a whole number, 0 or more \(fix: set it to e\.g\. 7/);
    expect(load).toThrow(/KILN_RETAIN_MIN_AGE_MINUTES=1\.5: expected a whole number/);
    expect(load).toThrow(
      /KILN_CLEANUP_EVERY=daily: expected a number and a unit, s, m, h or d \(fix: set it to e\.g\. 1d/,
    );
  });
});
