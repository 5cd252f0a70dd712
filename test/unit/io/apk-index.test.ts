// io/apk-index.ts: a local index is parsed once per version of the file, and a newly published
// index (kiln publishes by rename) is read again; files written by the fixture writer, not by kiln.
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readRepositoryIndex } from '../../../io/apk-index.js';
import { apkIndexFixture } from '../../fixtures/apkindex-fixture.js';

let repo: string;
const index = () => join(repo, 'x86_64', 'APKINDEX.tar.gz');
/** Publishes an index as kiln does: a new file renamed over the old one. */
async function publish(version: string): Promise<void> {
  await writeFile(`${index()}.new`, apkIndexFixture([{ P: 'zlib', V: version }]));
  await rename(`${index()}.new`, index());
}
const entriesOf = async () => {
  const read = await readRepositoryIndex(repo, 'x86_64');
  if ('error' in read) throw new Error(read.error);
  return read.entries;
};

beforeAll(async () => {
  repo = await mkdtemp(join(tmpdir(), 'kiln-index-'));
  await mkdir(join(repo, 'x86_64'));
});
afterAll(() => rm(repo, { recursive: true, force: true }));

describe('readRepositoryIndex on a local repository', () => {
  it('has no entries for an arch with nothing published', async () => {
    expect(await readRepositoryIndex(repo, 'aarch64')).toEqual({ entries: [] });
  });

  it('reads an index once per version: the same entries again, a new publication anew', async () => {
    await publish('1.3.1-r0');
    const first = await entriesOf();
    expect(first.map((e) => `${e.name}-${e.version}`)).toEqual(['zlib-1.3.1-r0']);
    expect(await entriesOf()).toBe(first);
    await publish('1.3.1-r1');
    expect((await entriesOf()).map((e) => `${e.name}-${e.version}`)).toEqual(['zlib-1.3.1-r1']);
  });

  it('says which file it cannot read, and reads it again once repaired', async () => {
    await writeFile(`${index()}.new`, 'not an index');
    await rename(`${index()}.new`, index());
    expect(await readRepositoryIndex(repo, 'x86_64')).toEqual({ error: expect.stringContaining(index()) as string });
    await publish('1.3.1-r2');
    expect((await entriesOf()).map((e) => e.version)).toEqual(['1.3.1-r2']);
  });
});
