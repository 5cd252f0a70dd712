// An apko config that includes a shared base (apko's `include:`): kiln validates the merged config,
// apko builds it from the catalog snapshot, and a change to the included file is a new image input.
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { assembleImage, type AssembledImage } from '../../../activities/image-assemble.js';
import { testImage, type ImageTestReport } from '../../../activities/image-test.js';
import { snapshotCatalog, type CatalogSnapshot } from '../../../activities/snapshot.js';
import { kilnTestConfig, kilnTestEnv } from '../harness.js';
import { FIXTURES } from '../../fixtures/paths.js';

const env = kilnTestEnv();
const activities = new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });
const scratch = await mkdtemp(join(tmpdir(), 'kiln-image-include-'));
afterAll(() => rm(scratch, { recursive: true, force: true }));

async function build(catalogDir: string): Promise<{ snapshot: CatalogSnapshot; image: AssembledImage }> {
  const config = kilnTestConfig(env, { KILN_CATALOG: catalogDir });
  const snapshot = (await activities.run(snapshotCatalog, config, { catalogDir })) as CatalogSnapshot;
  const image = (await activities.run(assembleImage, config, {
    snapshotDir: snapshot.dir,
    name: 'app',
  })) as AssembledImage;
  return { snapshot, image };
}

describe('an image whose apko.yaml includes a base config', () => {
  it('builds with the merged config: base packages and user, the including file winning', async () => {
    const catalog = join(scratch, 'catalog');
    await cp(join(FIXTURES, 'imgchk-include'), catalog, { recursive: true });
    const { snapshot, image } = await build(catalog);
    expect(snapshot.plan.images.map((i) => i.name)).toEqual(['app']);
    const report = (await activities.run(testImage, kilnTestConfig(env), {
      snapshotDir: snapshot.dir,
      name: 'app',
      layoutDir: image.layoutDir,
    })) as ImageTestReport;
    // busybox and the non-root user come from the base; MODE from the including file.
    expect(report.packages.map((p) => p.name)).toContain('busybox');
    expect(report.tests.map((t) => [t.name, t.passed])).toEqual([
      ['entrypoint', true],
      ['merged-environment', true],
    ]);
    expect(report.tests[1]!.output.trim()).toBe('C.UTF-8 app');
    expect(report.expectations.every((x) => x.passed)).toBe(true);

    // Editing only the included file changes the image's inputs: it is assembled anew.
    const base = join(catalog, 'apko', 'base.yaml');
    await writeFile(base, (await readFile(base, 'utf8')).replace('MODE: base', 'MODE: base2\n  EXTRA: "1"'));
    const again = await build(catalog);
    expect(again.image.layoutDir).not.toBe(image.layoutDir);
  });
});
