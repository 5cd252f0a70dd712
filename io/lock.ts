// A cross-process lock on one machine: mkdir is atomic, and the owner's pid lets a later process
// break a lock left behind by a worker that was killed.
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Context } from '@temporalio/activity';

/** Whether a process with this pid runs on this machine (signal 0 only checks). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function withDirLock<T>(lockDir: string, fn: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      await mkdir(lockDir);
      await writeFile(join(lockDir, 'owner'), String(process.pid));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number(await readFile(join(lockDir, 'owner'), 'utf8').catch(() => 'NaN'));
      if (Number.isFinite(owner) && !processAlive(owner)) {
        await rm(lockDir, { recursive: true, force: true });
        continue;
      }
      try {
        Context.current().heartbeat({ waiting: lockDir });
      } catch {
        /* not in an activity */
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lockDir, { recursive: true, force: true });
  }
}
