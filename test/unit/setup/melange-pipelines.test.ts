// Setup copies melange's built-in pipelines from the pinned module next to the tools, once.
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it, vi } from 'vitest';
import { builtinPipelinesDir } from '../../../io/melange-pipelines.js';
import { installMelangePipelines } from '../../../setup/melange-pipelines.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

it('copies the YAML files of the pinned module’s pkg/build/pipelines, and a second run only checks they are there', async () => {
  const toolsDir = await mkdtemp(join(tmpdir(), 'kiln-tools-'));
  dirs.push(toolsDir);
  const log = vi.spyOn(console, 'log').mockImplementation(() => {});
  try {
    await installMelangePipelines(toolsDir);
    const dir = builtinPipelinesDir(toolsDir);
    expect(dir).toBe(join(toolsDir, 'pipelines', 'melange-0.58.0'));
    expect(await readFile(join(dir, 'autoconf', 'make.yaml'), 'utf8')).toMatch(/needs:\s+packages:\s+- make/);
    expect(existsSync(join(dir, 'docs.go'))).toBe(false);
    expect(existsSync(`${dir}.partial`)).toBe(false);
    const before = (await stat(join(dir, 'fetch.yaml'))).mtimeMs;
    log.mockClear();
    await installMelangePipelines(toolsDir);
    expect((await stat(join(dir, 'fetch.yaml'))).mtimeMs).toBe(before);
    expect(log.mock.calls.map((c) => String(c[0]))).toEqual([expect.stringMatching(/built-in pipelines: cached/)]);
  } finally {
    log.mockRestore();
  }
});
