// `kiln schedule apply|pause|unpause|trigger|describe`: the Temporal Schedules from catalog.yaml
// (client/schedules.ts does the work), and the state clean-up's. Every subcommand ends by describing them.
import type { Command } from 'commander';
import { loadConfig } from '../config/config.js';
import type { ApplyResult } from '../client/schedules.js';
import { loadCatalogOrReport } from './catalog-report.js';

/** "created", "unchanged", or "updated (drifted: cron (...), task queue (...))". */
function outcome(r: ApplyResult): string {
  return r.drifted.length ? `${r.outcome} (drifted: ${r.drifted.join('; ')})` : r.outcome;
}

export type ScheduleSubcommand = 'apply' | 'pause' | 'unpause' | 'trigger' | 'clean' | 'describe';

export async function scheduleCommand(sub: ScheduleSubcommand, opts: { catalog?: string }): Promise<number> {
  const config = loadConfig();
  const { taskQueue } = config.temporal;
  // Overridable (KILN_SCHEDULE_ID, KILN_WATCH_SCHEDULE_ID) so tests or a second catalog do not touch the real Schedules.
  const { nightlyId, watchId, cleanupId, cleanupEvery } = config.schedules;
  // Loaded here, not at the top: the Temporal client is not needed by the other commands.
  const { connectClient } = await import('../client/connection.js');
  const { applySchedule, applyWatchSchedule, applyCleanupSchedule, describeSchedule, scheduleExists } =
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
        // The state clean-up judges the worker's own state directory, whatever the catalog: no input.
        const cleanup = await applyCleanupSchedule(client, cleanupEvery, {
          scheduleId: cleanupId,
          taskQueue,
          input: {},
        });
        console.log(
          `schedule ${cleanupId}: ${outcome(cleanup)} (stateCleanup every ${cleanupEvery}: keeps the last ${config.retention.keepRuns} runs' state)`,
        );
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
        for (const id of [nightlyId, watchId, cleanupId]) {
          if (!(await exists(id))) continue;
          if (sub === 'pause') await client.schedule.getHandle(id).pause('paused from the kiln CLI');
          else await client.schedule.getHandle(id).unpause('unpaused from the kiln CLI');
          console.log(`schedule ${id}: ${sub}d`);
        }
        break;
      case 'clean': {
        // The clean-up now, on a worker of this task queue, as its Schedule would start it.
        const { cleanupReport } = await import('../client/cleanup.js');
        console.log(await cleanupReport(client, taskQueue));
        break;
      }
      case 'describe':
        break;
    }
    console.log(await describeSchedule(client, nightlyId));
    for (const id of [watchId, cleanupId]) if (await exists(id)) console.log(await describeSchedule(client, id));
    return 0;
  } finally {
    await close();
  }
}

const SUBCOMMANDS: [ScheduleSubcommand, string][] = [
  [
    'apply',
    "create or update the nightly Schedule (and the upstream watch) from catalog.yaml's schedule: and updates:, and the state clean-up's",
  ],
  ['describe', 'the spec, the next three run times, the recent runs with their workflow ids and status'],
  ['trigger', 'one nightly run now'],
  ['clean', 'the state clean-up now (a worker must run): what it removed and the bytes freed'],
  ['pause', 'stop automatic runs (the upstream watch and the clean-up too)'],
  ['unpause', 'resume automatic runs (the upstream watch and the clean-up too)'],
];

export function registerSchedule(program: Command): void {
  const schedule = program
    .command('schedule')
    .description(
      'the nightly Temporal Schedule from catalog.yaml, and the state clean-up: apply | describe | trigger | clean | pause | unpause',
    );
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
