// Tar archives, pure (bytes in, bytes or entries out). Reading goes through tar-stream. Writing is
// done by hand on purpose: an APK is three gzip members whose signature and control tars are cut
// (no end-of-archive blocks) so they concatenate into one stream, and the signature covers exactly
// those cut bytes; tar libraries always finish an archive. Deterministic: entries as given, uid/gid
// 0, the caller's mtime.
import { ApplicationFailure } from '@temporalio/common';
import { extract, type Header } from 'tar-stream';
import { corruptArtifact } from './failures.js';

export interface TarEntry {
  path: string;
  type: 'file' | 'dir' | 'symlink';
  mode: number;
  content?: Buffer;
  /** Symlink target. */
  target?: string;
  /** Extra PAX records, e.g. APK-TOOLS.checksum.SHA1. */
  pax?: Record<string, string>;
}

const BLOCK = 512;

function header(
  name: string,
  opts: { size: number; mode: number; type: string; linkname?: string; mtime: number },
): Buffer {
  const h = Buffer.alloc(BLOCK);
  const put = (s: string, off: number, len: number) => h.write(s, off, Math.min(Buffer.byteLength(s), len), 'utf8');
  const oct = (n: number, off: number, len: number) => put(n.toString(8).padStart(len - 1, '0') + '\0', off, len);
  put(name, 0, 100);
  oct(opts.mode, 100, 8);
  oct(0, 108, 8);
  oct(0, 116, 8);
  oct(opts.size, 124, 12);
  oct(opts.mtime, 136, 12);
  h.fill(' ', 148, 156);
  put(opts.type, 156, 1);
  if (opts.linkname) put(opts.linkname, 157, 100);
  put('ustar\0', 257, 6);
  put('00', 263, 2);
  put('root', 265, 32);
  put('root', 297, 32);
  let sum = 0;
  for (const b of h) sum += b;
  put(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8);
  return h;
}

function padded(data: Buffer): Buffer[] {
  const rest = data.length % BLOCK;
  return rest ? [data, Buffer.alloc(BLOCK - rest)] : [data];
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let len = Buffer.byteLength(body) + 1;
  while (String(len).length + Buffer.byteLength(body) !== len) len = String(len).length + Buffer.byteLength(body);
  return `${len}${body}`;
}

/** A tar archive; `cut` leaves out the end-of-archive blocks, as APK signature and control members need. */
export function writeTar(entries: TarEntry[], opts: { mtime: number; cut?: boolean }): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const pax: Record<string, string> = { ...e.pax };
    const name = e.type === 'dir' && !e.path.endsWith('/') ? `${e.path}/` : e.path;
    if (Buffer.byteLength(name) > 100) pax.path = name;
    if (e.target && Buffer.byteLength(e.target) > 100) pax.linkpath = e.target;
    if (Object.keys(pax).length) {
      const data = Buffer.from(
        Object.entries(pax)
          .map(([k, v]) => paxRecord(k, v))
          .join(''),
      );
      parts.push(
        header('PaxHeader', { size: data.length, mode: 0o644, type: 'x', mtime: opts.mtime }),
        ...padded(data),
      );
    }
    const content = e.type === 'file' ? (e.content ?? Buffer.alloc(0)) : Buffer.alloc(0);
    const type = e.type === 'file' ? '0' : e.type === 'dir' ? '5' : '2';
    parts.push(
      header(name.slice(0, 100), {
        size: content.length,
        mode: e.mode,
        type,
        linkname: e.target?.slice(0, 100),
        mtime: opts.mtime,
      }),
    );
    if (content.length) parts.push(...padded(content));
  }
  if (!opts.cut) parts.push(Buffer.alloc(BLOCK * 2));
  return Buffer.concat(parts);
}

// ---------------------------------------------------------------------------------------------
// Reading: every tar kiln reads (APK members, APKINDEX, image layers) goes through tar-stream,
// which handles ustar, PAX (path, linkpath, size) and GNU long names. Pure: bytes in, entries out.

export interface TarHeader {
  path: string;
  /** ustar type flag: '0' file, '1' hard link, '2' symlink, '5' directory, ... */
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  linkname: string;
}

const TYPE_FLAGS: Record<string, string> = {
  file: '0',
  link: '1',
  symlink: '2',
  'character-device': '3',
  'block-device': '4',
  directory: '5',
  fifo: '6',
  'contiguous-file': '7',
};

function tarHeader(h: Header): TarHeader {
  // tar-stream applies PAX path, linkpath and size; uid and gid (big ids) are applied here.
  const pax = (h.pax ?? {}) as Record<string, string | undefined>;
  return {
    path: h.name,
    type: TYPE_FLAGS[h.type ?? ''] ?? '?',
    mode: h.mode ?? 0,
    uid: pax.uid !== undefined ? Number(pax.uid) : (h.uid ?? 0),
    gid: pax.gid !== undefined ? Number(pax.gid) : (h.gid ?? 0),
    size: h.size ?? 0,
    linkname: h.linkname ?? '',
  };
}

/**
 * Streams a tar's entries; a body is read into memory only when `wantBody` says so (one file at a
 * time), everything else is skipped. The whole source is read (so a gzip trailer and a digest
 * check at its end are not skipped); end-of-archive blocks between concatenated tars are skipped.
 * A truncated or malformed archive is CorruptArtifact; the source's own failures pass through.
 */
export async function* tarEntries(
  source: AsyncIterable<Buffer> | Iterable<Buffer>,
  opts: { what: string; wantBody: (h: TarHeader) => boolean },
): AsyncGenerator<{ header: TarHeader; body?: Buffer }> {
  const ex = extract();
  const closed = new Promise<void>((done) => ex.once('close', () => done()));
  let sourceError: unknown;
  const pump = (async () => {
    for await (const chunk of source) {
      if (ex.destroyed) return;
      if (!ex.write(chunk)) await Promise.race([new Promise<void>((done) => ex.once('drain', () => done())), closed]);
    }
    ex.end(null); // no last chunk
  })().catch((err: unknown) => {
    sourceError = err;
    ex.destroy(err as Error);
  });
  try {
    for await (const entry of ex) {
      const header = tarHeader(entry.header);
      if (header.size > 0 && opts.wantBody(header)) {
        const chunks: Buffer[] = [];
        for await (const chunk of entry) chunks.push(chunk as Buffer);
        yield { header, body: Buffer.concat(chunks) };
      } else {
        entry.resume();
        yield { header };
      }
    }
  } catch (err) {
    if (err === sourceError || isFailureError(err)) throw err;
    throw corruptArtifact(`${opts.what} is not a readable tar: ${(err as Error).message}`, err);
  } finally {
    if (!ex.destroyed) ex.destroy();
    await pump;
  }
}

const isFailureError = (err: unknown) => err instanceof ApplicationFailure;

export interface TarFile {
  path: string;
  type: string;
  data: Buffer;
  linkname: string;
}

/** Every entry of an uncompressed tar in memory, `./` taken off paths. */
export async function readTar(tar: Buffer, what = 'tar archive'): Promise<TarFile[]> {
  const out: TarFile[] = [];
  for await (const { header, body } of tarEntries([tar], { what, wantBody: () => true })) {
    out.push({
      path: header.path.replace(/^\.\//, ''),
      type: header.type,
      data: body ?? Buffer.alloc(0),
      linkname: header.linkname,
    });
  }
  return out;
}
