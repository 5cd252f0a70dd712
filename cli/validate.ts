// `kiln validate [--catalog DIR]`: check a catalog; every problem at once with file, field and fix.
import type { Command } from 'commander';
import { loadConfig } from '../config/config.js';
import { loadCatalogOrReport, registerCatalogCommand } from './catalog-report.js';

export async function validate(opts: { catalog?: string }): Promise<number> {
  const config = loadConfig();
  const dir = opts.catalog ?? config.catalogDir;
  const catalog = await loadCatalogOrReport(config, dir);
  if (!catalog) return 1;
  console.log(`${dir}: valid (${catalog.packages.length} packages, ${catalog.images.length} images)`);
  return 0;
}

export function registerValidate(program: Command): void {
  registerCatalogCommand(
    program,
    'validate',
    'check a catalog: every problem at once, each with file, field and fix',
    validate,
  );
}
