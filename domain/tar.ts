// Minimal ustar with PAX records: enough to write APK members and to read APKINDEX and image
// layers. Deterministic: entries as given, uid/gid 0, the caller's mtime.

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

function header(name: string, opts: { size: number; mode: number; type: string; linkname?: string; mtime: number }): Buffer {
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
      const data = Buffer.from(Object.entries(pax).map(([k, v]) => paxRecord(k, v)).join(''));
      parts.push(header('PaxHeader', { size: data.length, mode: 0o644, type: 'x', mtime: opts.mtime }), ...padded(data));
    }
    const content = e.type === 'file' ? (e.content ?? Buffer.alloc(0)) : Buffer.alloc(0);
    const type = e.type === 'file' ? '0' : e.type === 'dir' ? '5' : '2';
    parts.push(header(name.slice(0, 100), { size: content.length, mode: e.mode, type, linkname: e.target?.slice(0, 100), mtime: opts.mtime }));
    if (content.length) parts.push(...padded(content));
  }
  if (!opts.cut) parts.push(Buffer.alloc(BLOCK * 2));
  return Buffer.concat(parts);
}

export interface TarFile {
  path: string;
  type: string;
  data: Buffer;
  linkname: string;
}

/** Reads every entry of an uncompressed tar, applying PAX path overrides. */
export function readTar(tar: Buffer): TarFile[] {
  const out: TarFile[] = [];
  let off = 0;
  let pax: Record<string, string> = {};
  while (off + BLOCK <= tar.length) {
    const h = tar.subarray(off, off + BLOCK);
    if (h.every((b) => b === 0)) break;
    const field = (start: number, len: number) => h.subarray(start, start + len).toString('utf8').replace(/\0.*$/s, '');
    const size = parseInt(field(124, 12).trim() || '0', 8);
    const type = field(156, 1) || '0';
    const prefix = field(345, 155);
    const data = tar.subarray(off + BLOCK, off + BLOCK + size);
    off += BLOCK + Math.ceil(size / BLOCK) * BLOCK;
    if (type === 'x') {
      pax = {};
      for (const m of data.toString('utf8').matchAll(/\d+ ([^=]+)=([^\n]*)\n/g)) pax[m[1]!] = m[2]!;
      continue;
    }
    if (type === 'g') continue;
    const name = pax.path ?? (prefix ? `${prefix}/${field(0, 100)}` : field(0, 100));
    out.push({ path: name.replace(/^\.\//, ''), type, data: Buffer.from(data), linkname: pax.linkpath ?? field(157, 100) });
    pax = {};
  }
  return out;
}
