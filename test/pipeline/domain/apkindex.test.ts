// Reading a repository's APKINDEX.tar.gz: what the catalog loader relies on to know what a
// configured repository provides.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, inject, it } from 'vitest';
import { parseApkIndex, parseApkIndexText, providedNames } from '../../../domain/apkindex.js';
import { apkIndexFixture, BOOTSTRAP_STANZAS } from '../../fixtures/apkindex-fixture.js';
import type {} from '../global-setup.js';

describe('parseApkIndex', () => {
  it('reads every stanza of a signed index (signature member, then index member)', async () => {
    const entries = await parseApkIndex(
      apkIndexFixture([
        ...BOOTSTRAP_STANZAS,
        {
          P: 'libcrypto3',
          V: '3.3.2-r1',
          A: 'aarch64',
          S: 2_345_678,
          C: 'Q1abcdefghijklmnopqrstuvwxyz0=',
          o: 'openssl',
          D: ['so:libc.so.6', 'ca-certificates>=2024'],
          p: ['so:libcrypto.so.3=3'],
        },
      ]),
    );
    expect(entries.map((e) => e.name)).toEqual(['kiln-baselayout', 'busybox', 'libcrypto3']);
    expect(entries[1]).toMatchObject({
      name: 'busybox',
      version: '1.35.0-r0',
      arch: 'x86_64',
      origin: 'busybox',
      dependencies: ['kiln-baselayout'],
    });
    expect(entries[1]!.provides).toEqual(['cmd:sh=1.35.0-r0', 'cmd:cat=1.35.0-r0', 'cmd:grep=1.35.0-r0']);
    expect(entries[2]).toEqual({
      name: 'libcrypto3',
      version: '3.3.2-r1',
      arch: 'aarch64',
      size: 2_345_678,
      checksum: 'Q1abcdefghijklmnopqrstuvwxyz0=',
      origin: 'openssl',
      dependencies: ['so:libc.so.6', 'ca-certificates>=2024'],
      provides: ['so:libcrypto.so.3=3'],
    });
  });

  it('skips PAX headers and end-of-archive blocks between the members', async () => {
    const entries = await parseApkIndex(
      apkIndexFixture(BOOTSTRAP_STANZAS, { paxBeforeIndex: true, closedSignature: true }),
    );
    expect(entries.map((e) => `${e.name}-${e.version}`)).toEqual(['kiln-baselayout-1.0-r0', 'busybox-1.35.0-r0']);
  });

  it('rejects an archive without an APKINDEX file, and bytes that are not gzip', async () => {
    await expect(parseApkIndex(apkIndexFixture(BOOTSTRAP_STANZAS, { withoutIndex: true }))).rejects.toThrow(
      /no APKINDEX/,
    );
    await expect(parseApkIndex(Buffer.from('<html>404 Not Found</html>'))).rejects.toMatchObject({
      type: 'CorruptArtifact',
      nonRetryable: true,
    });
  });

  it('rejects a tar with no APKINDEX at all', async () => {
    await expect(parseApkIndex(gzipSync(Buffer.alloc(1024)))).rejects.toThrow(/no APKINDEX/);
  });

  it('reads the index melange wrote for the bootstrap repository', async () => {
    const state = inject('kilnEnv').KILN_STATE;
    const entries = await parseApkIndex(await readFile(join(state, 'bootstrap', 'x86_64', 'APKINDEX.tar.gz')));
    const busybox = entries.find((e) => e.name === 'busybox');
    expect(busybox?.arch).toBe('x86_64');
    expect(busybox?.checksum).toMatch(/^Q1[A-Za-z0-9+/]{27}=$/);
    expect(providedNames(entries)).toContain('cmd:sh');
    expect(providedNames(entries)).toContain('kiln-baselayout');
  });
});

describe('parseApkIndexText', () => {
  it('ignores stanzas without a package name and tolerates CRLF and trailing blank lines', () => {
    const entries = parseApkIndexText('C:Q1x=\r\nP:a\r\nV:1-r0\r\n\r\nV:2-r0\r\n\r\nP:b\nV:3-r0\n\n\n');
    expect(entries.map((e) => `${e.name}=${e.version}`)).toEqual(['a=1-r0', 'b=3-r0']);
  });
});

describe('providedNames', () => {
  it('lists package names and provides, without their versions', async () => {
    const names = providedNames(
      await parseApkIndex(
        apkIndexFixture([
          ...BOOTSTRAP_STANZAS,
          { P: 'libcrypto3', V: '3.3.2-r1', p: ['so:libcrypto.so.3=3', 'openssl-provider'] },
        ]),
      ),
    );
    expect([...names].sort()).toEqual([
      'busybox',
      'cmd:cat',
      'cmd:grep',
      'cmd:sh',
      'kiln-baselayout',
      'libcrypto3',
      'openssl-provider',
      'so:libcrypto.so.3',
    ]);
  });
});
