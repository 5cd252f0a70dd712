// The few ELF facts the toolchain conversion needs, read from bytes: is this a shared object,
// which soname does it declare, which libraries does it need, which interpreter does it ask for.
// Pure: a Buffer in, facts out. ELF32/ELF64, either byte order (x86_64 and aarch64 are both
// little-endian, but nothing here depends on that). Also those facts over a package's files, and
// the sonames a whole repository needs but no package of it declares.
import type { ApkFile } from '../apk/writer.js';

export interface ElfDynamic {
  /** `e_type`: 2 executable, 3 shared object (or position-independent executable). */
  type: number;
  /** DT_SONAME, when the object declares one. */
  soname?: string;
  /** DT_NEEDED entries, in order. */
  needed: string[];
  /** PT_INTERP: the program interpreter, for executables and PIEs. */
  interpreter?: string;
}

const PT_INTERP = 3;
const SHT_DYNAMIC = 6;
const DT_NULL = 0;
const DT_NEEDED = 1;
const DT_SONAME = 14;

export const isElf = (bytes: Buffer) =>
  bytes.length >= 52 && bytes[0] === 0x7f && bytes[1] === 0x45 && bytes[2] === 0x4c && bytes[3] === 0x46;

/**
 * The dynamic facts of an ELF object, or undefined for anything that is not a well-formed ELF
 * file (a script, a static archive, a truncated file): callers treat those as plain data.
 */
export function readElfDynamic(bytes: Buffer): ElfDynamic | undefined {
  if (!isElf(bytes)) return undefined;
  const is64 = bytes[4] === 2;
  const le = bytes[5] === 1;
  if ((bytes[4] !== 1 && !is64) || (bytes[5] !== 1 && bytes[5] !== 2)) return undefined;
  const u16 = (o: number) => (le ? bytes.readUInt16LE(o) : bytes.readUInt16BE(o));
  const u32 = (o: number) => (le ? bytes.readUInt32LE(o) : bytes.readUInt32BE(o));
  const addr = (o: number) => (is64 ? Number(le ? bytes.readBigUInt64LE(o) : bytes.readBigUInt64BE(o)) : u32(o));
  const cstring = (o: number) => {
    const end = bytes.indexOf(0, o);
    return bytes.toString('utf8', o, end < 0 ? bytes.length : end);
  };
  try {
    const type = u16(16);
    const phoff = addr(is64 ? 32 : 28);
    const shoff = addr(is64 ? 40 : 32);
    const phentsize = u16(is64 ? 54 : 42);
    const phnum = u16(is64 ? 56 : 44);
    const shentsize = u16(is64 ? 58 : 46);
    const shnum = u16(is64 ? 60 : 48);

    let interpreter: string | undefined;
    for (let i = 0; i < phnum; i++) {
      const ph = phoff + i * phentsize;
      if (u32(ph) !== PT_INTERP) continue;
      const offset = addr(is64 ? ph + 8 : ph + 4);
      interpreter = cstring(offset);
    }

    const needed: string[] = [];
    let soname: string | undefined;
    const section = (i: number) => {
      const sh = shoff + i * shentsize;
      return {
        type: u32(sh + 4),
        offset: addr(is64 ? sh + 24 : sh + 16),
        size: addr(is64 ? sh + 32 : sh + 20),
        link: u32(is64 ? sh + 40 : sh + 24),
        entsize: addr(is64 ? sh + 56 : sh + 36),
      };
    };
    for (let i = 0; i < shnum; i++) {
      const dyn = section(i);
      if (dyn.type !== SHT_DYNAMIC) continue;
      const strtab = section(dyn.link);
      const entsize = dyn.entsize || (is64 ? 16 : 8);
      for (let o = dyn.offset; o + entsize <= dyn.offset + dyn.size; o += entsize) {
        const tag = addr(o);
        if (tag === DT_NULL) break;
        const value = addr(o + (is64 ? 8 : 4));
        if (tag === DT_NEEDED) needed.push(cstring(strtab.offset + value));
        else if (tag === DT_SONAME) soname = cstring(strtab.offset + value);
      }
    }
    return { type, needed, ...(soname !== undefined ? { soname } : {}), ...(interpreter ? { interpreter } : {}) };
  } catch (err) {
    if (err instanceof RangeError) return undefined; // offsets past the end: not an object we can read
    throw err;
  }
}

/** melange's rule for the version of a `so:` provide: the digits after `.so.`, else 0. */
export function sonameVersion(soname: string): string {
  const [, after] = soname.split(/\.so\.(.*)/s);
  return after && /^[\d.]+$/.test(after) ? after : '0';
}

/** The ELF facts of a package's files that the repository-wide checks need. */
export interface ElfSummary {
  /** Every soname an ELF file of the package declares, wherever it lies (a private plugin's too). */
  sonames: string[];
  /** Every DT_NEEDED of the package's ELF files. */
  needed: { path: string; soname: string }[];
}

export function elfSummary(files: ApkFile[]): ElfSummary {
  const sonames = new Set<string>();
  const needed: { path: string; soname: string }[] = [];
  for (const f of files) {
    if (f.type !== 'file' || !f.content) continue;
    const elf = readElfDynamic(f.content);
    if (elf?.soname) sonames.add(elf.soname);
    for (const soname of elf?.needed ?? []) needed.push({ path: f.path, soname });
  }
  return { sonames: [...sonames].sort(), needed };
}

/**
 * Sonames an ELF file of the repository needs that no file of it declares: a closure that links
 * against a library it does not ship.
 */
export function missingSonames(
  packages: ({ name: string } & ElfSummary)[],
): { package: string; path: string; soname: string }[] {
  const declared = new Set(packages.flatMap((p) => p.sonames));
  return packages.flatMap((p) =>
    p.needed.filter((n) => !declared.has(n.soname)).map((n) => ({ package: p.name, ...n })),
  );
}
