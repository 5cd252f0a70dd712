// No Docker engine runs here, so the production-like stack is checked as data: it must parse and
// name every service, image, port and volume a user of it needs.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { REPO_ROOT } from '../../config/config.js';
import { toolsToBuild, WORKER_TOOLS } from '../../setup/setup.js';
import { KILN_SEARCH_ATTRIBUTES } from '../../workflows/search-attributes.js';

interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  ports?: string[];
  volumes?: string[];
  environment?: Record<string, string>;
  depends_on?: string[] | Record<string, unknown>;
}

const compose = parse(readFileSync(join(REPO_ROOT, 'docker-compose.yml'), 'utf8')) as {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
};

describe('docker-compose.yml', () => {
  it('has the whole production-like stack', () => {
    expect(Object.keys(compose.services).sort()).toEqual(
      ['kiln-worker', 'postgresql', 'registry', 'temporal', 'temporal-admin-tools', 'temporal-ui'].sort(),
    );
  });

  it('pins the server images to the versions kiln is tested against', () => {
    expect(compose.services.postgresql!.image).toMatch(/^postgres:\d+/);
    expect(compose.services.temporal!.image).toBe('temporalio/auto-setup:1.29.1');
    expect(compose.services['temporal-ui']!.image).toBe('temporalio/ui:2.42.1');
    expect(compose.services.registry!.image).toMatch(/^registry:2/);
  });

  it('publishes the gRPC, Web UI and registry ports on loopback only', () => {
    const ports = Object.values(compose.services).flatMap((s) => s.ports ?? []);
    expect(ports).toEqual(
      expect.arrayContaining(['127.0.0.1:7233:7233', '127.0.0.1:8080:8080', '127.0.0.1:5000:5000']),
    );
    for (const p of ports) expect(p.startsWith('127.0.0.1:')).toBe(true);
  });

  it('keeps state in named volumes that exist', () => {
    const used = Object.values(compose.services)
      .flatMap((s) => s.volumes ?? [])
      .map((v) => v.split(':')[0]!);
    expect(used.sort()).toEqual(['kiln-state', 'postgresql-data', 'registry-data']);
    for (const v of used) expect(Object.keys(compose.volumes)).toContain(v);
  });

  it('builds the worker from the Dockerfile in this repository and points it at the stack', () => {
    const worker = compose.services['kiln-worker']!;
    expect(worker.build).toEqual({ context: '.', dockerfile: 'Dockerfile' });
    expect(readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8')).toMatch(/scripts\/setup --tools-only/);
    expect(worker.environment).toMatchObject({ TEMPORAL_ADDRESS: 'temporal:7233', KILN_REGISTRY: 'registry:5000' });
  });

  it('registers every search attribute the workflows write', () => {
    const command = JSON.stringify(compose.services['temporal-admin-tools']);
    const source = readFileSync(join(REPO_ROOT, 'workflows', 'search-attributes.ts'), 'utf8');
    const keys = [...source.matchAll(/defineSearchAttributeKey\('(\w+)'/g)].map((m) => m[1]!);
    expect(keys.length).toBeGreaterThan(0);
    expect(KILN_SEARCH_ATTRIBUTES.map((k) => k.name).sort()).toEqual([...keys].sort());
    for (const k of KILN_SEARCH_ATTRIBUTES) {
      expect(command).toContain(k.name);
      expect(k.type).toBe('KEYWORD'); // the admin tools create them as Keyword
    }
  });

  it('keeps cosign, which only the tests run, out of the worker image', () => {
    const dockerfile = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8');
    const setups = [...dockerfile.matchAll(/scripts\/setup([^&"\n]*)/g)].map((m) => m[1]!.trim());
    // At image build only the tools; at container start keys and the bootstrap repository, worker tools only.
    expect(setups).toEqual(['--tools-only', '--worker']);
    for (const flags of setups) {
      const tools = toolsToBuild({ toolsOnly: flags.includes('--tools-only'), worker: flags.includes('--worker') });
      expect(tools).toEqual([...WORKER_TOOLS]);
      expect(tools).not.toContain('cosign');
    }
    // A development or CI machine (plain scripts/setup) builds cosign for the tests.
    expect(toolsToBuild({})).toContain('cosign');
    expect(toolsToBuild({ tools: 'melange,apko' })).toEqual(['melange', 'apko']);
    expect(() => toolsToBuild({ tools: 'crane' })).toThrow(/unknown crane/);
  });
});
