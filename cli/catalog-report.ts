// Loading a catalog for a CLI command: the catalog, or its problems on stderr and nothing.
import type { Catalog } from '../domain/catalog.js';
import { CatalogInvalid, loadCatalog } from '../io/catalog-loader.js';
import { catalogEnv } from '../config/config.js';

export async function loadCatalogOrReport(dir: string): Promise<Catalog | undefined> {
  try {
    return await loadCatalog(dir, { env: catalogEnv() });
  } catch (err) {
    if (!(err instanceof CatalogInvalid)) throw err;
    console.error(err.message);
    return undefined;
  }
}
