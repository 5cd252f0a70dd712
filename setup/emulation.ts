// Builds for another CPU: melange's bubblewrap runner execs the guest's own binaries, so an aarch64
// build on an x86_64 host runs only when the kernel hands aarch64 ELF files to qemu-user (binfmt_misc).
// The registration needs the F (fix-binary) flag: the kernel then opens the interpreter once, at
// registration, and bubblewrap's new mount namespace (where /usr/bin/qemu-* does not exist) still
// runs it. Setup does this as root (Debian's qemu-user-static, the registration Debian ships for
// systemd-binfmt, written to /proc/sys/fs/binfmt_misc/register); without root it says what to run.
import { existsSync, readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { execa } from 'execa';
import { failure } from '../domain/failures.js';

/** The APK arch this machine runs natively. */
export function hostArch(nodeArch: string = process.arch): string {
  const arch = ({ x64: 'x86_64', arm64: 'aarch64' } as Record<string, string>)[nodeArch];
  if (!arch) throw failure('ToolMissing', `kiln builds on x86_64 or aarch64 hosts, not ${nodeArch}`);
  return arch;
}

/** What qemu-user needs per APK arch: Debian's binary and its binfmt_misc entry. */
interface Emulator {
  /** binfmt_misc entry name, as Debian's qemu-user-static registers it. */
  entry: string;
  /** Debian's registration line (`:name:M::magic:mask:interpreter:flags`). */
  conf: string;
  interpreter: string;
}

const EMULATORS: Readonly<Record<string, Emulator>> = {
  aarch64: {
    entry: 'qemu-aarch64',
    conf: '/usr/lib/binfmt.d/qemu-aarch64.conf',
    interpreter: '/usr/bin/qemu-aarch64-static',
  },
  x86_64: {
    entry: 'qemu-x86_64',
    conf: '/usr/lib/binfmt.d/qemu-x86_64.conf',
    interpreter: '/usr/bin/qemu-x86_64-static',
  },
};

const BINFMT = '/proc/sys/fs/binfmt_misc';
const DEBIAN_PACKAGE = 'qemu-user-static';

/** An entry's state from its /proc/sys/fs/binfmt_misc/<entry> text. */
export function binfmtEntry(text: string): { enabled: boolean; flags: string; interpreter?: string } {
  const line = (k: string) => new RegExp(`^${k} (.*)$`, 'm').exec(text)?.[1]?.trim();
  return {
    enabled: /^enabled$/m.test(text),
    flags: line('flags:') ?? '',
    ...(line('interpreter') ? { interpreter: line('interpreter') } : {}),
  };
}

/** The registration line to write, with F added when Debian's lacks it (bubblewrap needs it). */
export function registration(conf: string): string {
  const line = conf
    .split('\n')
    .map((l) => l.trim())
    .find((l) => l.startsWith(':'));
  if (!line) throw failure('ToolMissing', `no binfmt registration line in ${JSON.stringify(conf)}`);
  const fields = line.split(':');
  const flags = fields[fields.length - 1]!;
  if (!flags.includes('F')) fields[fields.length - 1] = `${flags}F`;
  return fields.join(':');
}

/** The commands that make `arch` run here, for a message to a person without root. */
export function emulationInstructions(arch: string): string {
  const e = EMULATORS[arch]!;
  return [
    `apt-get install ${DEBIAN_PACKAGE}`,
    `mountpoint -q ${BINFMT} || mount -t binfmt_misc binfmt_misc ${BINFMT}`,
    // Debian's line carries the F flag already; an older entry without it is removed first.
    `(echo -1 > ${BINFMT}/${e.entry}) 2>/dev/null; grep '^:' ${e.conf} > ${BINFMT}/register`,
  ].join('; ');
}

const ready = (e: Emulator) => {
  const file = `${BINFMT}/${e.entry}`;
  if (!existsSync(file)) return false;
  const state = binfmtEntry(readFileSync(file, 'utf8'));
  return state.enabled && state.flags.includes('F');
};

/**
 * The archs this machine builds packages for: its own, and each one qemu-user runs here with the
 * fix-binary flag (what a worker polls arch task queues for when KILN_WORKER_ARCHS is unset).
 */
export function buildableArchs(): string[] {
  const host = hostArch();
  return [host, ...Object.keys(EMULATORS).filter((a) => a !== host && ready(EMULATORS[a]!))];
}

/**
 * Makes every arch in `archs` that this host does not run natively runnable through qemu-user, or
 * fails naming the commands to run. Quick when it is already so (two files read).
 */
export async function ensureEmulation(archs: string[], log: (s: string) => void = console.log): Promise<string[]> {
  const host = hostArch();
  const foreign = [...new Set(archs)].filter((a) => a !== host).sort();
  for (const arch of foreign) {
    const e = EMULATORS[arch];
    if (!e)
      throw failure(
        'ToolMissing',
        `kiln cannot emulate ${arch} on ${host} (it emulates ${Object.keys(EMULATORS).join(', ')})`,
      );
    if (ready(e)) {
      log(`    ${arch} runs through qemu-user (${BINFMT}/${e.entry}, fix-binary)`);
      continue;
    }
    const cannot = (why: string) =>
      failure(
        'ToolMissing',
        `a catalog builds for ${arch}, which this ${host} machine runs only through qemu-user, and ${why}. ` +
          `As root, run: ${emulationInstructions(arch)}   (or run scripts/setup as root, which does this)`,
      );
    if (process.getuid?.() !== 0) throw cannot('setup is not root');
    if (!existsSync(e.interpreter) || !existsSync(e.conf)) {
      log(`    installing Debian's ${DEBIAN_PACKAGE} for ${arch}`);
      const install = () =>
        execa('apt-get', ['install', '-y', '-qq', '--no-install-recommends', DEBIAN_PACKAGE], {
          env: { DEBIAN_FRONTEND: 'noninteractive' },
          all: true,
          reject: false,
        });
      let r = await install();
      if (r.exitCode !== 0) {
        await execa('apt-get', ['update', '-qq'], { reject: false });
        r = await install();
      }
      if (r.exitCode !== 0 || !existsSync(e.conf))
        throw cannot(`apt-get install ${DEBIAN_PACKAGE} failed:\n${(r.all ?? '').split('\n').slice(-5).join('\n')}`);
    }
    if (!existsSync(`${BINFMT}/register`)) {
      const m = await execa('mount', ['-t', 'binfmt_misc', 'binfmt_misc', BINFMT], { all: true, reject: false });
      if (m.exitCode !== 0 || !existsSync(`${BINFMT}/register`))
        throw cannot(`binfmt_misc cannot be mounted here (${(m.all ?? '').trim() || `exit ${m.exitCode}`})`);
    }
    // An entry without F (binfmt-support's, say) runs nothing inside bubblewrap: replace it.
    if (existsSync(`${BINFMT}/${e.entry}`)) await writeFile(`${BINFMT}/${e.entry}`, '-1');
    try {
      await writeFile(`${BINFMT}/register`, registration(await readFile(e.conf, 'utf8')));
    } catch (err) {
      throw cannot(`the kernel refused the registration (${err instanceof Error ? err.message : String(err)})`);
    }
    if (!ready(e)) throw cannot(`${BINFMT}/${e.entry} is not enabled with the F flag after registering`);
    log(`    registered ${arch} with binfmt_misc: qemu-user from ${DEBIAN_PACKAGE} (fix-binary)`);
  }
  return foreign;
}
