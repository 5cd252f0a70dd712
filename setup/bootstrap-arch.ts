// The bootstrap repository of any arch. The host's arch repackages the installed busybox-static; any
// other takes busybox-static of that arch from Debian's archive through kiln's apt (no
// `dpkg --add-architecture`), kept with the toolchain's .debs, so a second setup reads it from disk.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import type { KilnConfig } from '../config/config.js';
import { failure } from '../domain/failures.js';
import { bootstrapRepository, type BootstrapOptions, type BusyboxBinary } from './bootstrap-repo.js';
import { hostArch } from './emulation.js';
import { downloadDebs, kilnApt, resolveClosure } from './toolchain-apt.js';
import { debianArch } from './toolchain-debian.js';

const PACKAGE = 'busybox-static';

/** Debian's busybox-static for `arch`, downloaded once (checked against the lists' SHA-256). */
export async function debianBusybox(
  config: KilnConfig,
  arch: string,
  log: (s: string) => void = console.log,
): Promise<BusyboxBinary> {
  const deb = debianArch(arch);
  const apt = await kilnApt(config.tools.dir, { log });
  const resolved = (await resolveClosure(apt, deb, [PACKAGE])).find((d) => d.name === PACKAGE);
  if (!resolved) throw failure('ToolFailed', `apt resolved no ${PACKAGE} for ${deb.deb}`);
  const [path] = await downloadDebs(apt, deb, [resolved]);
  const dir = await mkdtemp(join(tmpdir(), 'kiln-busybox-deb-'));
  try {
    const x = await execa('dpkg-deb', ['-x', path!, dir], { all: true, reject: false });
    if (x.exitCode !== 0) throw failure('CorruptArtifact', `${path}: dpkg-deb -x failed: ${x.all}`);
    const binary = ['bin/busybox', 'usr/bin/busybox'].map((p) => join(dir, p)).find((p) => existsSync(p));
    if (!binary) throw failure('CorruptArtifact', `${path}: holds no bin/busybox`);
    return { binary: await readFile(binary), debianVersion: resolved.version };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** bootstrapRepository for `o.arch` on this host, with that arch's busybox when it is not the host's. */
export async function bootstrapForArch(o: BootstrapOptions): Promise<string> {
  const arch = o.arch ?? 'x86_64';
  if (o.busybox || arch === hostArch()) return bootstrapRepository(o);
  return bootstrapRepository({ ...o, busybox: await debianBusybox(o.config, arch, o.log) });
}
