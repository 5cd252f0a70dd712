// `kiln dev up|down|status`: the embedded services on 127.0.0.1 (Temporal dev server with its Web UI,
// the registry, the package repository over HTTP). They keep running after a rebuild.
import type { Command } from 'commander';
import { loadConfig } from '../config/config.js';

// Loaded when a subcommand runs: `kiln validate` and `kiln --help` need none of the service code.
const services = () => import('../setup/services.js');

export function registerDev(program: Command): void {
  const dev = program.command('dev').description('the embedded services: up | down | status');
  dev
    .command('up')
    .description('start what is not running yet and wait until it accepts connections')
    .action(async () => {
      await (await services()).servicesUp(loadConfig());
    });
  dev
    .command('down')
    .description('stop the services kiln started')
    .action(async () => {
      await (await services()).servicesDown(loadConfig());
    });
  dev
    .command('status')
    .description('each service: running, stopped or external, and where to look')
    .action(async () => {
      for (const s of await (await services()).servicesStatus(loadConfig()))
        console.log(`  ${s.name.padEnd(9)} ${s.state.padEnd(8)} ${s.url}${s.pid ? ` (pid ${s.pid})` : ''}`);
    });
}
