// Workers that share no disk: the snapshot step stores the snapshot in kiln's artifact store (the
// real registry), and a worker with another state directory materializes it from there; what it
// accepts is only what kiln stored under that name and what matches the snapshot's digest.
import { generateKeyPairSync } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cp, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { snapshotCatalog, type CatalogSnapshot } from '../../../activities/snapshot.js';
import type { KilnConfig } from '../../../config/config.js';
import { readTar, writeTar } from '../../../domain/tar.js';
import { getArtifact, putArtifact } from '../../../io/artifact-store.js';
import { RECORD, catalogDigest } from '../../../io/catalog-snapshot.js';
import { localSnapshot, snapshotKey, snapshotTag } from '../../../io/snapshot-store.js';
import { kilnTestConfig, kilnTestEnv } from '../harness.js';
import { FIXTURES } from '../../fixtures/paths.js';

const env = kilnTestEnv();
const stamp = Date.now();
let snapshot: CatalogSnapshot;
let other: KilnConfig;

/** A second worker: its own state directory, the same keys and artifact store. */
async function otherWorker(name: string): Promise<KilnConfig> {
  const state = await mkdtemp(join(env.KILN_STATE, `${name}-`));
  await cp(join(env.KILN_STATE, 'keys'), join(state, 'keys'), { recursive: true });
  return kilnTestConfig(env, { KILN_STATE: state, KILN_ARTIFACTS: `${env.KILN_REGISTRY}/snapshots-${stamp}` });
}

beforeAll(async () => {
  const config = kilnTestConfig(env, { KILN_ARTIFACTS: `${env.KILN_REGISTRY}/snapshots-${stamp}` });
  snapshot = await snapshotCatalog(config, { catalogDir: join(FIXTURES, 'tiny') });
  other = await otherWorker('worker-b');
});

describe('a catalog snapshot on a worker that did not take it', () => {
  it('is materialized from the artifact store under its own state directory, files and record alike', async () => {
    // The other worker's directory is visible here (one machine), but never read.
    const local = await localSnapshot(other, snapshot.dir);
    expect(local).toBe(join(other.paths.snapshots, snapshotKey(snapshot.dir)));
    expect(local.startsWith(other.paths.state)).toBe(true);
    expect(await catalogDigest(join(FIXTURES, 'tiny'))).toBe(snapshot.digest);
    expect(JSON.parse(await readFile(join(local, RECORD), 'utf8'))).toEqual(
      JSON.parse(await readFile(join(snapshot.dir, RECORD), 'utf8')),
    );
    expect(await readFile(join(local, 'catalog.yaml'), 'utf8')).toBe(
      await readFile(join(FIXTURES, 'tiny', 'catalog.yaml'), 'utf8'),
    );
    // Once here, it is read from disk.
    expect(await localSnapshot(other, snapshot.dir)).toBe(local);
  });

  it('is refused when the stored artifact is not signed by kiln’s package key', async () => {
    const stranger = await otherWorker('stranger');
    await writeFile(
      stranger.paths.packageSigningKey,
      generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs1', format: 'pem' }),
    );
    const tag = `forged-${stamp}`;
    await putArtifact(stranger, tag, gzipSync(Buffer.from('x')), 'application/octet-stream');
    await expect(getArtifact(other, tag)).rejects.toMatchObject({ type: 'CorruptArtifact', nonRetryable: true });
  });

  it('is refused when its files do not match the snapshot digest, even signed by kiln', async () => {
    // What a bug, or anyone holding kiln's key, could store: the digest check still refuses it.
    const config = kilnTestConfig(env, { KILN_ARTIFACTS: `${env.KILN_REGISTRY}/snapshots-${stamp}` });
    const files = await readTar(gunzipSync((await getArtifact(config, snapshotTag(snapshot.dir)))!));
    const tampered = writeTar(
      files.map((f) => ({
        path: f.path,
        type: 'file' as const,
        mode: 0o644,
        content: f.path === 'catalog.yaml' ? Buffer.concat([f.data, Buffer.from('# changed\n')]) : f.data,
      })),
      { mtime: 0 },
    );
    await putArtifact(config, snapshotTag(snapshot.dir), gzipSync(tampered), 'application/octet-stream');
    const fresh = await otherWorker('worker-c');
    await expect(localSnapshot(fresh, snapshot.dir)).rejects.toMatchObject({ type: 'CorruptArtifact' });
    expect(existsSync(join(fresh.paths.snapshots, snapshotKey(snapshot.dir)))).toBe(false);
  });
});
