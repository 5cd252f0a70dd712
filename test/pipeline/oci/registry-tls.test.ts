// Publishing to a registry that wants TLS with a private CA and a password, as a production one
// does: a real docker-registry (Distribution) on a free loopback port with a certificate from a CA
// made here by openssl and an htpasswd (bcrypt) file; the registry activities run as on a worker,
// with the credentials and CA only in their configuration (as a worker reads them from its environment).
import { randomBytes } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { Agent, fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { assembleImage, type AssembledImage } from '../../../activities/image-assemble.js';
import { pushImage, tagImage } from '../../../activities/image-publish.js';
import { attestImage, signImage } from '../../../activities/image-sign.js';
import { verifyImage } from '../../../activities/image-verify.js';
import { snapshotCatalog } from '../../../activities/snapshot.js';
import type { KilnConfig } from '../../../config/config.js';
import { kilnTestConfig, kilnTestEnv, sha256 } from '../harness.js';
import { freePort } from '../global-setup.js';
import { FIXTURES } from '../../fixtures/paths.js';
import { failureOf as failure } from '../../failure-of.js';

const env = kilnTestEnv();
// Failing activities are the point of several cases; their WARN lines would only be noise.
const activities = new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });
const run = <P extends unknown[], R>(fn: (...args: P) => Promise<R>, ...args: P): Promise<R> =>
  activities.run(fn, ...args) as Promise<R>;

const USER = 'kiln-ci';
const PASSWORD = randomBytes(12).toString('hex');
const ENV_KEYS = [
  'KILN_REGISTRY_USERNAME',
  'KILN_REGISTRY_PASSWORD',
  'KILN_REGISTRY_CA',
  'KILN_REGISTRY_INSECURE',
] as const;

let dir: string;
let host: string;
let registry: ChildProcess | undefined;
let registryLog = '';
let image: AssembledImage;

const openssl = (...args: string[]) => execa('openssl', args, { cwd: dir });

/** A CA (key + self-signed certificate) in `<name>.key` / `<name>.pem`. */
async function makeCa(name: string): Promise<void> {
  await openssl(
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-days',
    '2',
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.pem`,
    '-subj',
    `/CN=${name}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  );
}

/** bcrypt, as Distribution's htpasswd wants it: libxcrypt's through perl's crypt() (cost 5 keeps the test quick). */
async function bcrypt(password: string): Promise<string> {
  const alphabet = './ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  // 22 characters carry 128 bits of salt; the last one's low bits must be zero.
  const salt = [...randomBytes(21)].map((b) => alphabet[b % 64]).join('') + '.Oeu'[randomBytes(1)[0]! % 4];
  const { stdout } = await execa('perl', ['-e', 'print crypt($ARGV[0], $ARGV[1])', password, `$2b$05$${salt}`]);
  if (!/^\$2b\$05\$[./A-Za-z0-9]{53}$/.test(stdout))
    throw new Error(`perl crypt() gave no bcrypt hash (${stdout}): libcrypt without bcrypt?`);
  return stdout;
}

async function waitForRegistry(url: string, ca: Buffer): Promise<void> {
  const dispatcher = new Agent({ connect: { ca } });
  const deadline = Date.now() + 20_000;
  for (;;) {
    const status = await fetch(url, { dispatcher }).then(
      (r) => r.status,
      () => 0,
    );
    if (status === 401) return;
    if (registry?.exitCode !== null || Date.now() > deadline)
      throw new Error(`docker-registry did not come up at ${url} (last status ${status}):\n${registryLog}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The registry as a person would read it with curl: over TLS with the CA, with or without the password. */
async function registryGet(path: string, credentials: boolean): Promise<{ status: number; body: Buffer }> {
  const res = await fetch(`https://${host}/v2/${path}`, {
    dispatcher: new Agent({ connect: { ca: await readFile(join(dir, 'ca.pem')) } }),
    headers: {
      accept: 'application/vnd.oci.image.index.v1+json',
      ...(credentials ? { authorization: `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}` } : {}),
    },
  });
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
}

/** A worker's configuration with exactly these registry settings. */
function useRegistry(settings: Partial<Record<(typeof ENV_KEYS)[number], string>>): KilnConfig {
  const unset = Object.fromEntries(ENV_KEYS.map((k) => [k, undefined]));
  // The registry is on loopback, where plain HTTP is the default: say that it speaks TLS.
  return kilnTestConfig(env, { ...unset, KILN_REGISTRY_INSECURE: 'false', ...settings });
}

beforeAll(async () => {
  expect((await execa('which', ['openssl'], { reject: false })).exitCode, 'openssl is needed to make the test CA').toBe(
    0,
  );
  dir = await mkdtemp(join(env.KILN_STATE, 'registry-tls-'));
  const port = await freePort();
  host = `127.0.0.1:${port}`;

  await makeCa('ca');
  await makeCa('other-ca');
  await openssl(
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    'server.key',
    '-out',
    'server.csr',
    '-subj',
    '/CN=127.0.0.1',
  );
  await writeFile(
    join(dir, 'server.ext'),
    'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n',
  );
  await openssl(
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    'server.ext',
    '-out',
    'server.pem',
  );
  await writeFile(join(dir, 'htpasswd'), `${USER}:${await bcrypt(PASSWORD)}\n`);
  await writeFile(
    join(dir, 'registry.yml'),
    [
      'version: 0.1',
      'log: {level: warn}',
      'storage:',
      `  filesystem: {rootdirectory: ${JSON.stringify(join(dir, 'data'))}}`,
      '  delete: {enabled: true}',
      'http:',
      `  addr: ${host}`,
      `  tls: {certificate: ${JSON.stringify(join(dir, 'server.pem'))}, key: ${JSON.stringify(join(dir, 'server.key'))}}`,
      'auth:',
      `  htpasswd: {realm: kiln-test, path: ${JSON.stringify(join(dir, 'htpasswd'))}}`,
      '',
    ].join('\n'),
  );
  registry = spawn('/usr/bin/docker-registry', ['serve', join(dir, 'registry.yml')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  for (const stream of [registry.stdout!, registry.stderr!])
    stream.on('data', (d: Buffer) => {
      registryLog = (registryLog + d.toString()).slice(-5000);
    });
  await waitForRegistry(`https://${host}/v2/`, await readFile(join(dir, 'ca.pem')));

  const config = kilnTestConfig(env);
  const snapshot = await run(snapshotCatalog, { ...config, catalogDir: join(FIXTURES, 'imgpipe-tls') }, {});
  image = await run(assembleImage, config, { snapshotDir: snapshot.dir, name: 'imgpipe-tls' });
});

afterAll(async () => {
  if (registry && registry.exitCode === null) {
    const exited = new Promise((done) => registry!.once('exit', done));
    registry.kill('SIGTERM');
    await exited;
  }
});

describe('a registry with TLS from a private CA and htpasswd auth', () => {
  const repository = () => `${host}/imgpipe/tls`;

  it('takes a push, signature, attestation and tag with the credentials and CA from the configuration', async () => {
    const config = useRegistry({
      KILN_REGISTRY_USERNAME: USER,
      KILN_REGISTRY_PASSWORD: PASSWORD,
      KILN_REGISTRY_CA: join(dir, 'ca.pem'),
    });
    const base = { repository: repository(), digest: image.digest };
    expect(await run(pushImage, config, { ...base, layoutDir: image.layoutDir })).toEqual({
      reference: `${repository()}@${image.digest}`,
      pushed: true,
    });
    expect((await run(signImage, config, { ...base, annotations: { 'dev.kiln/image': 'imgpipe-tls' } })).signed).toBe(
      true,
    );
    expect(
      await run(attestImage, config, { ...base, predicateType: 'spdxjson', predicateFile: image.sbomFile }),
    ).toEqual({ attested: true });
    expect(await run(tagImage, config, { ...base, tags: ['latest'] })).toEqual({ moved: ['latest'], unchanged: [] });
    expect(await run(verifyImage, config, { ...base, predicateTypes: ['spdxjson'] })).toEqual({
      signature: true,
      attestations: { spdxjson: true },
    });
    // And again: everything is already there.
    expect((await run(pushImage, config, { ...base, layoutDir: image.layoutDir })).pushed).toBe(false);
    expect((await run(signImage, config, { ...base, annotations: { 'dev.kiln/image': 'imgpipe-tls' } })).signed).toBe(
      false,
    );
  });

  it('serves the tag at the pushed digest to whoever has the password, and to nobody else', async () => {
    const tagged = await registryGet('imgpipe/tls/manifests/latest', true);
    expect(tagged.status).toBe(200);
    expect(sha256(tagged.body)).toBe(image.digest);
    expect((await registryGet('imgpipe/tls/manifests/latest', false)).status).toBe(401);
  });

  it('refuses a push without credentials, non-retryably, saying which variables to set', async () => {
    const anonymous = useRegistry({ KILN_REGISTRY_CA: join(dir, 'ca.pem') });
    const err = await failure(
      run(pushImage, anonymous, {
        repository: `${host}/imgpipe/tls-anonymous`,
        layoutDir: image.layoutDir,
        digest: image.digest,
      }),
    );
    expect(err.nonRetryable).toBe(true);
    expect(err.message).toMatch(/: 401 /);
    expect(err.message).toContain('fix: set KILN_REGISTRY_USERNAME and KILN_REGISTRY_PASSWORD');

    const wrongPassword = useRegistry({
      KILN_REGISTRY_USERNAME: USER,
      KILN_REGISTRY_PASSWORD: 'not-the-password',
      KILN_REGISTRY_CA: join(dir, 'ca.pem'),
    });
    const wrong = await failure(
      run(pushImage, wrongPassword, {
        repository: `${host}/imgpipe/tls-anonymous`,
        layoutDir: image.layoutDir,
        digest: image.digest,
      }),
    );
    expect(wrong.nonRetryable).toBe(true);
    expect(wrong.message).toContain(`fix: check KILN_REGISTRY_USERNAME (${USER}) and KILN_REGISTRY_PASSWORD`);
    expect((await registryGet('imgpipe/tls-anonymous/tags/list', true)).status).toBe(404);
  });

  it('refuses a registry whose certificate another CA issued, naming the certificate problem and the variable', async () => {
    const otherCa = useRegistry({
      KILN_REGISTRY_USERNAME: USER,
      KILN_REGISTRY_PASSWORD: PASSWORD,
      KILN_REGISTRY_CA: join(dir, 'other-ca.pem'),
    });
    const err = await failure(
      run(pushImage, otherCa, { repository: repository(), layoutDir: image.layoutDir, digest: image.digest }),
    );
    expect(err.type).toBe('RegistryUntrusted');
    expect(err.nonRetryable).toBe(true);
    expect(err.message).toMatch(
      new RegExp(`registry ${host} presented a certificate this worker does not trust: .*certificate`),
    );
    expect(err.message).toContain(`KILN_REGISTRY_CA ${join(dir, 'other-ca.pem')} is not the CA that issued it`);

    // No CA at all: the system roots do not know the private CA either.
    const noCa = useRegistry({ KILN_REGISTRY_USERNAME: USER, KILN_REGISTRY_PASSWORD: PASSWORD });
    const none = await failure(
      run(tagImage, noCa, { repository: repository(), digest: image.digest, tags: ['latest'] }),
    );
    expect(none.nonRetryable).toBe(true);
    expect(none.message).toContain('fix: set KILN_REGISTRY_CA to the PEM file of the CA that issued it');

    const missingCa = useRegistry({
      KILN_REGISTRY_USERNAME: USER,
      KILN_REGISTRY_PASSWORD: PASSWORD,
      KILN_REGISTRY_CA: join(dir, 'missing.pem'),
    });
    const missing = await failure(
      run(tagImage, missingCa, { repository: repository(), digest: image.digest, tags: ['latest'] }),
    );
    expect(missing.nonRetryable).toBe(true);
    expect(missing.message).toContain(`KILN_REGISTRY_CA ${join(dir, 'missing.pem')} cannot be read`);
  });
});
