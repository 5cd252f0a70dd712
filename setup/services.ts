// The embedded services of one machine: the Temporal dev server (SQLite file, so runs survive a
// restart; Web UI on 127.0.0.1) and Debian's docker-registry. Loopback only. Each runs detached
// with a pid file and a log under KILN_STATE/services, so `dev up` from any shell finds them again.
// Beside them, busybox httpd serves the package repository and, when setup made one, the source mirror.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:net';
import type { KilnConfig } from '../config/config.js';
import { devServerCommand } from '../adapters/temporal-cli.js';
import { failure } from '../domain/failures.js';
import { processAlive } from '../io/lock.js';
import { KILN_SEARCH_ATTRIBUTES } from '../workflows/search-attributes.js';
import { MIRROR_HOST, MIRROR_PORT, MIRROR_URL } from './source-mirror.js';

export interface Service {
  name: string;
  host: string;
  port: number;
  /** What to show a person: where to look. */
  url: string;
  command: string;
  args: string[];
}

function hostPort(address: string, defaultPort: number): { host: string; port: number } {
  const [host, port] = address
    .replace(/^https?:\/\//, '')
    .split('/')[0]!
    .split(':');
  return { host: host || '127.0.0.1', port: port ? Number(port) : defaultPort };
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host.startsWith('127.') || host === '::1' || host === '[::1]';
}

export function embeddedServices(config: KilnConfig): Service[] {
  const dir = config.paths.services;
  const temporal = config.temporal;
  const t = hostPort(temporal.connection.address, 7233);
  const ui = hostPort(temporal.webUi, 8233);
  const r = hostPort(config.registry, 5000);
  const services: Service[] = [];
  if (isLoopback(t.host)) {
    services.push({
      name: 'temporal',
      host: t.host,
      port: t.port,
      url: `${temporal.webUi} (gRPC ${t.host}:${t.port})`,
      ...devServerCommand(config, {
        dbFile: join(dir, 'temporal.db'),
        port: t.port,
        uiPort: ui.port,
        namespace: temporal.namespace,
        searchAttributes: KILN_SEARCH_ATTRIBUTES,
      }),
    });
  }
  // The signed package repository over HTTP, as apko and apk clients elsewhere would read it.
  const repo = hostPort(config.repositoryUrl, 8090);
  if (isLoopback(repo.host)) {
    services.push({
      name: 'packages',
      host: repo.host,
      port: repo.port,
      url: `http://${repo.host}:${repo.port}/ (serves ${join(config.paths.state, 'repo')})`,
      command: '/bin/busybox',
      args: ['httpd', '-f', '-p', `${repo.host}:${repo.port}`, '-h', join(config.paths.state, 'repo')],
    });
  }
  // The upstream source mirror (setup/source-mirror.ts), when setup made one for this state: the
  // tarballs catalogs `fetch` from a fixed loopback address, as from their projects' sites.
  const mirror = join(config.paths.state, 'mirror');
  if (existsSync(mirror)) {
    services.push({
      name: 'mirror',
      host: MIRROR_HOST,
      port: MIRROR_PORT,
      url: `${MIRROR_URL}/ (serves ${mirror})`,
      command: '/bin/busybox',
      args: ['httpd', '-f', '-p', `${MIRROR_HOST}:${MIRROR_PORT}`, '-h', mirror],
    });
  }
  if (isLoopback(r.host)) {
    const config = join(dir, 'registry.yml');
    services.push({
      name: 'registry',
      host: r.host,
      port: r.port,
      url: `http://${r.host}:${r.port}/v2/`,
      command: '/usr/bin/docker-registry',
      args: ['serve', config],
    });
  }
  return services;
}

function registryConfig(storage: string, port: number): string {
  return [
    'version: 0.1',
    'log: {level: warn}',
    'storage:',
    `  filesystem: {rootdirectory: ${JSON.stringify(storage)}}`,
    '  delete: {enabled: true}',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    '',
  ].join('\n');
}

export function portOpen(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect({ host, port });
    const finish = (ok: boolean) => {
      socket.destroy();
      done(ok);
    };
    socket.setTimeout(timeoutMs, () => finish(false));
    socket.once('connect', () => finish(true));
    socket.once('error', () => finish(false));
  });
}

function pidFile(config: KilnConfig, name: string): string {
  return join(config.paths.services, `${name}.pid`);
}

function runningPid(config: KilnConfig, name: string): number | undefined {
  const file = pidFile(config, name);
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, 'utf8'));
  return processAlive(pid) ? pid : undefined;
}

export interface ServiceStatus {
  name: string;
  url: string;
  state: 'running' | 'stopped' | 'external';
  pid?: number;
}

export async function servicesStatus(config: KilnConfig): Promise<ServiceStatus[]> {
  const out: ServiceStatus[] = [];
  for (const s of embeddedServices(config)) {
    const pid = runningPid(config, s.name);
    const open = await portOpen(s.host, s.port);
    out.push({ name: s.name, url: s.url, state: open ? (pid ? 'running' : 'external') : 'stopped', pid });
  }
  return out;
}

/** Starts what is not running yet and waits until it accepts connections. */
export async function servicesUp(config: KilnConfig, log = console.log): Promise<void> {
  const dir = config.paths.services;
  mkdirSync(dir, { recursive: true });
  for (const s of embeddedServices(config)) {
    if (await portOpen(s.host, s.port)) {
      log(`    ${s.name}: already up at ${s.url}`);
      continue;
    }
    if (s.name === 'packages') mkdirSync(join(config.paths.state, 'repo'), { recursive: true });
    if (s.name === 'registry') {
      mkdirSync(join(dir, 'registry'), { recursive: true });
      writeFileSync(join(dir, 'registry.yml'), registryConfig(join(dir, 'registry'), s.port));
    }
    const logFd = openSync(join(dir, `${s.name}.log`), 'a');
    const child = spawn(s.command, s.args, { detached: true, stdio: ['ignore', logFd, logFd] });
    child.unref();
    writeFileSync(pidFile(config, s.name), String(child.pid));
    const deadline = Date.now() + 60_000;
    while (!(await portOpen(s.host, s.port))) {
      if (child.exitCode !== null || Date.now() > deadline) {
        throw failure('ToolCrashed', `${s.name} did not start; see ${join(dir, `${s.name}.log`)}`);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    log(`    ${s.name}: started at ${s.url} (pid ${child.pid})`);
  }
}

export async function servicesDown(config: KilnConfig, log = console.log): Promise<void> {
  for (const s of embeddedServices(config)) {
    const pid = runningPid(config, s.name);
    if (!pid) {
      log(`    ${s.name}: not running (or not started by kiln)`);
      continue;
    }
    process.kill(pid, 'SIGTERM');
    for (let i = 0; i < 100 && runningPid(config, s.name); i++) await new Promise((r) => setTimeout(r, 100));
    rmSync(pidFile(config, s.name), { force: true });
    log(`    ${s.name}: stopped`);
  }
}
