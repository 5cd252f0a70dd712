// `kiln cluster up|down|status`: a real Temporal cluster on 127.0.0.1 (PostgreSQL, the Temporal server
// docker-compose.yml pins, its Web UI), at TEMPORAL_ADDRESS and KILN_WEB_UI, so workers and the other
// commands use it as they would the dev server (setup/cluster.ts does the work).
import type { Command } from 'commander';
import { loadConfig } from '../config/config.js';

// Loaded when a subcommand runs: the other commands (validate, plan) need none of it.
const clusterSetup = () => import('../setup/cluster.js');

export function registerCluster(program: Command): void {
  const cluster = program
    .command('cluster')
    .description('a PostgreSQL-backed Temporal cluster with its Web UI on this machine: up | down | status');
  cluster
    .command('up')
    .description('build what is missing (first time: minutes), start what is not running, register the namespace')
    .action(async () => {
      await (await clusterSetup()).clusterUp(loadConfig());
    });
  cluster
    .command('down')
    .description('stop the Web UI, the server and PostgreSQL; the data stays for the next up')
    .action(async () => {
      await (await clusterSetup()).clusterDown(loadConfig());
    });
  cluster
    .command('status')
    .description('each component: up, down, starting or external (another program on its port), and where')
    .action(async () => {
      for (const c of await (await clusterSetup()).clusterStatus(loadConfig()))
        console.log(`  ${c.name.padEnd(15)} ${c.state.padEnd(8)} ${c.url}${c.pid ? ` (pid ${c.pid})` : ''}`);
    });
}
