// The README's configuration table is the user's only list of variables: it must name exactly the
// variables config/config.ts reads, with the same defaults.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ENVIRONMENT, REPO_ROOT } from '../../../config/config.js';

const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
/** Rows of the README table whose header is `| variable | meaning | default |`. */
const rows = new Map(
  readme
    .slice(readme.indexOf('| variable | meaning | default |'))
    .split('\n')
    .slice(2)
    .filter((line, i, all) => line.startsWith('|') && all.slice(0, i).every((l) => l.startsWith('|')))
    .map((line) => line.split('|').map((cell) => cell.trim()))
    .map(([, name, meaning, fallback]) => [name?.replace(/`/g, ''), { meaning, fallback }] as const),
);

describe('the README configuration table', () => {
  it('lists every variable kiln reads, with its default', () => {
    for (const [name, [, fallback]] of Object.entries(ENVIRONMENT)) {
      expect(rows.get(name), `${name} is missing from the README table`).toBeDefined();
      expect(rows.get(name)?.fallback, name).toBe(fallback);
    }
  });

  it('lists no variable kiln does not read', () => {
    expect([...rows.keys()].filter((name) => !(name! in ENVIRONMENT))).toEqual([]);
  });
});
