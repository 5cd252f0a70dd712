// The ELF facts the toolchain conversion reads, on real Debian objects of this machine.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isElf, readElfDynamic, sonameVersion } from '../../../setup/toolchain-elf.js';
import { ZLIB, withSoname } from '../../fixtures/elf.js';

describe('readElfDynamic', () => {
  it('reads the soname and the needed libraries of a shared object', () => {
    const elf = readElfDynamic(readFileSync(ZLIB));
    expect(elf).toMatchObject({ type: 3, soname: 'libz.so.1' });
    expect(elf?.needed).toContain('libc.so.6');
    expect(elf?.interpreter).toBeUndefined();
  });

  it('reads the interpreter of a dynamically linked program, which has no soname', () => {
    const elf = readElfDynamic(readFileSync('/usr/bin/env'));
    expect(elf?.interpreter).toBe('/lib64/ld-linux-x86-64.so.2');
    expect(elf?.soname).toBeUndefined();
    expect(elf?.needed).toContain('libc.so.6');
  });

  it('sees a soname bump', () => {
    expect(readElfDynamic(withSoname(readFileSync(ZLIB), 'libz.so.2'))?.soname).toBe('libz.so.2');
  });

  it('finds nothing dynamic in a static program', () => {
    expect(readElfDynamic(readFileSync('/bin/busybox'))).toMatchObject({ needed: [] });
    expect(readElfDynamic(readFileSync('/bin/busybox'))?.soname).toBeUndefined();
  });

  describe('when the bytes are not a readable ELF object', () => {
    it('says so instead of throwing', () => {
      expect(isElf(Buffer.from('#!/bin/sh\necho hi\n'))).toBe(false);
      expect(readElfDynamic(Buffer.from('#!/bin/sh\necho hi\n'))).toBeUndefined();
      expect(readElfDynamic(readFileSync(ZLIB).subarray(0, 200))).toBeUndefined();
    });
  });
});

describe('sonameVersion', () => {
  it('follows melange: the digits after .so., else 0', () => {
    expect(sonameVersion('libc.so.6')).toBe('6');
    expect(sonameVersion('libcrypt.so.1.1')).toBe('1.1');
    expect(sonameVersion('ld-linux-x86-64.so.2')).toBe('2');
    expect(sonameVersion('libmemusage.so')).toBe('0');
    expect(sonameVersion('libfoo.so.1a')).toBe('0');
  });
});
