// Setup copies the pinned melange and apko JSON schemas next to the tools, once.
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it, vi } from 'vitest';
import { schemaPath } from '../../../io/schemas.js';
import { installSchemas } from '../../../setup/schemas.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

it('copies both schemas from the pinned modules, and a second run only checks they are there', async () => {
  const toolsDir = await mkdtemp(join(tmpdir(), 'kiln-tools-'));
  dirs.push(toolsDir);
  const log = vi.spyOn(console, 'log').mockImplementation(() => {});
  try {
    await installSchemas(toolsDir);
    const melange = JSON.parse(await readFile(schemaPath(toolsDir, 'melange'), 'utf8')) as { $schema: string };
    expect(melange.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    const before = (await stat(schemaPath(toolsDir, 'apko'))).mtimeMs;
    log.mockClear();
    await installSchemas(toolsDir);
    expect((await stat(schemaPath(toolsDir, 'apko'))).mtimeMs).toBe(before);
    expect(log.mock.calls.map((c) => String(c[0]))).toEqual([
      expect.stringMatching(/melange schema: cached/),
      expect.stringMatching(/apko schema: cached/),
    ]);
  } finally {
    log.mockRestore();
  }
});
