// `kiln schedule apply|pause|unpause|trigger|describe`: the Temporal Schedules from catalog.yaml
// (client/schedules.ts does the work). Every subcommand ends by describing both Schedules.
import type { Command } from 'commander';
import { loadConfig } from '../config/config.js';
import type { ApplyResult } from '../client/schedules.js';
import { loadCatalogOrReport } from './catalog-report.js';

/** "created", "unchanged", or "updated (drifted: cron (...), task queue (...))". */
function outcome(r: ApplyResult): string {
  return r.drifted.length ? `${r.outcome} (drifted: ${r.drifted.join('; ')})` : r.outcome;
}

export type ScheduleSubcommand = 'apply' | 'pause' | 'unpause' | 'trigger' | 'describe';

export async function scheduleCommand(sub: ScheduleSubcommand, opts: { catalog?: string }): Promise<number> {
  const config = loadConfig();
  const { taskQueue } = config.temporal;
  // Overridable (KILN_SCHEDULE_ID, KILN_WATCH_SCHEDULE_ID) so tests or a second catalog do not touch the real Schedules.
  const { nightlyId, watchId } = config.schedules;
  // Loaded here, not at the top: the Temporal client is not needed by the other commands.
  const { connectClient } = await import('../client/connection.js');
  const { applySchedule, applyWatchSchedule, describeSchedule, scheduleExists } =
    await import('../client/schedules.js');
  const { client, close } = await connectClient(config);
  const exists = (id: string) => scheduleExists(client, id);
  try {
    switch (sub) {
      case 'apply': {
        const dir = opts.catalog ?? config.catalogDir;
        const catalog = await loadCatalogOrReport(config, dir);
        if (!catalog) return 1;
        // Scheduled runs read the catalog on the worker: pass the directory only when one was named.
        const input = opts.catalog ? { catalogDir: catalog.dir } : {};
        const nightly = await applySchedule(client, catalog.settings.schedule, {
          scheduleId: nightlyId,
          taskQueue,
          input,
        });
        console.log(`schedule ${nightlyId}: ${outcome(nightly)}`);
        // The watcher's own activity lists the watched packages (loaded for `apply` only).
        const { createActivities } = await import('../activities/index.js');
        const watched = await createActivities(config).listWatchedPackages({ catalogDir: catalog.dir });
        if (watched.length) {
          const watch = await applyWatchSchedule(client, catalog.settings.updates, {
            scheduleId: watchId,
            taskQueue,
            input,
          });
          console.log(
            `schedule ${watchId}: ${outcome(watch)} (upstreamWatch every ${catalog.settings.updates.every} for ${watched.map((p) => p.name).join(', ')})`,
          );
        } else if (await exists(watchId)) {
          console.log(
            `schedule ${watchId}: left as is, though no package has an update: block any more (delete it in the Web UI if unwanted)`,
          );
        }
        break;
      }
      case 'pause':
      case 'unpause':
      case 'trigger':
        if (!(await exists(nightlyId))) {
          console.error(`no schedule "${nightlyId}" (run: npm run kiln -- schedule apply)`);
          return 1;
        }
        if (sub === 'trigger') {
          await client.schedule.getHandle(nightlyId).trigger();
          console.log(`schedule ${nightlyId}: triggered a run now`);
          break;
        }
        // Maintenance means no automatic builds at all: the watcher's Schedule follows the nightly one.
        for (const id of [nightlyId, watchId]) {
          if (!(await exists(id))) continue;
          if (sub === 'pause') await client.schedule.getHandle(id).pause('paused from the kiln CLI');
          else await client.schedule.getHandle(id).unpause('unpaused from the kiln CLI');
          console.log(`schedule ${id}: ${sub}d`);
        }
        break;
      case 'describe':
        break;
    }
    console.log(await describeSchedule(client, nightlyId));
    if (await exists(watchId)) console.log(await describeSchedule(client, watchId));
    return 0;
  } finally {
    await close();
  }
}

const SUBCOMMANDS: [ScheduleSubcommand, string][] = [
  [
    'apply',
    "create or update the nightly Schedule (and the upstream watch) from catalog.yaml's schedule: and updates:",
  ],
  ['describe', 'the spec, the next three run times, the recent runs with their workflow ids and status'],
  ['trigger', 'one nightly run now'],
  ['pause', 'stop automatic runs (the upstream watch too)'],
  ['unpause', 'resume automatic runs (the upstream watch too)'],
];

export function registerSchedule(program: Command): void {
  const schedule = program
    .command('schedule')
    .description('the nightly Temporal Schedule from catalog.yaml: apply | describe | trigger | pause | unpause');
  for (const [sub, description] of SUBCOMMANDS) {
    const cmd = schedule.command(sub).description(description);
    if (sub === 'apply')
      cmd.option(
        '--catalog <dir>',
        'catalog directory; scheduled runs then get {"catalogDir": DIR} (default: the worker\'s own)',
      );
    cmd.action(async (opts: { catalog?: string }) => {
      process.exitCode = await scheduleCommand(sub, opts);
    });
  }
}
