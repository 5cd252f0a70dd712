// io/atomic-file.ts on real files in a temporary directory (no fakes): a reader of the destination
// sees the old file or the new one whole, never a half-written one, and a failed write leaves
// nothing beside it.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { asideOf, replaceFile, writeFileAtomically, writeFileAtomicallySync } from '../../../io/atomic-file.js';

let dir: string;
let target: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiln-atomic-'));
  target = join(dir, 'record.json');
});
afterEach(() => rm(dir, { recursive: true, force: true }));

describe('asideOf', () => {
  it('names a hidden file in the destination directory, different on every call', () => {
    const names = Array.from({ length: 50 }, () => asideOf(target));
    expect(new Set(names).size).toBe(50);
    for (const name of names) {
      expect(dirname(name)).toBe(dir);
      expect(name).toMatch(/\/\.record\.json\.[0-9a-f-]{36}\.tmp$/);
    }
  });
});

describe('replaceFile', () => {
  it('leaves the old file in place until the new one is complete', async () => {
    await writeFile(target, 'old');
    let seenMidway: string | undefined;
    await replaceFile(target, async (aside) => {
      await writeFile(aside, 'new, first half');
      seenMidway = await readFile(target, 'utf8');
      await writeFile(aside, 'new, first half and second half');
    });
    expect(seenMidway).toBe('old');
    expect(await readFile(target, 'utf8')).toBe('new, first half and second half');
    expect(await readdir(dir)).toEqual(['record.json']);
  });

  it('creates no destination while the file is being written', async () => {
    let existedMidway = true;
    await replaceFile(target, async (aside) => {
      await writeFile(aside, 'half');
      existedMidway = existsSync(target);
    });
    expect(existedMidway).toBe(false);
    expect(await readFile(target, 'utf8')).toBe('half');
  });

  describe('when the write fails', () => {
    it('keeps the old file, removes the temporary one and rethrows', async () => {
      await writeFile(target, 'old');
      const failed = replaceFile(target, async (aside) => {
        await writeFile(aside, 'half of it');
        throw new Error('disk full');
      });
      await expect(failed).rejects.toThrow('disk full');
      expect(await readFile(target, 'utf8')).toBe('old');
      expect(await readdir(dir)).toEqual(['record.json']);
    });
  });

  describe('when the rename fails', () => {
    it('removes the temporary file and rethrows', async () => {
      // A non-empty directory at the destination: rename cannot replace it.
      await mkdir(join(target, 'inside'), { recursive: true });
      await expect(writeFileAtomically(target, 'new')).rejects.toMatchObject({ code: expect.stringMatching(/^E/) });
      expect(await readdir(dir)).toEqual(['record.json']);
      expect(await readdir(target)).toEqual(['inside']);
    });
  });
});

describe('writeFileAtomically', () => {
  it('gives the file the mode asked for', async () => {
    const old = process.umask(0o022);
    try {
      await writeFileAtomically(target, 'key', { mode: 0o600 });
    } finally {
      process.umask(old);
    }
    expect((await stat(target)).mode & 0o777).toBe(0o600);
  });

  it('lets a reader during a write see only the old file or the new one, whole', async () => {
    // Large enough that writing takes a while: a reader running alongside a plain writeFile
    // would catch the file truncated or half written.
    const versions = ['a', 'b', 'c', 'd'].map((c) => c.repeat(8 << 20));
    await writeFile(target, versions[0]!);
    const seen = new Set<number>();
    for (let round = 1; round <= 8; round++) {
      const written = writeFileAtomically(target, versions[round % 4]!);
      const reads = await Promise.all([1, 2, 3].map(() => readFile(target, 'utf8')));
      await written;
      for (const content of reads) {
        expect(versions).toContain(content);
        seen.add(content.length);
      }
    }
    expect([...seen]).toEqual([8 << 20]);
    expect(await readdir(dir)).toEqual(['record.json']);
  });
});

describe('writeFileAtomicallySync', () => {
  it('replaces the file whole and leaves nothing beside it', async () => {
    await writeFile(target, 'old');
    writeFileAtomicallySync(target, 'new', { mode: 0o644 });
    expect(await readFile(target, 'utf8')).toBe('new');
    expect(await readdir(dir)).toEqual(['record.json']);
  });

  it('removes the temporary file when the rename fails', async () => {
    await mkdir(join(target, 'inside'), { recursive: true });
    expect(() => writeFileAtomicallySync(target, 'new')).toThrow();
    expect(await readdir(dir)).toEqual(['record.json']);
  });
});
