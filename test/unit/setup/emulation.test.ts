// Emulation setup's pure parts: which arch the host runs, reading a binfmt_misc entry, and the
// registration line written for the kernel (the F flag that makes it work inside bubblewrap).
import { describe, expect, it } from 'vitest';
import { binfmtEntry, emulationInstructions, hostArch, registration } from '../../../setup/emulation.js';

const DEBIAN_AARCH64 =
  ':qemu-aarch64:M::\\x7f\\x45\\x4c\\x46\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\xb7\\x00:' +
  '\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff:/usr/libexec/qemu-binfmt/aarch64-binfmt-P:';

describe('hostArch', () => {
  it("names Node's archs as APK archs and refuses others", () => {
    expect(hostArch('x64')).toBe('x86_64');
    expect(hostArch('arm64')).toBe('aarch64');
    expect(() => hostArch('riscv64')).toThrow(/riscv64/);
  });
});

describe('binfmtEntry', () => {
  it("reads the kernel's description of an entry", () => {
    const e = binfmtEntry(
      'enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: POF\noffset 0\nmagic 7f45\nmask ffff\n',
    );
    expect(e).toEqual({ enabled: true, flags: 'POF', interpreter: '/usr/libexec/qemu-binfmt/aarch64-binfmt-P' });
    expect(binfmtEntry('disabled\ninterpreter /x\nflags: P\n').enabled).toBe(false);
  });
});

describe('registration', () => {
  it("keeps Debian's line when it has the F flag", () => {
    expect(registration(`# comment\n${DEBIAN_AARCH64}OPF\n`)).toBe(`${DEBIAN_AARCH64}OPF`);
  });

  it('adds F to a line without it, since bubblewrap cannot open the interpreter itself', () => {
    expect(registration(`${DEBIAN_AARCH64}OC`)).toBe(`${DEBIAN_AARCH64}OCF`);
    expect(registration(DEBIAN_AARCH64)).toBe(`${DEBIAN_AARCH64}F`);
  });

  it('refuses a file without a registration line', () => {
    expect(() => registration('# nothing\n')).toThrow(/no binfmt registration line/);
  });
});

describe('emulationInstructions', () => {
  it('names the package, the mount and the registration', () => {
    const text = emulationInstructions('aarch64');
    expect(text).toContain('apt-get install qemu-user-static');
    expect(text).toContain('mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc');
    expect(text).toContain('/usr/lib/binfmt.d/qemu-aarch64.conf > /proc/sys/fs/binfmt_misc/register');
  });
});
