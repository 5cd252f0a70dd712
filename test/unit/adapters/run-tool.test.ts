// The tool runner, with the worker's environment holding credentials (as a production worker's
// does): no tool run sees them, whether it gets the configured tool environment (melange, apko) or
// the default one (git); a failure is classified by the tool's own words; and no run may switch
// signature checks off.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { runTool } from '../../../adapters/run-tool.js';
import { git } from '../../../adapters/git.js';
import { loadConfig } from '../../../config/config.js';
import { failureOf } from '../../failure-of.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiln-run-tool-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

// What today's runner would hand on: the worker process's own environment.
const SECRETS = {
  KILN_REGISTRY_PASSWORD: 'hunter2-registry',
  KILN_REGISTRY_USERNAME: 'kiln-robot',
  KILN_OIDC_TOKEN: 'eyJ-oidc-token',
  TEMPORAL_API_KEY: 'temporal-api-key',
  GITHUB_TOKEN: 'ghp-token',
};
beforeEach(() => {
  for (const [name, value] of Object.entries(SECRETS)) vi.stubEnv(name, value);
});
afterEach(() => {
  vi.unstubAllEnvs();
});

const variables = (envOutput: string) =>
  new Map(
    envOutput
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );

describe('the environment a tool runs with', () => {
  it('melange and apko get config.tools.environment and their own variables, no credential', async () => {
    // The worker's configuration is loaded from the same environment that holds the secrets.
    const config = loadConfig({ ...process.env, ...SECRETS, HOME: '/home/kiln' });
    const logFile = join(dir, 'env.log');
    const r = await runTool({
      label: 'env',
      command: 'env',
      args: [],
      logFile,
      baseEnv: config.tools.environment,
      env: { SOURCE_DATE_EPOCH: '0' },
    });
    const seen = variables(r.stdout);
    expect(seen.get('SOURCE_DATE_EPOCH')).toBe('0');
    expect(seen.get('HOME')).toBe('/home/kiln');
    expect(seen.get('PATH')).toBe(config.tools.searchPath);
    const log = await readFile(logFile, 'utf8');
    for (const [name, value] of Object.entries(SECRETS)) {
      expect(seen.has(name), name).toBe(false);
      expect(log).not.toContain(value);
    }
  });

  it('git, run without a config, gets the system PATH, HOME and TMPDIR, no credential', async () => {
    // A shell alias makes git print the environment it was started with.
    const r = await git(dir, ['-c', 'alias.kilnenv=!env', 'kilnenv']);
    expect(r.exitCode).toBe(0);
    const seen = [...variables(r.stdout).keys()].filter((n) => !n.startsWith('GIT_'));
    expect(seen.sort()).toEqual(expect.arrayContaining(['HOME', 'PATH']));
    for (const name of seen) expect(['HOME', 'PATH', 'TMPDIR', 'PWD', 'SHLVL', '_', 'OLDPWD']).toContain(name);
    for (const value of Object.values(SECRETS)) expect(r.stdout).not.toContain(value);
  });
});

describe('a failed run, by cause', () => {
  const fails = (words: string) =>
    runTool({
      label: 'melange build',
      command: 'sh',
      args: ['-c', `echo "${words}"; exit 1`],
      logFile: join(dir, `fail-${Math.random().toString(36).slice(2)}.log`),
    });

  it('the network: ToolNetworkFailure, retryable, quoting the line', async () => {
    const err = await failureOf(fails('wget: server returned error: HTTP/1.1 503 Service Unavailable'));
    expect(err.type).toBe('ToolNetworkFailure');
    expect(err.nonRetryable).toBe(false);
    expect(err.message).toMatch(
      /^melange build failed with exit code 1 because the network failed it \(wget: server returned error: HTTP\/1\.1 503 Service Unavailable\); retried with backoff; log: /,
    );
  });

  it('a 404 or a bad config: ToolFailed, never retried', async () => {
    for (const words of [
      'wget: server returned error: HTTP/1.1 404 Not Found',
      'yaml: line 3: did not find expected key',
    ]) {
      const err = await failureOf(fails(words));
      expect(err.type).toBe('ToolFailed');
      expect(err.nonRetryable).toBe(true);
    }
  });

  it('an index outside the keyring: SignatureInvalid naming the repository and the keys', async () => {
    const err = await failureOf(
      fails(
        'Error: reading index /srv/repo/x86_64/APKINDEX.tar.gz: no signature with known key (one of: [kiln.rsa.pub]) found in repository index',
      ),
    );
    expect(err.type).toBe('SignatureInvalid');
    expect(err.nonRetryable).toBe(true);
    expect(err.message).toMatch(
      /repository \/srv\/repo is not trusted: its index \/srv\/repo\/x86_64\/APKINDEX\.tar\.gz is signed by an unknown key, which is not in catalog\.yaml keyring \(kiln\.rsa\.pub\)/,
    );
  });

  it("reads only this run's words: an earlier run's failure in the same log is not this one's cause", async () => {
    const logFile = join(dir, 'shared.log');
    const say = (words: string) =>
      failureOf(runTool({ label: 'melange build', command: 'sh', args: ['-c', `echo "${words}"; exit 1`], logFile }));
    expect((await say('dial tcp 10.0.0.1:443: i/o timeout')).type).toBe('ToolNetworkFailure');
    expect((await say('package linter error: usrmerge linter FAILED')).type).toBe('ToolFailed');
  });

  it('refuses to switch signature checks off', async () => {
    for (const flag of ['--ignore-signatures', '--allow-untrusted']) {
      const err = await failureOf(
        runTool({ label: 'apko build', command: 'true', args: [flag], logFile: join(dir, 'x.log') }),
      );
      expect(err.type).toBe('ConfigInvalid');
      expect(err.message).toContain(`kiln never runs a tool with ${flag}`);
    }
  });
});
