// A cross-process lock on one machine: a directory renamed into place is atomic and arrives with
// its owner file already in it, and the owner's pid lets a later process break a lock left behind
// by a worker that was killed. Holders in one process queue in memory first, so concurrent
// activities of one worker take turns without polling each other.
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, rm, rmdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
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

/** The tail of the in-process queue for each lock directory. */
const queues = new Map<string, Promise<unknown>>();

const owner = async (lockDir: string): Promise<{ pid: number; token: string } | undefined> => {
  const text = await readFile(join(lockDir, 'owner'), 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  const [pid, token = ''] = text.trim().split(' ');
  return { pid: Number(pid), token };
};

function heartbeat(lockDir: string): void {
  try {
    Context.current().heartbeat({ waiting: lockDir });
  } catch {
    /* not in an activity */
  }
}

/**
 * Removes a lock whose owner process is gone. It is first renamed aside, and removed only if the
 * renamed lock is the very one judged stale (same token): a lock taken meanwhile by a live
 * process is put back, so two processes breaking the same stale lock never break a live one.
 */
async function breakStale(lockDir: string, stale: { pid: number; token: string }): Promise<void> {
  const aside = `${lockDir}.stale-${randomUUID()}`;
  if (
    !(await rename(lockDir, aside).then(
      () => true,
      () => false,
    ))
  )
    return;
  const moved = await owner(aside);
  if (moved && (moved.pid !== stale.pid || moved.token !== stale.token)) {
    await rename(aside, lockDir).catch(() => undefined);
    return;
  }
  await rm(aside, { recursive: true, force: true });
}

async function acquire(lockDir: string, token: string): Promise<void> {
  await mkdir(dirname(lockDir), { recursive: true });
  for (;;) {
    const candidate = `${lockDir}.new-${token}`;
    try {
      await mkdir(candidate, { recursive: true });
      await writeFile(join(candidate, 'owner'), `${process.pid} ${token}`);
    } catch (err) {
      // A full disk fails the owner file: leave no half-made candidate behind (the caller retries).
      await rm(candidate, { recursive: true, force: true });
      throw err;
    }
    try {
      // Fails while another holder's lock directory (never empty) is in place.
      await rename(candidate, lockDir);
      return;
    } catch (err) {
      await rm(candidate, { recursive: true, force: true });
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST' && code !== 'EISDIR') throw err;
    }
    const held = await owner(lockDir);
    if (held && Number.isFinite(held.pid) && !processAlive(held.pid)) {
      await breakStale(lockDir, held);
      continue;
    }
    // An empty lock directory (made before owners came with it) has no owner to wait for.
    if (!held) await rmdir(lockDir).catch(() => undefined);
    heartbeat(lockDir);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Removes the lock if it is still ours (a breaker may have moved it: then it is someone else's). */
async function release(lockDir: string, token: string): Promise<void> {
  const aside = `${lockDir}.done-${token}`;
  if (
    !(await rename(lockDir, aside).then(
      () => true,
      () => false,
    ))
  )
    return;
  if ((await owner(aside))?.token !== token) await rename(aside, lockDir).catch(() => undefined);
  await rm(aside, { recursive: true, force: true });
}

/** Runs `fn` holding the lock `lockDir`: one holder at a time, across processes on this machine. */
export async function withDirLock<T>(lockDir: string, fn: () => Promise<T>): Promise<T> {
  const previous = queues.get(lockDir) ?? Promise.resolve();
  let done!: () => void;
  const mine = new Promise<void>((r) => (done = r));
  const tail = previous.then(() => mine);
  queues.set(lockDir, tail);
  try {
    // Earlier holders in this process first, heartbeating meanwhile (a publish can wait its turn).
    for (let turn = false; !turn;) {
      let timer: NodeJS.Timeout | undefined;
      turn = await Promise.race([
        previous.then(() => true),
        new Promise<boolean>((r) => (timer = setTimeout(() => r(false), 5_000))),
      ]);
      clearTimeout(timer);
      if (!turn) heartbeat(lockDir);
    }
    const token = randomUUID();
    await acquire(lockDir, token);
    try {
      return await fn();
    } finally {
      await release(lockDir, token);
    }
  } finally {
    done();
    if (queues.get(lockDir) === tail) queues.delete(lockDir);
  }
}
