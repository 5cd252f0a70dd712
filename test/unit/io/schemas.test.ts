// melange and apko configs are checked against the JSON schemas the pinned tools publish (copied
// next to the tools by scripts/setup): a misspelt key or a wrong type is a problem with file, line
// and fix; without the schemas kiln warns once and runs its own checks.
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../../../config/config.js';
import type { CatalogProblem } from '../../../domain/catalog.js';
import { CatalogInvalid, loadCatalog } from '../../../io/catalog-loader.js';
import { checkToolSchema, schemaPath, type SchemaTool } from '../../../io/schemas.js';
import { bootstrapStateFixture } from '../../fixtures/apkindex-fixture.js';
import { FIXTURES } from '../../fixtures/paths.js';

const CONFIGS = join(FIXTURES, 'schema-configs');
const AJV_VERSION = (createRequire(import.meta.url)('ajv/package.json') as { version: string }).version;
const toolsDir = loadConfig().tools.dir;

async function problemsOf(tool: SchemaTool, file: string, dir = toolsDir): Promise<CatalogProblem[]> {
  const problems: CatalogProblem[] = [];
  checkToolSchema(tool, CONFIGS, file, parse(await readFile(join(CONFIGS, file), 'utf8')), problems, dir);
  return problems;
}

describe('the tools’ schemas', () => {
  it('are where scripts/setup puts them', () => {
    for (const tool of ['melange', 'apko'] as const)
      expect(existsSync(schemaPath(toolsDir, tool)), `${schemaPath(toolsDir, tool)}: run scripts/setup`).toBe(true);
  });

  it('accept valid melange and apko configs', async () => {
    expect(await problemsOf('melange', 'melange-valid.yaml')).toEqual([]);
    expect(await problemsOf('apko', 'apko-valid.yaml')).toEqual([]);
  });

  it('reject a misspelt melange key with its file, line and the keys melange accepts', async () => {
    const [problem, ...rest] = await problemsOf('melange', 'melange-typo.yaml');
    expect(rest).toEqual([]);
    expect(problem).toMatchObject({ file: 'melange-typo.yaml', field: 'pipline', line: 9 });
    expect(problem!.message).toContain('unknown field pipline');
    expect(problem!.fix).toMatch(/^remove it or check its spelling; melange 0\.58\.0 accepts: .*\bpipeline\b/);
  });

  it('reject a misspelt apko key with its file, line and fix', async () => {
    const problems = await problemsOf('apko', 'apko-typo.yaml');
    expect(problems).toEqual([expect.objectContaining({ file: 'apko-typo.yaml', field: 'entrypont', line: 4 })]);
    expect(problems[0]!.fix).toMatch(/apko 1\.2\.31 accepts: .*\bentrypoint\b/);
  });

  it('reject a wrong type with its line and fix', async () => {
    expect(await problemsOf('melange', 'melange-wrong-type.yaml')).toEqual([
      {
        file: 'melange-wrong-type.yaml',
        field: 'package.epoch',
        line: 5,
        message: 'must be an integer (melange 0.58.0 schema)',
        fix: 'write a whole number without quotes (e.g. 1)',
      },
    ]);
  });

  it('keep their compiled code next to the schema, and compile again when that code is unusable', async () => {
    const tools = await mkdtemp(join(tmpdir(), 'kiln-schema-cache-'));
    try {
      await mkdir(join(tools, 'schemas'));
      await cp(schemaPath(toolsDir, 'melange'), schemaPath(tools, 'melange'));
      const cached = schemaPath(tools, 'melange').replace(/\.json$/, `.ajv-${AJV_VERSION}.cjs`);
      // First use: compiled, and the code kept.
      expect(await problemsOf('melange', 'melange-typo.yaml', tools)).toHaveLength(1);
      expect(existsSync(cached)).toBe(true);
      // A later process reads the code instead of compiling (another directory: this process's
      // validators are kept by schema file); broken code is compiled again, and judges the same.
      const again = await mkdtemp(join(tmpdir(), 'kiln-schema-cache-'));
      await cp(join(tools, 'schemas'), join(again, 'schemas'), { recursive: true });
      await writeFile(
        schemaPath(again, 'melange').replace(/\.json$/, `.ajv-${AJV_VERSION}.cjs`),
        'this is not javascript',
      );
      expect(await problemsOf('melange', 'melange-typo.yaml', again)).toEqual(
        await problemsOf('melange', 'melange-typo.yaml', tools),
      );
      await rm(again, { recursive: true, force: true });
    } finally {
      await rm(tools, { recursive: true, force: true });
    }
  });

  it('without the schemas: one warning, no problems (kiln’s own checks still run)', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'kiln-no-schemas-'));
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      expect(await problemsOf('melange', 'melange-typo.yaml', empty)).toEqual([]);
      expect(await problemsOf('apko', 'apko-typo.yaml', empty)).toEqual([]);
      expect(warn).toHaveBeenCalledTimes(1);
      expect(String(warn.mock.calls[0]![0])).toMatch(/schema is not in .*run scripts\/setup/);
    } finally {
      warn.mockRestore();
      await rm(empty, { recursive: true, force: true });
    }
  });
});

describe('loadCatalog checks configs against the schemas', () => {
  let state: string;
  let dir: string;
  beforeAll(async () => {
    state = await bootstrapStateFixture();
    dir = await mkdtemp(join(tmpdir(), 'kiln-schema-catalog-'));
    await cp(join(FIXTURES, 'tiny'), dir, { recursive: true });
  });
  afterAll(async () => {
    for (const d of [state, dir]) await rm(d, { recursive: true, force: true });
  });

  it('reports what only the schemas know (nested keys) with the catalog file and line, once', async () => {
    const lib = join(dir, 'packages', 'tiny-lib.yaml');
    await writeFile(
      lib,
      (await readFile(lib, 'utf8')).replace(/^ {2}- runs:/m, '  - runz:').replace(/^ {2}epoch: 0/m, '  epoch: "zero"'),
    );
    const apko = join(dir, 'images', 'tiny-app', 'apko.yaml');
    await writeFile(apko, (await readFile(apko, 'utf8')).replace(/^ {2}run-as:/m, '  run-az:'));
    const err = await loadCatalog(dir, { env: { KILN_STATE: state } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CatalogInvalid);
    const lineOf = async (file: string, start: string) =>
      (await readFile(file, 'utf8')).split('\n').findIndex((l) => l.startsWith(start)) + 1;
    const problems = (err as CatalogInvalid).problems;
    // kiln's own check reports the epoch (one problem, not two); `runz` and `run-az` only the schemas know.
    expect(problems.filter((p) => p.field === 'package.epoch')).toHaveLength(1);
    expect(problems).toContainEqual(
      expect.objectContaining({
        file: 'packages/tiny-lib.yaml',
        field: 'pipeline[0].runz',
        line: await lineOf(lib, '  - runz:'),
      }),
    );
    expect(problems).toContainEqual(
      expect.objectContaining({
        file: 'images/tiny-app/apko.yaml',
        field: 'accounts.run-az',
        line: await lineOf(apko, '  run-az:'),
        fix: expect.stringMatching(/apko 1\.2\.31 accepts: run-as, /),
      }),
    );
  });
});
