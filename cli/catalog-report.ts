// cli/: the kiln command line (commander). kiln.ts is the root; each command has its own file and
// its own flags. Commands print and return an exit code; the work itself lives in client/, setup/,
// io/ and domain/, so tests and other entry points call the same code.
//
// Loading a catalog for a CLI command: the catalog, or its problems on stderr and nothing.
import type { Command } from 'commander';
import type { Catalog } from '../domain/catalog.js';
import { isFailure } from '../domain/failures.js';
import type { KilnConfig } from '../config/config.js';
import { CatalogInvalid, loadCatalog } from '../io/catalog-loader.js';

export async function loadCatalogOrReport(config: KilnConfig, dir: string): Promise<Catalog | undefined> {
  try {
    return await loadCatalog(dir, { env: config.catalogEnv });
  } catch (err) {
    if (!(err instanceof CatalogInvalid) && !isFailure(err, 'CatalogInvalid')) throw err;
    console.error(err.message);
    return undefined;
  }
}

/** Registers a command that reads one catalog (`--catalog DIR`, default KILN_CATALOG, else catalog/). */
export function registerCatalogCommand(
  program: Command,
  name: string,
  description: string,
  run: (opts: { catalog?: string }) => Promise<number>,
): void {
  program
    .command(name)
    .description(description)
    .option('--catalog <dir>', 'catalog directory (default: KILN_CATALOG, else catalog/)')
    .action(async (opts: { catalog?: string }) => {
      process.exitCode = await run(opts);
    });
}
