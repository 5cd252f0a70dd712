// I/O: "last used" marks on what a run leaves under KILN_STATE. A step that makes or reuses a
// build directory, an OCI layout, a catalog snapshot or a worktree sets its modification time to
// now, so the retention policy (domain/retention.ts) can tell what recent and running workflows
// use from what nothing has touched for a while, without a manifest every run would have to write.
import { utimes } from 'node:fs/promises';

/**
 * Marks `path` used now. False when it is gone (a clean-up removed it): the caller makes it again.
 * Called before the caller reads it, so a clean-up that listed it earlier sees the new time and
 * leaves it (activities/state-cleanup.ts checks again just before removing).
 */
export async function markUsed(path: string): Promise<boolean> {
  const now = new Date();
  try {
    await utimes(path, now, now);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}
