// Checks between assembling an image and publishing it: functional tests in a bubblewrap sandbox,
// expectations on config and filesystem, a diff against what is published, a known-CVE scan
// written as a cosign vuln predicate, and SLSA v1 provenance. Inputs and outputs are small JSON;
// layers are read from the apko layout (or the registry) on the worker's disk.
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { chmod, lchown, link, lstat, mkdir, mkdtemp, readFile, readdir, readlink, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join, posix } from 'node:path';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { execa } from 'execa';
import type { ImageSpec, Severity, VulnerabilityPolicy } from '../domain/catalog.js';
import { parseApkIndex } from '../domain/apkindex.js';
import { secdbProblems, vulnerabilities, type Secdb } from '../domain/secdb.js';
import { kilnPaths } from '../config/config.js';
import { RegistryClient, layoutIndex, parseImageRef, type Descriptor } from '../oci/registry.js';
import { readSnapshot } from './snapshot.js';
import { TOOLS } from '../adapters/toolchain.js';

// ---------------------------------------------------------------------------------------------
// Shared: activity context, OCI documents, layer streams, the APK installed database

function inActivity(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined; // a script or unit test calling the function directly
  }
}

function heartbeat(details: unknown): void {
  inActivity()?.heartbeat(details);
}

const sha256hex = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');
const hexOf = (digest: string) => digest.replace(/^sha256:/, '');

const INDEX_TYPES = new Set(['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json']);

interface ImageManifest {
  config: Descriptor;
  layers: Descriptor[];
}

interface ImageConfig {
  architecture?: string;
  config?: { Entrypoint?: string[] | null; Cmd?: string[] | null; User?: string; Env?: string[] | null; WorkingDir?: string };
}

/** Where an image's documents and blobs come from: the apko layout or the registry. */
interface BlobSource {
  /** The manifest/index bytes for a digest. */
  document(digest: string): Promise<Buffer>;
  /** A blob as a byte stream, checked against its digest by the time the stream ends. */
  stream(digest: string): AsyncIterable<Buffer>;
}

function layoutSource(layoutDir: string): BlobSource {
  const path = (digest: string) => {
    const [alg, hex] = digest.split(':');
    // Digests come from the layout's own documents; still, never let one name a path outside it.
    if (alg !== 'sha256' || !/^[0-9a-f]{64}$/.test(hex ?? '')) {
      throw ApplicationFailure.nonRetryable(`layout ${layoutDir} references malformed digest ${digest}`, 'CorruptArtifact');
    }
    return join(layoutDir, 'blobs', alg, hex!);
  };
  return {
    document: (digest) => readFile(path(digest)),
    async *stream(digest) {
      const hash = createHash('sha256');
      for await (const chunk of createReadStream(path(digest), { highWaterMark: 1 << 20 })) {
        hash.update(chunk as Buffer);
        yield chunk as Buffer;
      }
      if (`sha256:${hash.digest('hex')}` !== digest) {
        throw ApplicationFailure.nonRetryable(`blob ${digest} in ${layoutDir} does not match its digest`, 'CorruptArtifact');
      }
    },
  };
}

function registrySource(client: RegistryClient): BlobSource {
  return {
    document: async (digest) => {
      const m = await client.getManifest(digest);
      if (!m) throw ApplicationFailure.retryable(`manifest ${digest} vanished from the registry`, 'RegistryRejected');
      return m.body;
    },
    // getBlob checks the digest itself.
    stream: (digest) => (async function* () {
      yield await client.getBlob(digest);
    })(),
  };
}

interface PlatformImage {
  /** Manifest descriptor (digest, size, platform). */
  descriptor: Descriptor;
  manifest: ImageManifest;
}

/** Every per-platform image under an index (nested indexes included), or the manifest itself. */
async function platformImages(source: BlobSource, top: { mediaType: string; body: Buffer; digest: string }): Promise<PlatformImage[]> {
  const doc = JSON.parse(top.body.toString('utf8')) as { mediaType?: string; manifests?: Descriptor[]; config?: Descriptor; layers?: Descriptor[] };
  if (INDEX_TYPES.has(top.mediaType) || (doc.manifests && !doc.layers)) {
    const out: PlatformImage[] = [];
    for (const d of doc.manifests ?? []) {
      // Attestations and other artifacts can sit in an index; only images have a platform or layers.
      const body = await source.document(d.digest);
      out.push(...(await platformImages(source, { mediaType: d.mediaType, body, digest: d.digest })).map((p) => (p.descriptor.platform ? p : { ...p, descriptor: { ...p.descriptor, platform: d.platform } })));
    }
    return out;
  }
  if (!doc.config || !doc.layers) return [];
  return [{ descriptor: { mediaType: top.mediaType, digest: top.digest, size: top.body.length }, manifest: { config: doc.config, layers: doc.layers } }];
}

const isAmd64 = (p: PlatformImage) => p.descriptor.platform?.architecture === 'amd64' && (p.descriptor.platform.os ?? 'linux') === 'linux';

async function layoutImages(layoutDir: string): Promise<PlatformImage[]> {
  const index = await layoutIndex(layoutDir);
  // apko's index.json is the image index itself (registry.ts layoutIndex).
  return platformImages(layoutSource(layoutDir), { mediaType: 'application/vnd.oci.image.index.v1+json', body: index.body, digest: index.digest });
}

/** Splits a stream into exact-size reads without copying more than each read needs. */
class ByteReader {
  private buf: Buffer = Buffer.alloc(0);
  private off = 0;
  private readonly it: AsyncIterator<Buffer>;
  /** Bytes pulled from the stream so far. */
  total = 0;

  constructor(source: AsyncIterable<Buffer>) {
    this.it = source[Symbol.asyncIterator]();
  }

  private async more(): Promise<boolean> {
    const r = await this.it.next();
    if (r.done) return false;
    this.buf = r.value;
    this.off = 0;
    this.total += r.value.length;
    return true;
  }

  /** Exactly n bytes, or undefined at end of stream. */
  async read(n: number): Promise<Buffer | undefined> {
    const parts: Buffer[] = [];
    let need = n;
    while (need > 0) {
      if (this.off >= this.buf.length && !(await this.more())) return undefined;
      const take = Math.min(need, this.buf.length - this.off);
      parts.push(this.buf.subarray(this.off, this.off + take));
      this.off += take;
      need -= take;
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }

  async skip(n: number): Promise<boolean> {
    let need = n;
    while (need > 0) {
      if (this.off >= this.buf.length && !(await this.more())) return false;
      const take = Math.min(need, this.buf.length - this.off);
      this.off += take;
      need -= take;
    }
    return true;
  }

  /** Reads to the end (so a gzip trailer and a digest check are not skipped); returns the total. */
  async drain(): Promise<number> {
    this.off = this.buf.length;
    while (await this.more()) this.off = this.buf.length;
    return this.total;
  }
}

/** A layer as uncompressed tar bytes: gzip detected by its magic, plain tar passed through. */
async function* layerTar(source: AsyncIterable<Buffer>, what: string): AsyncGenerator<Buffer> {
  const it = source[Symbol.asyncIterator]();
  const first = await it.next();
  if (first.done) return;
  const head = first.value;
  const rest = (async function* () {
    yield head;
    for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
  })();
  if (head[0] === 0x1f && head[1] === 0x8b) {
    const gunzip = createGunzip();
    const compressed = Readable.from(rest);
    // pipe() does not forward a source error (e.g. a digest mismatch at the end); do it here.
    compressed.on('error', (err) => gunzip.destroy(err));
    yield* compressed.pipe(gunzip) as AsyncIterable<Buffer>;
  } else if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) {
    throw ApplicationFailure.nonRetryable(`${what} is zstd-compressed, which kiln cannot unpack (Node 20 has no zstd)`, 'UnsupportedImage');
  } else {
    yield* rest;
  }
}

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

function tarNumber(h: Buffer, start: number, len: number): number {
  // GNU base-256 for values that do not fit the octal field (large files, big uids).
  if (h[start]! & 0x80) {
    let v = h[start]! & 0x7f;
    for (let i = start + 1; i < start + len; i++) v = v * 256 + h[i]!;
    return v;
  }
  const s = h.subarray(start, start + len).toString('latin1').replace(/\0.*$/s, '').trim();
  return s ? parseInt(s, 8) : 0;
}

const truncated = (name: string) => ApplicationFailure.nonRetryable(`layer tar ends inside ${name}`, 'CorruptArtifact');

/**
 * Streams a tar's entries; a body is read into memory only when `wantBody` says so (one file at a
 * time), everything else is skipped. Handles PAX (path, linkpath, size, uid, gid) and GNU long names.
 */
async function* tarEntries(reader: ByteReader, wantBody: (h: TarHeader) => boolean): AsyncGenerator<{ header: TarHeader; body?: Buffer }> {
  let pax: Record<string, string> = {};
  let longName: string | undefined;
  let longLink: string | undefined;
  for (;;) {
    const h = await reader.read(512);
    if (!h || h.every((b) => b === 0)) return;
    const field = (start: number, len: number) => h.subarray(start, start + len).toString('utf8').replace(/\0.*$/s, '');
    const type = field(156, 1) || '0';
    const size = pax.size !== undefined ? Number(pax.size) : tarNumber(h, 124, 12);
    const padded = Math.ceil(size / 512) * 512;
    if (type === 'x' || type === 'L' || type === 'K' || type === 'g') {
      const data = await reader.read(padded);
      if (!data) return;
      const text = data.subarray(0, size).toString('utf8');
      if (type === 'x') {
        pax = {};
        for (const m of text.matchAll(/\d+ ([^=]+)=([^\n]*)\n/g)) pax[m[1]!] = m[2]!;
      } else if (type === 'L') longName = text.replace(/\0.*$/s, '');
      else if (type === 'K') longLink = text.replace(/\0.*$/s, '');
      continue; // global headers carry nothing kiln needs
    }
    const prefix = h.subarray(257, 263).toString('latin1').startsWith('ustar') ? field(345, 155) : '';
    const name = pax.path ?? longName ?? (prefix ? `${prefix}/${field(0, 100)}` : field(0, 100));
    const header: TarHeader = {
      path: name,
      type,
      mode: tarNumber(h, 100, 8),
      uid: pax.uid !== undefined ? Number(pax.uid) : tarNumber(h, 108, 8),
      gid: pax.gid !== undefined ? Number(pax.gid) : tarNumber(h, 116, 8),
      size,
      linkname: pax.linkpath ?? longLink ?? field(157, 100),
    };
    pax = {};
    longName = longLink = undefined;
    if (size > 0 && wantBody(header)) {
      const data = await reader.read(padded);
      if (!data) throw truncated(name);
      yield { header, body: data.subarray(0, size) };
    } else {
      if (!(await reader.skip(padded))) throw truncated(name);
      yield { header };
    }
  }
}

/** Normalized relative path of a tar entry; undefined for the root itself; throws if it escapes. */
function entryPath(raw: string, what: string): string | undefined {
  const p = posix.normalize(raw.replace(/^\/+/, ''));
  if (p === '.' || p === '' || p === './') return undefined;
  if (p === '..' || p.startsWith('../')) {
    throw ApplicationFailure.nonRetryable(`${what}: entry "${raw}" escapes the root filesystem; refusing the image`, 'UnsafeLayer');
  }
  return p.replace(/\/+$/, '');
}

const INSTALLED_DB = ['usr/lib/apk/db/installed', 'lib/apk/db/installed'];

export interface InstalledPackage {
  name: string;
  version: string;
  arch?: string;
  origin?: string;
  /** apk `C:`: "Q1" + base64 SHA-1 of the package's control segment. */
  checksum?: string;
}

/** Stanzas of apk's installed database (same `X:value` shape as APKINDEX). */
export function parseInstalledDb(text: string): InstalledPackage[] {
  const out: InstalledPackage[] = [];
  for (const stanza of text.split(/\n\s*\n/)) {
    const f: Record<string, string> = {};
    for (const line of stanza.split('\n')) {
      const m = /^([A-Za-z]):(.*)$/.exec(line);
      if (m && f[m[1]!] === undefined) f[m[1]!] = m[2]!;
    }
    if (!f.P || !f.V) continue;
    out.push({ name: f.P, version: f.V, ...(f.A ? { arch: f.A } : {}), ...(f.o ? { origin: f.o } : {}), ...(f.C ? { checksum: f.C } : {}) });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

interface ImageFacts {
  packages: InstalledPackage[];
  compressedBytes: number;
  uncompressedBytes: number;
}

/**
 * Installed packages and sizes of one platform image, from its layers without unpacking them:
 * the last layer that writes (or whites out) the installed database decides.
 */
async function imageFacts(source: BlobSource, image: PlatformImage, what: string): Promise<ImageFacts> {
  let db: Buffer | undefined;
  let uncompressed = 0;
  for (const layer of image.manifest.layers) {
    heartbeat({ reading: layer.digest });
    const reader = new ByteReader(layerTar(source.stream(layer.digest), `${what} layer ${layer.digest}`));
    for await (const { header, body } of tarEntries(reader, (h) => INSTALLED_DB.includes(entryPath(h.path, what) ?? ''))) {
      const path = entryPath(header.path, what) ?? '';
      if (INSTALLED_DB.includes(path) && (header.type === '0' || header.type === '7')) db = body ?? Buffer.alloc(0);
      else if (INSTALLED_DB.some((p) => path === posix.join(posix.dirname(p), `.wh.${posix.basename(p)}`))) db = undefined;
    }
    uncompressed += await reader.drain();
  }
  return {
    packages: db ? parseInstalledDb(db.toString('utf8')) : [],
    compressedBytes: image.manifest.layers.reduce((n, l) => n + l.size, 0),
    uncompressedBytes: uncompressed,
  };
}

// ---------------------------------------------------------------------------------------------
// Unpacking a root filesystem safely

/**
 * Resolves `path` inside `root` the way the kernel would inside a chroot: symlinks (absolute or
 * relative) are followed relative to root, and `..` stops at root, so the result is always a
 * host path under root that contains no symlink (except the last component when !followLast).
 * With `mkdirs` the whole path is a directory to create where missing (and its last symlink is
 * followed); without, a missing component gives undefined.
 */
async function inRoot(root: string, path: string, opts: { followLast: boolean; mkdirs: boolean }): Promise<string | undefined> {
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
      if (++hops > 40) throw ApplicationFailure.nonRetryable(`too many symlinks resolving /${path} in the image`, 'UnsafeLayer');
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
        throw ApplicationFailure.nonRetryable(`/${[...done, part].join('/')} is not a directory but the image puts files under it`, 'UnsafeLayer');
      }
    }
    done.push(part);
  }
  return join(root, ...done);
}

/** A text file of the image, read as the image would see it (symlinks resolved inside root). */
async function readInRoot(root: string, path: string): Promise<string | undefined> {
  const host = await inRoot(root, path, { followLast: true, mkdirs: false });
  return host ? readFile(host, 'utf8').catch(() => undefined) : undefined;
}

async function ensureDir(root: string, dir: string): Promise<void> {
  await inRoot(root, dir, { followLast: true, mkdirs: true });
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
  const ctx = inActivity();
  // Removing a path forgets the modes recorded under it, so none lands on a later namesake.
  const remove = async (path: string) => {
    await rm(path, { recursive: true, force: true });
    for (const k of dirModes.keys()) if (k === path || k.startsWith(`${path}/`)) dirModes.delete(k);
  };
  for (const [i, layer] of layers.entries()) {
    const written = new Set<string>();
    const reader = new ByteReader(layerTar(layer, `${what} layer ${i}`));
    let entries = 0;
    for await (const { header, body } of tarEntries(reader, (h) => h.type === '0' || h.type === '7')) {
      if (++entries % 1000 === 0) {
        ctx?.heartbeat({ step: 'unpack', layer: i, entries });
        if (ctx?.cancellationSignal.aborted) throw ApplicationFailure.retryable(`unpacking ${what} was cancelled`, 'Cancelled');
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
          if (!from || !(await lstat(from).catch(() => undefined))) {
            throw ApplicationFailure.nonRetryable(`${what}: hard link ${rel} points at missing ${header.linkname}`, 'UnsafeLayer');
          }
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
    await reader.drain();
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

interface Identity {
  uid: number;
  gid: number;
  name?: string;
  home?: string;
}

/** Resolves a config `User` (`name`, `uid`, `name:group`, `uid:gid`) through the rootfs's passwd and group. */
async function resolveUser(root: string, user: string): Promise<Identity> {
  const read = async (file: string) => ((await readInRoot(root, file)) ?? '').split('\n').map((l) => l.split(':'));
  const [u = '', g] = user.split(':');
  const passwd = await read('etc/passwd');
  let identity: Identity;
  if (u === '') identity = { uid: 0, gid: 0, name: 'root' };
  else {
    const entry = passwd.find((e) => e[0] === u) ?? (/^\d+$/.test(u) ? passwd.find((e) => e[2] === u) : undefined);
    if (entry) identity = { uid: Number(entry[2]), gid: Number(entry[3]), name: entry[0], home: entry[5] };
    else if (/^\d+$/.test(u)) identity = { uid: Number(u), gid: 0 }; // as Docker does for an unlisted uid
    else throw new Error(`user "${u}" is not in the image's /etc/passwd`);
  }
  if (g !== undefined && g !== '') {
    if (/^\d+$/.test(g)) identity.gid = Number(g);
    else {
      const entry = (await read('etc/group')).find((e) => e[0] === g);
      if (!entry) throw new Error(`group "${g}" is not in the image's /etc/group`);
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
async function remapAndMeasure(root: string, id: Identity): Promise<number> {
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

// ---------------------------------------------------------------------------------------------
// testImage

export interface ImageTestResult {
  name: string;
  passed: boolean;
  /** null when the command was killed (timeout). */
  exitCode: number | null;
  /** Combined stdout and stderr, the last 2000 characters. */
  output: string;
  /** Why it failed: expected vs got. */
  failure?: string;
}

export interface ExpectationResult {
  check: string;
  passed: boolean;
  detail: string;
}

export interface ImageTestReport {
  tests: ImageTestResult[];
  expectations: ExpectationResult[];
  /** Uncompressed root filesystem: regular files, hard links counted once. */
  sizeBytes: number;
  packages: { name: string; version: string }[];
}

export interface TestImageInput {
  snapshotDir: string;
  name: string;
  layoutDir: string;
  /** Per command; default KILN_IMAGE_TEST_TIMEOUT_SECONDS or 60. */
  timeoutSeconds?: number;
}

const BWRAP = () => process.env.KILN_BWRAP ?? '/usr/bin/bwrap';
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const OUTPUT_KEEP = 2000;

const WORK_PREFIX = '.check-';

/** Unpacked roots a crashed worker left behind (a day old: no run takes that long). */
async function removeStaleWorkDirs(dir: string): Promise<void> {
  const dayAgo = Date.now() - 24 * 3600_000;
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (!name.startsWith(WORK_PREFIX)) continue;
    const st = await lstat(join(dir, name)).catch(() => undefined);
    if (st && st.mtimeMs < dayAgo) await rm(join(dir, name), { recursive: true, force: true }).catch(() => undefined);
  }
}

/** The automatic entrypoint run's name; an image test with this name replaces that run. */
export const ENTRYPOINT_TEST = 'entrypoint';

/**
 * Unpacks the amd64 image, checks its expectations, then runs its tests in bubblewrap (no
 * network, the image's env, user and working directory). The entrypoint (with cmd) is also run
 * once and must exit 0 — unless image.yaml declares a test named "entrypoint", which then replaces
 * that run (a server that never exits declares one, e.g. `[nginx, -t]`). Any failure throws
 * ImageTestFailed (non-retryable) listing each failure, with the report as its details.
 */
export async function testImage(input: TestImageInput): Promise<ImageTestReport> {
  const catalog = await readSnapshot(input.snapshotDir);
  const spec = catalog.images.find((i) => i.name === input.name);
  if (!spec) throw ApplicationFailure.nonRetryable(`image ${input.name} is not in catalog snapshot ${input.snapshotDir}`, 'CatalogInvalid');
  if (!existsSync(BWRAP())) {
    throw ApplicationFailure.nonRetryable(`bubblewrap is not installed at ${BWRAP()} (fix: apt-get install bubblewrap on the worker, or set KILN_BWRAP)`, 'SandboxUnavailable');
  }
  const timeoutMs = 1000 * (input.timeoutSeconds ?? (Number(process.env.KILN_IMAGE_TEST_TIMEOUT_SECONDS) || 60));
  const paths = kilnPaths();
  const logFile = join(paths.logs, 'images', `${spec.name}-tests.log`);
  await mkdir(dirname(logFile), { recursive: true });
  await writeFile(logFile, `# image tests of ${spec.name} (${input.layoutDir}), ${new Date().toISOString()}\n`);
  await mkdir(paths.images, { recursive: true });
  await removeStaleWorkDirs(paths.images);
  // mkdtemp is 0700: nothing else on the host reaches the unpacked (and remapped) files.
  const work = await mkdtemp(join(paths.images, `${WORK_PREFIX}${spec.name}-`));
  try {
    const image = (await layoutImages(input.layoutDir)).find(isAmd64);
    if (!image) throw ApplicationFailure.nonRetryable(`image ${spec.name} has no linux/amd64 image in ${input.layoutDir}; kiln tests x86_64 only`, 'UnsupportedImage');
    const source = layoutSource(input.layoutDir);
    const config = JSON.parse((await source.document(image.manifest.config.digest)).toString('utf8')) as ImageConfig;
    const root = join(work, 'rootfs');
    await mkdir(root, { mode: 0o755 });
    heartbeat({ step: 'unpack', image: spec.name });
    await unpackLayers(root, image.manifest.layers.map((l) => source.stream(l.digest)), `image ${spec.name}`);

    const c = config.config ?? {};
    const env = new Map<string, string>();
    for (const e of c.Env ?? []) {
      const eq = e.indexOf('=');
      const key = eq < 0 ? e : e.slice(0, eq);
      if (key) env.set(key, eq < 0 ? '' : e.slice(eq + 1));
    }
    const expectations: ExpectationResult[] = [];
    let identity: Identity | undefined;
    try {
      identity = await resolveUser(root, c.User ?? '');
    } catch (err) {
      expectations.push({ check: 'user resolves', passed: false, detail: `${(err as Error).message} (config User "${c.User}")` });
    }
    const sizeBytes = await remapAndMeasure(root, identity ?? { uid: 0, gid: 0 });
    const dbText = (await readInRoot(root, INSTALLED_DB[0]!)) ?? (await readInRoot(root, INSTALLED_DB[1]!)) ?? '';
    const packages = parseInstalledDb(dbText).map((p) => ({ name: p.name, version: p.version }));
    // Checked before any test runs: tests may change the (writable) root filesystem.
    expectations.push(...(await checkExpectations(spec, root, c, env, identity, sizeBytes)));

    const tests: ImageTestResult[] = [];
    if (identity) {
      if (!env.has('PATH')) env.set('PATH', DEFAULT_PATH);
      if (!env.has('HOME')) env.set('HOME', identity.home || '/');
      const workdir = c.WorkingDir || '/';
      // Docker creates a missing working directory; so do the mount points bwrap needs.
      for (const dir of [workdir, 'proc', 'dev', 'tmp']) await ensureDir(root, dir);
      const run = (name: string, command: string[], expected: { exitCode: number; output?: string }) =>
        runInSandbox({ root, name, command, expected, env, identity: identity!, workdir, timeoutMs, logFile });
      const entry = [...(c.Entrypoint ?? []), ...(c.Cmd ?? [])];
      if (!spec.tests.some((t) => t.name === ENTRYPOINT_TEST) && entry.length) tests.push(await run(ENTRYPOINT_TEST, entry, { exitCode: 0 }));
      for (const t of spec.tests) tests.push(await run(t.name, t.command, t));
    }
    const report: ImageTestReport = { tests, expectations, sizeBytes, packages };
    const failures = [
      ...tests.filter((t) => !t.passed).map((t) => `test "${t.name}": ${t.failure}`),
      ...expectations.filter((x) => !x.passed).map((x) => `expectation ${x.check}: ${x.detail}`),
    ];
    if (failures.length) {
      throw ApplicationFailure.nonRetryable(
        `image ${spec.name} failed ${failures.length} check${failures.length === 1 ? '' : 's'}, so it is not published:\n- ${failures.join('\n- ')}\n(test log: ${logFile})`,
        'ImageTestFailed',
        report,
      );
    }
    return report;
  } finally {
    await rm(work, { recursive: true, force: true }).catch(() => undefined);
  }
}

async function checkExpectations(
  spec: ImageSpec,
  root: string,
  c: NonNullable<ImageConfig['config']>,
  env: Map<string, string>,
  identity: Identity | undefined,
  sizeBytes: number,
): Promise<ExpectationResult[]> {
  const x = spec.expectations;
  const out: ExpectationResult[] = [];
  const json = JSON.stringify;
  if (x.entrypoint) {
    const got = c.Entrypoint ?? [];
    out.push({ check: 'entrypoint', passed: json(got) === json(x.entrypoint), detail: `expected ${json(x.entrypoint)}, got ${json(got)}` });
  }
  const user = c.User ?? '';
  const who = identity ? `"${user}" (uid ${identity.uid}${identity.name ? `, ${identity.name}` : ''})` : `"${user}"`;
  if (x.nonRoot) {
    const root0 = user === '' || user === 'root' || user.split(':')[0] === '0' || identity?.uid === 0;
    out.push({ check: 'nonRoot', passed: !root0, detail: root0 ? `expected a non-root user, got ${user === '' ? 'none (root)' : who}` : `runs as ${who}` });
  }
  if (x.user !== undefined) {
    // "app" and "10001" name the same user when the image's passwd says so.
    let same = x.user === user;
    if (!same && identity) same = await resolveUser(root, x.user).then((e) => e.uid === identity.uid && (!x.user!.includes(':') || e.gid === identity.gid), () => false);
    out.push({ check: 'user', passed: same, detail: `expected "${x.user}", got ${who}` });
  }
  for (const [k, v] of Object.entries(x.environment ?? {})) {
    const got = env.get(k);
    out.push({ check: `environment ${k}`, passed: got === v, detail: `expected ${json(v)}, got ${got === undefined ? 'unset' : json(got)}` });
  }
  const exists = async (p: string) => {
    const host = await inRoot(root, p, { followLast: false, mkdirs: false });
    return host !== undefined && (await lstat(host).then(() => true, () => false));
  };
  for (const p of x.filesPresent ?? []) {
    const ok = await exists(p);
    out.push({ check: `filesPresent ${p}`, passed: ok, detail: ok ? 'present' : 'expected present, but it is missing' });
  }
  for (const p of x.filesAbsent ?? []) {
    const present = await exists(p);
    out.push({ check: `filesAbsent ${p}`, passed: !present, detail: present ? 'expected absent, but the image has it' : 'absent' });
  }
  if (x.maxSizeMiB !== undefined) {
    const mib = sizeBytes / (1024 * 1024);
    out.push({ check: 'maxSizeMiB', passed: mib <= x.maxSizeMiB, detail: `expected at most ${x.maxSizeMiB} MiB, got ${mib.toFixed(2)} MiB` });
  }
  return out;
}

interface SandboxRun {
  root: string;
  name: string;
  command: string[];
  expected: { exitCode: number; output?: string };
  env: Map<string, string>;
  identity: Identity;
  workdir: string;
  timeoutMs: number;
  logFile: string;
}

/** bwrap's own setup errors (not the command's): a sandbox problem on the worker, not the image's. */
const BWRAP_SETUP_ERROR = /^bwrap: (?!execvp|Can't chdir)(.*)$/m;

/**
 * One command in the image's root filesystem. Tests run in declaration order on the same writable
 * root, as `docker exec` calls in one container would; only /tmp is fresh for each.
 */
async function runInSandbox(r: SandboxRun): Promise<ImageTestResult> {
  const args = [
    '--unshare-all', // user, pid, net (loopback only), ipc, uts, cgroup
    '--die-with-parent',
    '--new-session',
    '--bind', r.root, '/',
    '--proc', '/proc',
    '--dev', '/dev',
    '--perms', '1777', '--tmpfs', '/tmp',
    '--clearenv',
    ...[...r.env].flatMap(([k, v]) => ['--setenv', k, v]),
    '--uid', String(r.identity.uid),
    '--gid', String(r.identity.gid),
    '--chdir', r.workdir,
    '--',
    ...r.command,
  ];
  const ctx = inActivity();
  const started = Date.now();
  const beat = ctx ? setInterval(() => ctx.heartbeat({ test: r.name, seconds: Math.round((Date.now() - started) / 1000) }), 5_000) : undefined;
  const result = await execa(BWRAP(), args, {
    all: true,
    reject: false,
    stdin: 'ignore',
    timeout: r.timeoutMs,
    cancelSignal: ctx?.cancellationSignal,
    forceKillAfterDelay: 2_000,
    maxBuffer: 16 * 1024 * 1024,
    env: { PATH: process.env.PATH ?? DEFAULT_PATH },
    extendEnv: false,
  }).finally(() => beat && clearInterval(beat));
  const output = String(result.all ?? '');
  await writeFile(r.logFile, `$ [${r.name}] ${r.command.join(' ')}\n${output}\n[exit ${result.exitCode ?? result.signal}]\n\n`, { flag: 'a' });
  if (result.isCanceled) throw ApplicationFailure.retryable(`image test ${r.name} was cancelled`, 'Cancelled');
  const setup = result.exitCode === 1 && !result.timedOut ? BWRAP_SETUP_ERROR.exec(output) : null;
  if (setup) {
    throw ApplicationFailure.retryable(`bubblewrap could not set up the test sandbox on this worker: ${setup[1]} (fix: the worker needs user namespaces, e.g. a privileged container)`, 'SandboxUnavailable');
  }
  const exitCode = result.timedOut ? null : (result.exitCode ?? null);
  let failure: string | undefined;
  if (result.timedOut) failure = `did not exit within ${r.timeoutMs / 1000}s${r.name === ENTRYPOINT_TEST ? ` (a server? declare a test named "${ENTRYPOINT_TEST}" in image.yaml that checks it instead)` : ''}`;
  else if (exitCode !== r.expected.exitCode) failure = `expected exit code ${r.expected.exitCode}, got ${exitCode ?? result.signal}`;
  else if (r.expected.output !== undefined && !new RegExp(r.expected.output, 'm').test(output)) failure = `expected output matching /${r.expected.output}/`;
  if (failure) failure += `; output: ${JSON.stringify(output.slice(-300))}`;
  return { name: r.name, passed: !failure, exitCode, output: output.slice(-OUTPUT_KEEP), ...(failure ? { failure } : {}) };
}

// ---------------------------------------------------------------------------------------------
// compareWithPublished

export interface PackageChange {
  name: string;
  from: string;
  to: string;
}

export interface SizeDelta {
  before: number;
  after: number;
  delta: number;
}

export type ImageDiff =
  | { previous: null }
  | {
      /** Digest the compared tag pointed at. */
      previous: string;
      tag: string;
      /** Layer bytes as stored (compressed) and as tar streams (uncompressed), amd64 image. */
      sizeChange: { compressed: SizeDelta; uncompressed: SizeDelta };
      added: { name: string; version: string }[];
      removed: { name: string; version: string }[];
      changed: PackageChange[];
    };

/** What changed in the installed packages between two images. */
export function diffPackages(before: { name: string; version: string }[], after: { name: string; version: string }[]) {
  const old = new Map(before.map((p) => [p.name, p.version]));
  const now = new Map(after.map((p) => [p.name, p.version]));
  const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  return {
    added: after.filter((p) => !old.has(p.name)).map((p) => ({ name: p.name, version: p.version })).sort(byName),
    removed: before.filter((p) => !now.has(p.name)).map((p) => ({ name: p.name, version: p.version })).sort(byName),
    changed: after.filter((p) => old.has(p.name) && old.get(p.name) !== p.version).map((p) => ({ name: p.name, from: old.get(p.name)!, to: p.version })).sort(byName),
  };
}

const pickImage = (images: PlatformImage[]) => images.find(isAmd64) ?? images[0];

/**
 * Compares the image about to be published with the one `latest` (or else the first of `tags`
 * that exists) points at now. Nothing published yet is `{ previous: null }`, never an error.
 */
export async function compareWithPublished(input: { repository: string; digest: string; layoutDir: string; tags?: string[] }): Promise<ImageDiff> {
  const client = new RegistryClient(parseImageRef(input.repository));
  let found: { tag: string; mediaType: string; body: Buffer } | undefined;
  for (const tag of [...new Set(['latest', ...(input.tags ?? [])])]) {
    const m = await client.getManifest(tag);
    if (m) {
      found = { tag, mediaType: m.mediaType, body: m.body };
      break;
    }
  }
  if (!found) return { previous: null };
  const previous = `sha256:${sha256hex(found.body)}`;
  const current = pickImage(await layoutImages(input.layoutDir));
  if (!current) throw ApplicationFailure.nonRetryable(`layout ${input.layoutDir} holds no image`, 'CorruptArtifact');
  const after = await imageFacts(layoutSource(input.layoutDir), current, `layout ${input.layoutDir}`);
  let before = after;
  if (previous !== input.digest) {
    const source = registrySource(client);
    const old = pickImage(await platformImages(source, { mediaType: found.mediaType, body: found.body, digest: previous }));
    before = old ? await imageFacts(source, old, `${input.repository}:${found.tag}`) : { packages: [], compressedBytes: 0, uncompressedBytes: 0 };
  }
  const delta = (b: number, a: number): SizeDelta => ({ before: b, after: a, delta: a - b });
  return {
    previous,
    tag: found.tag,
    sizeChange: { compressed: delta(before.compressedBytes, after.compressedBytes), uncompressed: delta(before.uncompressedBytes, after.uncompressedBytes) },
    ...diffPackages(before.packages, after.packages),
  };
}

// ---------------------------------------------------------------------------------------------
// scanImage

export interface ScanFinding {
  package: string;
  version: string;
  id: string;
  fixedIn: string;
  severity: Severity;
}

export interface ScanResult {
  /** cosign vuln predicate (`https://cosign.sigstore.dev/attestation/vuln/v1`) as JSON. */
  predicateFile: string;
  /** "none" when the catalog configures no feed: nothing was scanned. */
  scanner: 'kiln-secdb' | 'none';
  findings: ScanFinding[];
  /** Policy `fail` and a finding at or above `failOn`. */
  blocked: boolean;
  /** Ids of the findings that block. */
  blockedBy: string[];
  /** sha256 of the sorted findings: unchanged means the last attestation still says the same. */
  resultDigest: string;
}

export const VULN_PREDICATE_TYPE = 'https://cosign.sigstore.dev/attestation/vuln/v1';
const SCANNER_URI = 'https://kiln.dev/scanner/secdb';
const SEVERITY_RANK: Record<Severity, number> = { unknown: 0, low: 1, medium: 2, high: 3, critical: 4 };

/**
 * A secdb feed may carry, besides `packages`, a top-level `"severities": {"CVE-2024-1": "high"}`
 * map (secdb itself has no severities). Ids missing from it, or with any other value, are
 * "unknown".
 */
type Feed = Secdb & { severities?: Record<string, string> };

function severityOf(feed: Feed, id: string): Severity {
  const s = String(feed.severities?.[id] ?? '').toLowerCase();
  return s in SEVERITY_RANK ? (s as Severity) : 'unknown';
}

/** Whether a finding fails under `failOn`: `any` fails everything, otherwise only known severities at or above it. */
export function failsPolicy(severity: Severity, failOn: VulnerabilityPolicy['failOn']): boolean {
  if (failOn === 'any') return true;
  return severity !== 'unknown' && SEVERITY_RANK[severity] >= SEVERITY_RANK[failOn];
}

async function loadFeed(location: string): Promise<{ feed: Feed; digest: string }> {
  let bytes: Buffer;
  if (/^https?:\/\//.test(location)) {
    const res = await fetch(location).catch((err: Error) => {
      throw ApplicationFailure.retryable(`vulnerability feed ${location} unreachable: ${err.message}`, 'FeedUnavailable');
    });
    if (!res.ok) {
      const retry = res.status === 429 || res.status >= 500;
      throw ApplicationFailure.create({ message: `vulnerability feed ${location} answered ${res.status}`, type: 'FeedUnavailable', nonRetryable: !retry });
    }
    bytes = Buffer.from(await res.arrayBuffer());
  } else {
    bytes = await readFile(location).catch((err: Error) => {
      throw ApplicationFailure.nonRetryable(`vulnerability feed ${location} cannot be read: ${err.message} (fix: vulnerabilities.feed in catalog.yaml)`, 'FeedInvalid');
    });
  }
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw ApplicationFailure.nonRetryable(`vulnerability feed ${location} is not JSON: ${(err as Error).message}`, 'FeedInvalid');
  }
  const problems = secdbProblems(doc);
  if (problems.length) throw ApplicationFailure.nonRetryable(`vulnerability feed ${location} is not a secdb feed:\n${problems.join('\n')}`, 'FeedInvalid');
  return { feed: doc as Feed, digest: `sha256:${sha256hex(bytes)}` };
}

/** Every package installed in any platform image of the layout, with the arch it is built for. */
async function layoutPackages(layoutDir: string): Promise<InstalledPackage[]> {
  const source = layoutSource(layoutDir);
  const seen = new Map<string, InstalledPackage>();
  for (const image of await layoutImages(layoutDir)) {
    for (const p of (await imageFacts(source, image, `layout ${layoutDir}`)).packages) seen.set(`${p.name}\0${p.version}\0${p.arch ?? ''}`, p);
  }
  return [...seen.values()].sort((a, b) => (`${a.name}\0${a.arch}` < `${b.name}\0${b.arch}` ? -1 : 1));
}

async function writeAtomically(file: string, data: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}-${Date.now()}`;
  await writeFile(tmp, data);
  await rename(tmp, file);
}

const predicateDir = () => join(kilnPaths().images, 'predicates');

function invocationId(): { workflowId?: string; runId?: string } {
  const run = inActivity()?.info.workflowExecution;
  return run ? { workflowId: run.workflowId, runId: run.runId } : {};
}

const builderId = () => process.env.KILN_BUILDER_ID ?? 'https://kiln.dev/builder/embedded';

/**
 * Matches the image's installed packages against the catalog's secdb feed and writes the result
 * as a cosign vuln predicate (the matches go in scanner.result).
 */
export async function scanImage(input: { snapshotDir: string; name: string; layoutDir: string; digest: string }): Promise<ScanResult> {
  const scanStartedOn = new Date().toISOString();
  const catalog = await readSnapshot(input.snapshotDir);
  const policy = catalog.settings.vulnerabilities;
  const packages = await layoutPackages(input.layoutDir);
  const loaded = policy ? await loadFeed(policy.feed) : undefined;
  const findings: ScanFinding[] = [];
  if (loaded) {
    const unique = new Map(packages.map((p) => [`${p.name}\0${p.version}`, p]));
    for (const p of unique.values()) {
      for (const v of vulnerabilities(loaded.feed, p.name, p.version)) {
        findings.push({ package: p.name, version: p.version, id: v.id, fixedIn: v.fixedIn, severity: severityOf(loaded.feed, v.id) });
      }
    }
  }
  findings.sort((a, b) => (`${a.package}\0${a.id}` < `${b.package}\0${b.id}` ? -1 : 1));
  const blockedBy = policy?.policy === 'fail' ? [...new Set(findings.filter((f) => failsPolicy(f.severity, policy.failOn)).map((f) => f.id))] : [];
  const resultDigest = `sha256:${sha256hex(JSON.stringify(findings))}`;
  const { workflowId, runId } = invocationId();
  const predicate = {
    invocation: {
      parameters: { image: input.name, digest: input.digest, feed: policy?.feed ?? null, policy: policy?.policy ?? null, failOn: policy?.failOn ?? null },
      uri: SCANNER_URI,
      event_id: workflowId ? `${workflowId}/${runId}` : '',
      'builder.id': builderId(),
    },
    scanner: {
      uri: loaded ? SCANNER_URI : 'none',
      version: loaded ? '1' : '',
      db: { uri: policy?.feed ?? '', version: loaded?.digest ?? '' },
      result: {
        configured: Boolean(loaded),
        resultDigest,
        blocked: blockedBy.length > 0,
        packagesScanned: packages.length,
        matches: findings.map((f) => ({
          vulnerability: { id: f.id, severity: f.severity, fixedInVersion: f.fixedIn },
          artifact: { name: f.package, version: f.version, type: 'apk' },
        })),
      },
    },
    metadata: { scanStartedOn, scanFinishedOn: new Date().toISOString() },
  };
  const predicateFile = join(predicateDir(), `${hexOf(input.digest)}.vuln.json`);
  await writeAtomically(predicateFile, JSON.stringify(predicate, null, 2));
  return { predicateFile, scanner: loaded ? 'kiln-secdb' : 'none', findings, blocked: blockedBy.length > 0, blockedBy, resultDigest };
}

// ---------------------------------------------------------------------------------------------
// writeProvenance

export const SLSA_PROVENANCE_TYPE = 'https://slsa.dev/provenance/v1';
export const BUILD_TYPE = 'https://kiln.dev/catalog-rebuild@v1';

export interface ProvenanceInput {
  snapshotDir: string;
  name: string;
  digest: string;
  workflowId: string;
  runId: string;
  /** RFC 3339. */
  startedOn: string;
  finishedOn: string;
  gitCommit?: string;
  layoutDir: string;
}

interface ResourceDescriptor {
  uri?: string;
  name?: string;
  digest?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** `<name>-<version>` → APKINDEX checksum, per local repository and arch (remote ones are skipped). */
async function localIndex(repo: string, arch: string): Promise<Map<string, string>> {
  const file = join(repo, arch, 'APKINDEX.tar.gz');
  if (/^https?:\/\//.test(repo) || !existsSync(file)) return new Map();
  return new Map(parseApkIndex(await readFile(file)).map((e) => [`${e.name}-${e.version}`, e.checksum]));
}

/**
 * SLSA v1 provenance for an image. Each installed package is a resolved dependency; its sha256 is
 * that of the .apk file when a local repository still has the very package (same `C:` as the
 * installed one), and the apk checksum itself is an annotation: it hashes the control segment
 * only, so it is not a digest of the package file the uri names.
 */
export async function writeProvenance(input: ProvenanceInput): Promise<{ predicateFile: string }> {
  const catalog = await readSnapshot(input.snapshotDir);
  const spec = catalog.images.find((i) => i.name === input.name);
  if (!spec) throw ApplicationFailure.nonRetryable(`image ${input.name} is not in catalog snapshot ${input.snapshotDir}`, 'CatalogInvalid');
  const { settings } = catalog;
  const repositories = [settings.packageRepository, ...settings.repositories];
  const apkoConfig = await readFile(join(input.snapshotDir, spec.file));
  const indexes = new Map<string, Map<string, string>[]>();
  const deps: ResourceDescriptor[] = [{ name: spec.file, digest: { sha256: sha256hex(apkoConfig) }, annotations: { role: 'apko-config' } }];
  for (const p of await layoutPackages(input.layoutDir)) {
    const arch = p.arch ?? settings.archs[0] ?? 'x86_64';
    if (!indexes.has(arch)) indexes.set(arch, await Promise.all(repositories.map((r) => localIndex(r, arch))));
    const at = indexes.get(arch)!.findIndex((ix) => p.checksum !== undefined && ix.get(`${p.name}-${p.version}`) === p.checksum);
    const apk = at >= 0 ? join(repositories[at]!, arch, `${p.name}-${p.version}.apk`) : undefined;
    const digest = apk && existsSync(apk) ? { sha256: sha256hex(await readFile(apk)) } : undefined;
    deps.push({
      uri: `pkg:apk/${encodeURIComponent(settings.namespace)}/${encodeURIComponent(p.name)}@${encodeURIComponent(p.version)}?arch=${encodeURIComponent(arch)}`,
      name: p.name,
      ...(digest ? { digest } : {}),
      annotations: { version: p.version, arch, ...(p.checksum ? { 'apk.checksum': p.checksum } : {}), ...(at >= 0 ? { repository: repositories[at]! } : {}) },
    });
  }
  const catalogDigest = basename(input.snapshotDir); // snapshots are named by their content digest
  const predicate = {
    buildDefinition: {
      buildType: BUILD_TYPE,
      externalParameters: {
        image: spec.name,
        tags: spec.tags,
        config: spec.file,
        catalog: { digest: `sha256:${catalogDigest}`, ...(input.gitCommit ? { gitCommit: input.gitCommit } : {}) },
      },
      internalParameters: {
        archs: settings.archs,
        repositories,
        registry: settings.registry,
        tools: { apko: TOOLS.apko.version, melange: TOOLS.melange.version },
      },
      resolvedDependencies: deps,
    },
    runDetails: {
      builder: { id: builderId(), version: { apko: TOOLS.apko.version } },
      metadata: { invocationId: `${input.workflowId}/${input.runId}`, startedOn: input.startedOn, finishedOn: input.finishedOn },
    },
  };
  const predicateFile = join(predicateDir(), `${hexOf(input.digest)}.slsa-provenance.json`);
  await writeAtomically(predicateFile, JSON.stringify(predicate, null, 2));
  return { predicateFile };
}
