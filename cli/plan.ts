// `kiln plan [--catalog DIR]`: the package build order by level, and what each image needs.
import type { Command } from 'commander';
import { loadConfig } from '../config/config.js';
import { planBuild } from '../domain/plan.js';
import { loadCatalogOrReport, registerCatalogCommand } from './catalog-report.js';

export async function plan(opts: { catalog?: string }): Promise<number> {
  const config = loadConfig();
  const catalog = await loadCatalogOrReport(config, opts.catalog ?? config.catalogDir);
  if (!catalog) return 1;
  const p = planBuild(catalog);
  const deps = new Map(p.packages.map((x) => [x.name, x.dependsOn]));
  const after = (n: string) => deps.get(n) ?? [];
  console.log(`Packages (${p.packages.length}), built level by level; a level's packages run in parallel:`);
  p.levels.forEach((level, i) => {
    console.log(
      `  level ${i}: ${level.map((n) => (after(n).length ? `${n} (after ${after(n).join(', ')})` : n)).join(', ')}`,
    );
  });
  console.log(`Images (${p.images.length}):`);
  for (const img of p.images)
    console.log(
      `  ${img.name} [${img.tags.join(', ')}]: ${img.packages.length ? img.packages.join(', ') : '(repository packages only)'}`,
    );
  return 0;
}

export function registerPlan(program: Command): void {
  registerCatalogCommand(program, 'plan', 'package build order by level, and what each image needs', plan);
}
