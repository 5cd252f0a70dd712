// Unpacking an image's layers into a root filesystem safely (no write can land outside it), and
// reading that filesystem as the image would see it: files through its own symlinks, users and
// groups through its own /etc/passwd and /etc/group.
import {
  chmod,
  lchown,
  link,
  lstat,
  mkdir,
  readFile,
  readdir,
  readlink,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { join, posix } from 'node:path';
import { asyncLocalStorage } from '@temporalio/activity';
import { failure, unsafeLayer } from '../domain/failures.js';
import { entryPath, layerEntries } from './image-reader.js';

/**
 * Resolves `path` inside `root` the way the kernel would inside a chroot: symlinks (absolute or
 * relative) are followed relative to root, and `..` stops at root, so the result is always a
 * host path under root that contains no symlink (except the last component when !followLast).
 * With `mkdirs` the whole path is a directory to create where missing (and its last symlink is
 * followed); without, a missing component gives undefined.
 */
export async function inRoot(
  root: string,
  path: string,
  opts: { followLast: boolean; mkdirs: boolean },
): Promise<string | undefined> {
  const pending = path.split('/').filter((p) => p && p !== '.');
  const done: string[] = [];
  let hops = 0;
  while (pending.length) {
    const part = pending.shift()!;
    if (part === '..') {
      done.pop();
      continue;
    }
    const host = join(root, ...done, part);
    const last = pending.length === 0 && !opts.mkdirs;
    const st = await lstat(host).catch(() => undefined);
    if (st?.isSymbolicLink() && (!last || opts.followLast)) {
      if (++hops > 40) throw unsafeLayer(`too many symlinks resolving /${path} in the image`);
      const target = await readlink(host);
      if (target.startsWith('/')) done.length = 0;
      pending.unshift(...target.split('/').filter((p) => p && p !== '.'));
      continue;
    }
    if (!last) {
      if (!st) {
        if (!opts.mkdirs) return undefined;
        await mkdir(host, { mode: 0o755 });
      } else if (!st.isDirectory()) {
        if (!opts.mkdirs) return undefined;
        throw unsafeLayer(`/${[...done, part].join('/')} is not a directory but the image puts files under it`);
      }
    }
    done.push(part);
  }
  return join(root, ...done);
}

/** A text file of the image, read as the image would see it (symlinks resolved inside root). */
export async function readInRoot(root: string, path: string): Promise<string | undefined> {
  const host = await inRoot(root, path, { followLast: true, mkdirs: false });
  return host ? readFile(host, 'utf8').catch(() => undefined) : undefined;
}

/** A directory of the image, created where missing (symlinks resolved inside root). */
export async function ensureDir(root: string, dir: string): Promise<void> {
  await inRoot(root, dir, { followLast: true, mkdirs: true });
}

/** Whether the image has `path` (the last component itself, not what a symlink there points at). */
export async function existsInRoot(root: string, path: string): Promise<boolean> {
  const host = await inRoot(root, path, { followLast: false, mkdirs: false });
  return (
    host !== undefined &&
    (await lstat(host).then(
      () => true,
      () => false,
    ))
  );
}

const isRoot = () => process.getuid?.() === 0;

/**
 * Applies layers in order into `root`, honouring OCI whiteouts (`.wh.<name>` deletes a lower
 * entry, `.wh..wh..opq` empties a directory of lower entries). Symlinks stay symlinks; every
 * write goes through `inRoot`, so a layer cannot reach outside root through `..` or through a
 * symlink it planted. Devices are skipped (bwrap's --dev provides /dev); setuid/setgid bits are
 * dropped (they mean nothing in the sandbox and would be real on the host). When the worker is
 * root, files keep the layer's uid/gid (remapped for the sandbox later).
 */
export async function unpackLayers(root: string, layers: AsyncIterable<Buffer>[], what = 'image'): Promise<void> {
  const dirModes = new Map<string, number>();
  const chown = isRoot();
  const ctx = asyncLocalStorage.getStore();
  // Removing a path forgets the modes recorded under it, so none lands on a later namesake.
  const remove = async (path: string) => {
    await rm(path, { recursive: true, force: true });
    for (const k of dirModes.keys()) if (k === path || k.startsWith(`${path}/`)) dirModes.delete(k);
  };
  for (const [i, layer] of layers.entries()) {
    const written = new Set<string>();
    let entries = 0;
    for await (const { header, body } of layerEntries(
      layer,
      `${what} layer ${i}`,
      (h) => h.type === '0' || h.type === '7',
    )) {
      if (++entries % 1000 === 0) {
        ctx?.heartbeat({ step: 'unpack', layer: i, entries });
        if (ctx?.cancellationSignal.aborted) throw failure('Cancelled', `unpacking ${what} was cancelled`);
      }
      const rel = entryPath(header.path, what);
      if (!rel) continue;
      const name = posix.basename(rel);
      const parentRel = posix.dirname(rel);
      const parent = await inRoot(root, parentRel === '.' ? '' : parentRel, { followLast: true, mkdirs: true });
      if (!parent) continue;
      if (name === '.wh..wh..opq') {
        await clearLower(parent, written, remove);
        continue;
      }
      if (name.startsWith('.wh.')) {
        const victim = name.slice(4);
        if (victim && victim !== '.' && victim !== '..') await remove(join(parent, victim));
        continue;
      }
      const target = join(parent, name);
      const existing = await lstat(target).catch(() => undefined);
      const mode = header.mode & 0o1777;
      switch (header.type) {
        case '5':
          if (existing && !existing.isDirectory()) await remove(target);
          if (!existing?.isDirectory()) await mkdir(target, { mode: 0o755 });
          dirModes.set(target, mode);
          break;
        case '0':
        case '7':
          if (existing) await remove(target);
          // 'wx' never follows a symlink that might still be there.
          await writeFile(target, body ?? Buffer.alloc(0), { flag: 'wx', mode: 0o600 });
          await chmod(target, mode);
          break;
        case '2':
          if (existing) await remove(target);
          await symlink(header.linkname, target);
          break;
        case '1': {
          const linkRel = entryPath(header.linkname, what);
          const from = linkRel && (await inRoot(root, linkRel, { followLast: false, mkdirs: false }));
          if (!from || !(await lstat(from).catch(() => undefined)))
            throw unsafeLayer(`${what}: hard link ${rel} points at missing ${header.linkname}`);
          if (existing) await remove(target);
          await link(from, target);
          break;
        }
        default:
          continue; // character/block devices, FIFOs
      }
      written.add(target);
      if (chown) await lchown(target, header.uid, header.gid);
    }
  }
  // Directory modes last, deepest first: a read-only directory must not stop its own extraction.
  for (const [dir, mode] of [...dirModes].sort((a, b) => b[0].length - a[0].length)) await chmod(dir, mode);
}

/** Opaque whiteout: removes what lower layers put in `dir`, keeping this layer's own entries. */
async function clearLower(dir: string, keep: Set<string>, remove: (path: string) => Promise<void>): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    const holdsKept = [...keep].some((k) => k.startsWith(`${p}/`));
    if (!keep.has(p) && !holdsKept) await remove(p);
    else if (entry.isDirectory()) await clearLower(p, keep, remove);
  }
}

export interface Identity {
  uid: number;
  gid: number;
  name?: string;
  home?: string;
}

/**
 * Resolves a config `User` (`name`, `uid`, `name:group`, `uid:gid`) through the rootfs's passwd and
 * group. A name the image does not list fails the image (ImageTestFailed).
 */
export async function resolveUser(root: string, user: string): Promise<Identity> {
  const read = async (file: string) => ((await readInRoot(root, file)) ?? '').split('\n').map((l) => l.split(':'));
  const [u = '', g] = user.split(':');
  const passwd = await read('etc/passwd');
  let identity: Identity;
  if (u === '') identity = { uid: 0, gid: 0, name: 'root' };
  else {
    const entry = passwd.find((e) => e[0] === u) ?? (/^\d+$/.test(u) ? passwd.find((e) => e[2] === u) : undefined);
    if (entry) identity = { uid: Number(entry[2]), gid: Number(entry[3]), name: entry[0], home: entry[5] };
    else if (/^\d+$/.test(u))
      identity = { uid: Number(u), gid: 0 }; // as Docker does for an unlisted uid
    else throw failure('ImageTestFailed', `user "${u}" is not in the image's /etc/passwd`);
  }
  if (g !== undefined && g !== '') {
    if (/^\d+$/.test(g)) identity.gid = Number(g);
    else {
      const entry = (await read('etc/group')).find((e) => e[0] === g);
      if (!entry) throw failure('ImageTestFailed', `group "${g}" is not in the image's /etc/group`);
      identity.gid = Number(entry[2]);
    }
  }
  return identity;
}

/**
 * bwrap maps exactly one uid (and gid) into its user namespace: the sandbox user becomes the
 * worker's own uid. So, when the worker is root, the image user's files are given to the worker
 * and every other file to an unmapped uid: inside, the user owns what it owns in the image and
 * sees everything else as "other" (displayed as nobody) — the permissions a container would
 * enforce. A non-root worker cannot chown, and the user then appears to own the whole rootfs.
 * Also sums the regular files' sizes (hard links once).
 */
export async function remapAndMeasure(root: string, id: Identity): Promise<number> {
  const worker = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
  const other = worker.uid === 65534 ? 65533 : 65534;
  const chown = isRoot();
  const seen = new Set<string>();
  let size = 0;
  const visit = async (p: string) => {
    const st = await lstat(p);
    if (chown) await lchown(p, st.uid === id.uid ? worker.uid : other, st.gid === id.gid ? worker.gid : other);
    if (st.isFile() && !seen.has(`${st.dev}:${st.ino}`)) {
      seen.add(`${st.dev}:${st.ino}`);
      size += st.size;
    }
    if (st.isDirectory()) for (const name of await readdir(p)) await visit(join(p, name));
  };
  await visit(root);
  return size;
}
