// Reads APK v2 files: the concatenated gzip members (signature, control, data), `.PKGINFO`, the
// signature entry and the SBOMs melange packs under var/lib/db/sbom/.
import { readFile } from 'node:fs/promises';
import { gunzipSync, inflateRawSync } from 'node:zlib';
import { readTar } from '../domain/tar.js';
import { sha256stream } from '../domain/digest.js';
import { corruptArtifact } from '../domain/failures.js';
import { SBOM_DIR } from '../domain/sbom.js';

export interface ApkContents {
  /** `.PKGINFO` key -> values (keys such as `provides` and `depend` repeat). */
  pkginfo: Map<string, string[]>;
  /** The data member's files under var/lib/db/sbom/ (the rest is not kept: APKs can be large). */
  sboms: Map<string, Buffer>;
  /** `.SIGN.RSA256.<key>` entry: key file name and signature bytes. */
  signature?: { keyName: string; bytes: Buffer };
  /** The compressed control member, which the signature covers. */
  control?: Buffer;
  /** sha256 (hex) of the compressed data member, which `.PKGINFO` datahash covers. */
  dataSha256?: string;
}

/**
 * Splits concatenated gzip members (an .apk, a signed APKINDEX.tar.gz) into their raw bytes, which
 * is what signatures, `datahash` and `C:` are computed over.
 */
export function splitGzipMembers(buf: Buffer): Buffer[] {
  const members: Buffer[] = [];
  let off = 0;
  while (off < buf.length) {
    if (buf[off] !== 0x1f || buf[off + 1] !== 0x8b || buf[off + 2] !== 8)
      throw corruptArtifact(`no gzip member at byte ${off}`);
    const flags = buf[off + 3]!;
    let p = off + 10;
    if (flags & 4) p += 2 + buf.readUInt16LE(p); // FEXTRA
    if (flags & 8) p = buf.indexOf(0, p) + 1; // FNAME
    if (flags & 16) p = buf.indexOf(0, p) + 1; // FCOMMENT
    if (flags & 2) p += 2; // FHCRC
    // inflateRaw stops at the end of the deflate stream and reports how much input it consumed.
    const { engine } = inflateRawSync(buf.subarray(p), { info: true }) as unknown as {
      engine: { bytesWritten: number };
    };
    const end = p + engine.bytesWritten + 8; // CRC32 + ISIZE trailer
    members.push(buf.subarray(off, end));
    off = end;
  }
  return members;
}

/** Reads an APK's signature, `.PKGINFO` and SBOM files. */
export async function readApk(path: string): Promise<ApkContents> {
  const out: ApkContents = { pkginfo: new Map(), sboms: new Map() };
  let members: Buffer[];
  try {
    members = splitGzipMembers(await readFile(path));
  } catch (err) {
    throw corruptArtifact(`${path}: not a readable APK (${(err as Error).message})`);
  }
  const data = sha256stream();
  for (const member of members) {
    // Everything after the control member is data.
    if (out.control) data.update(member);
    let tar: Buffer;
    try {
      tar = gunzipSync(member);
    } catch (err) {
      // A changed byte fails only its CRC ("incorrect data check"); not chained as the cause, since
      // the run summary shows the innermost cause and zlib names no file.
      throw corruptArtifact(`${path}: not a readable APK (${(err as Error).message})`);
    }
    for (const entry of await readTar(tar, path)) {
      const sig = /^\.SIGN\.RSA256\.(.+)$/.exec(entry.path);
      if (sig) out.signature = { keyName: sig[1]!, bytes: entry.data };
      else if (entry.path === '.PKGINFO') {
        out.control = member;
        for (const line of entry.data.toString('utf8').split('\n')) {
          const m = /^(\w+) = (.*)$/.exec(line);
          if (m) out.pkginfo.set(m[1]!, [...(out.pkginfo.get(m[1]!) ?? []), m[2]!]);
        }
      } else if (entry.type === '0' && entry.path.startsWith(SBOM_DIR)) {
        out.sboms.set(entry.path, entry.data);
      }
    }
  }
  if (out.control && members.indexOf(out.control) < members.length - 1) out.dataSha256 = data.digest('hex');
  return out;
}
