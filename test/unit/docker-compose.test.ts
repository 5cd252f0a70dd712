// No Docker engine runs here, so the production-like stack is checked as data: it must parse, name
// every service, image, port and volume a user of it needs, and run the cluster `kiln cluster up`
// runs (same versions, schema steps, shards, namespace and search attributes).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { CLUSTER_TOOLS } from '../../adapters/toolchain.js';
import { loadConfig, REPO_ROOT } from '../../config/config.js';
import { clusterLayout, NAMESPACE_RETENTION, NUM_HISTORY_SHARDS, schemaCommands } from '../../setup/cluster-config.js';
import { toolsToBuild, WORKER_TOOLS } from '../../setup/setup.js';
import { KILN_SEARCH_ATTRIBUTES } from '../../workflows/search-attributes.js';

interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  ports?: string[];
  volumes?: string[];
  environment?: Record<string, string>;
  depends_on?: string[] | Record<string, unknown>;
  command?: string[];
}

// Compose reads YAML merge keys (`<<: *kiln-worker`).
const compose = parse(readFileSync(join(REPO_ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
};

describe('docker-compose.yml', () => {
  it('has the whole production-like stack', () => {
    expect(Object.keys(compose.services).sort()).toEqual(
      [
        'kiln-worker-a',
        'kiln-worker-b',
        'postgresql',
        'registry',
        'temporal',
        'temporal-admin-tools',
        'temporal-schema',
        'temporal-ui',
      ].sort(),
    );
  });

  it('pins the server images to the versions `kiln cluster up` builds and runs', () => {
    const server = CLUSTER_TOOLS['temporal-server'].version;
    // Debian 12's PostgreSQL, which `kiln cluster up` installs.
    expect(compose.services.postgresql!.image).toBe('postgres:15');
    expect(compose.services.temporal!.image).toBe(`temporalio/server:${server}`);
    expect(compose.services['temporal-schema']!.image).toBe(`temporalio/admin-tools:${server}`);
    expect(compose.services['temporal-admin-tools']!.image).toBe(`temporalio/admin-tools:${server}`);
    expect(compose.services['temporal-ui']!.image).toBe(`temporalio/ui:${CLUSTER_TOOLS['temporal-ui-server'].version}`);
    expect(compose.services.registry!.image).toMatch(/^registry:2/);
  });

  it('sets up the schema, shards and namespace as `kiln cluster up` does', () => {
    // The schema job's loop, expanded, is exactly the steps `kiln cluster up` runs.
    const script = compose.services['temporal-schema']!.command![0]!;
    expect(script).toMatch(/sql="temporal-sql-tool --plugin postgres12 /);
    const pairs = /for pair in ([^;]+);/
      .exec(script)![1]!
      .trim()
      .split(/\s+/)
      .map((p) => p.split(':') as [string, string]);
    const steps = [...script.matchAll(/\$\$sql (--db \$\$db [^;]+);/g)].map((m) => m[1]!);
    const expanded = pairs.flatMap(([db, schema]) =>
      steps.map((step) => step.replace('$$db', db).replace('$$schema', schema)),
    );
    const layout = clusterLayout(loadConfig({ KILN_STATE: '/srv/kiln' }));
    const kiln = schemaCommands('temporal-sql-tool', '/etc/temporal/schema/postgresql/v12', layout).map((c) =>
      c.args.slice(c.args.indexOf('--db')).join(' '),
    );
    expect(expanded).toEqual(kiln);

    expect(compose.services.temporal!.environment).toMatchObject({
      DB: 'postgres12',
      NUM_HISTORY_SHARDS: String(NUM_HISTORY_SHARDS),
    });
    expect(compose.services.temporal!.depends_on).toEqual({
      'temporal-schema': { condition: 'service_completed_successfully' },
    });
    expect(JSON.stringify(compose.services['temporal-admin-tools'])).toContain(
      `namespace create --namespace default --retention ${NAMESPACE_RETENTION}`,
    );
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
    expect([...new Set(used)].sort()).toEqual([
      'kiln-state-a',
      'kiln-state-b',
      'postgresql-data',
      'registry-data',
      'shared',
    ]);
    for (const v of used) expect(Object.keys(compose.volumes)).toContain(v);
  });

  it('builds two workers from the Dockerfile, sharing no state volume, only the shared one and the stack', () => {
    expect(readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8')).toMatch(/scripts\/setup --tools-only/);
    const [a, b] = [compose.services['kiln-worker-a']!, compose.services['kiln-worker-b']!];
    for (const [worker, id] of [
      [a, 'a'],
      [b, 'b'],
    ] as const) {
      expect(worker.build).toEqual({ context: '.', dockerfile: 'Dockerfile' });
      expect(worker.environment).toMatchObject({
        TEMPORAL_ADDRESS: 'temporal:7233',
        KILN_REGISTRY: 'registry:5000',
        KILN_ARTIFACTS: 'registry:5000/kiln-artifacts',
        KILN_SHARED: '/var/lib/kiln-shared',
        KILN_WORKER_ID: id,
      });
    }
    expect(a.volumes).toEqual(['kiln-state-a:/var/lib/kiln', 'shared:/var/lib/kiln-shared']);
    expect(b.volumes).toEqual(['kiln-state-b:/var/lib/kiln', 'shared:/var/lib/kiln-shared']);
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
