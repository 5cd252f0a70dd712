// The repository lock: one holder at a time, within a process and across processes, and a lock
// left by a killed process is broken (what keeps concurrent publishers from dropping each other's
// APKs from the index: each one's read-merge-write of the index runs alone).
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../../config/config.js';
import { withDirLock } from '../../../io/lock.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiln-lock-'));
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Read, wait, write: loses increments unless every holder runs alone. */
async function increment(counter: string): Promise<void> {
  const n = Number(await readFile(counter, 'utf8'));
  await pause(2);
  await writeFile(counter, String(n + 1));
}

describe('withDirLock', () => {
  it('lets one holder at a time run, in one process', async () => {
    const counter = join(dir, 'in-process');
    await writeFile(counter, '0');
    let inside = 0;
    let most = 0;
    await Promise.all(
      Array.from({ length: 20 }, () =>
        withDirLock(join(dir, 'in-process.lock'), async () => {
          most = Math.max(most, ++inside);
          await increment(counter);
          inside--;
        }),
      ),
    );
    expect(most).toBe(1);
    expect(await readFile(counter, 'utf8')).toBe('20');
    expect(existsSync(join(dir, 'in-process.lock'))).toBe(false);
  });

  it('lets one holder at a time run, across processes', async () => {
    const counter = join(dir, 'cross-process');
    await writeFile(counter, '0');
    const script = [
      `import { readFile, writeFile } from 'node:fs/promises';`,
      `import { withDirLock } from ${JSON.stringify(join(REPO_ROOT, 'io', 'lock.ts'))};`,
      `for (let i = 0; i < 15; i++)`,
      `  await withDirLock(${JSON.stringify(join(dir, 'cross.lock'))}, async () => {`,
      `    const n = Number(await readFile(${JSON.stringify(counter)}, 'utf8'));`,
      `    await new Promise((r) => setTimeout(r, 2));`,
      `    await writeFile(${JSON.stringify(counter)}, String(n + 1));`,
      `  });`,
    ].join('\n');
    await writeFile(join(dir, 'worker.mts'), script);
    await Promise.all(
      [1, 2, 3].map(() => execa(process.execPath, ['--import', 'tsx', join(dir, 'worker.mts')], { cwd: REPO_ROOT })),
    );
    expect(await readFile(counter, 'utf8')).toBe('45');
  });

  it('breaks a lock whose owner process is gone, and one without an owner', async () => {
    const dead = await execa(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
    const stale = join(dir, 'stale.lock');
    await mkdir(stale);
    await writeFile(join(stale, 'owner'), `${dead.stdout} some-token`);
    expect(await withDirLock(stale, async () => 'ran')).toBe('ran');

    const ownerless = join(dir, 'ownerless.lock');
    await mkdir(ownerless);
    expect(await withDirLock(ownerless, async () => 'ran')).toBe('ran');
  });

  it('releases the lock when the holder fails', async () => {
    const lock = join(dir, 'failing.lock');
    await expect(
      withDirLock(lock, async () => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(existsSync(lock)).toBe(false);
    expect(await withDirLock(lock, async () => 'again')).toBe('again');
  });
});
