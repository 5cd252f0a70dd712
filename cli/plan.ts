// `kiln plan [--catalog DIR] [--format text|json|dot] [--since REF]`: the package build order by
// level and what each image needs; with --since, what a change since REF rebuilds.
import { Option, type Command } from 'commander';
import { loadConfig } from '../config/config.js';
import { planBuild } from '../domain/plan.js';
import { PLAN_FORMATS, formatPlan, type PlanFormat } from '../domain/plan-format.js';
import { changeImpact, impactText } from '../domain/changes.js';
import { loadCatalogOrReport } from './catalog-report.js';

export interface PlanOptions {
  catalog?: string;
  format?: PlanFormat;
  since?: string;
}

export async function plan(opts: PlanOptions): Promise<number> {
  const config = loadConfig();
  const catalog = await loadCatalogOrReport(config, opts.catalog ?? config.catalogDir);
  if (!catalog) return 1;
  const p = planBuild(catalog);
  const format = opts.format ?? 'text';
  if (opts.since === undefined) {
    console.log(formatPlan(p, format));
    return 0;
  }
  // git only for --since (loaded then: plain `plan` and `validate` start faster without it).
  const { changedSince } = await import('../adapters/git.js');
  const impact = changeImpact(catalog, p, await changedSince(catalog.dir, opts.since));
  console.log(
    format === 'json' ? JSON.stringify({ since: opts.since, ...impact }, null, 2) : impactText(opts.since, impact),
  );
  return 0;
}

export function registerPlan(program: Command): void {
  program
    .command('plan')
    .description('package build order by level, and what each image needs')
    .option('--catalog <dir>', 'catalog directory (default: KILN_CATALOG, else catalog/)')
    .addOption(new Option('--format <format>', 'output format').choices(PLAN_FORMATS).default('text'))
    .option('--since <git-ref>', 'list what the changes since this git ref rebuild (packages, dependents, images)')
    .action(async (opts: PlanOptions) => {
      process.exitCode = await plan(opts);
    });
}
