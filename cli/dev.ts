// `kiln dev up|down|status`: the embedded services on 127.0.0.1 (Temporal dev server with its Web UI,
// the registry, the package repository over HTTP). They keep running after a rebuild.
import type { Command } from 'commander';
import { loadConfig } from '../config/config.js';
import { servicesDown, servicesStatus, servicesUp } from '../setup/services.js';

export function registerDev(program: Command): void {
  const dev = program.command('dev').description('the embedded services: up | down | status');
  dev
    .command('up')
    .description('start what is not running yet and wait until it accepts connections')
    .action(async () => {
      await servicesUp(loadConfig());
    });
  dev
    .command('down')
    .description('stop the services kiln started')
    .action(async () => {
      await servicesDown(loadConfig());
    });
  dev
    .command('status')
    .description('each service: running, stopped or external, and where to look')
    .action(async () => {
      for (const s of await servicesStatus(loadConfig()))
        console.log(`  ${s.name.padEnd(9)} ${s.state.padEnd(8)} ${s.url}${s.pid ? ` (pid ${s.pid})` : ''}`);
    });
}
