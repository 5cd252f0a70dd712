// The kiln command line: `npm run kiln -- <command>` (commander; one file per command in cli/).
//   dev up|down|status        embedded Temporal dev server + registry on 127.0.0.1
//   cluster up|down|status    a PostgreSQL-backed Temporal cluster + Web UI on 127.0.0.1 instead
//   schedule apply [--catalog DIR] | pause | unpause | trigger | clean | describe
//                             the nightly Temporal Schedule from catalog.yaml's `schedule:`,
//                             and the state clean-up's (`clean`: run it now)
//   validate [--catalog DIR]  check a catalog; every problem with file, field and fix
//   plan [--catalog DIR]      package build order by level, and what each image needs
//   rebuild [--catalog DIR] [--package NAME]... [--image NAME]... [--force] [--rerun-failed-of ID]
//                             run one catalogRebuild with a worker in this process and print
//                             the summary (the main job; scripts/rebuild wraps it with setup)
// Each command takes only its own flags: anything else is refused with exit code 2. `--help` (on
// any command) prints to stdout and exits 0.
import { Command, CommanderError } from 'commander';
import { registerCluster } from './cluster.js';
import { registerDev } from './dev.js';
import { registerPlan } from './plan.js';
import { registerRebuild } from './rebuild.js';
import { registerSchedule } from './schedule.js';
import { registerValidate } from './validate.js';

/** Usage errors exit 2 (as before commander); help and version exit 0. */
const USAGE_ERROR = 2;

export function kilnProgram(): Command {
  const program = new Command('kiln')
    .description('durable, verifiable rebuilds of a catalog of container images, orchestrated by Temporal')
    .usage('<command> [options]')
    .showHelpAfterError('(add --help for usage)')
    .exitOverride((err: CommanderError) => {
      throw err;
    });
  registerDev(program);
  registerCluster(program);
  registerSchedule(program);
  registerValidate(program);
  registerPlan(program);
  registerRebuild(program);
  return program;
}

try {
  await kilnProgram().parseAsync();
} catch (err) {
  if (err instanceof CommanderError) {
    // commander has already printed the help, or the error with a pointer to --help.
    process.exitCode = err.exitCode === 0 ? 0 : USAGE_ERROR;
  } else {
    console.error(`kiln: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  }
}
