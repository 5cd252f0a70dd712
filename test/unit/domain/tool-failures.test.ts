// Why a tool failed, from its own words. The lines are what the tools print (captured from melange
// 0.58.0, apko 1.2.31, busybox and GNU wget, curl, git): the network is retried, a request the
// server refused (4xx) or a bad config is not, and an index outside the keyring is said plainly.
import { describe, expect, it } from 'vitest';
import { classifyToolFailure, runtimeCrash } from '../../../domain/tool-failures.js';

const melange = (line: string) =>
  [
    '2026/11/27 14:37:14 INFO installing busybox (1.35.0-r0)',
    '2026/11/27 14:37:14 WARN Connecting to 127.0.0.1:18765 (127.0.0.1:18765)',
    `2026/11/27 14:37:14 WARN ${line}`,
    '2026/11/27 14:37:14 ERRO failed to build package: unable to run package tn pipeline: unable to run pipeline: exit status 1',
  ].join('\n');

describe('network failures are retried', () => {
  const network = [
    // busybox wget in a melange `runs:` step
    melange('wget: server returned error: HTTP/1.1 503 Service Unavailable'),
    melange('wget: server returned error: HTTP/1.1 502 Bad Gateway'),
    melange("wget: can't connect to remote host (127.0.0.1): Connection refused"),
    melange('wget: error getting response'),
    melange("wget: bad address 'sources.example'"),
    melange('wget: download timed out'),
    // GNU wget (melange's fetch pipeline)
    melange('ERROR 503: Service Unavailable.'),
    melange('Read error at byte 1024/4096 (Connection reset by peer). Giving up.'),
    melange("wget: unable to resolve host address 'sources.example'"),
    // git-checkout (git over curl)
    melange("fatal: unable to access 'https://git.example/x.git/': Could not resolve host: git.example"),
    melange("fatal: unable to access 'https://git.example/x.git/': The requested URL returned error: 504"),
    melange('error: RPC failed; curl 56 Recv failure: Connection reset by peer'),
    melange('fatal: early EOF'),
    // melange/apko fetching an index or an APK (Go net/http)
    'Error: locking config: resolving apk packages: for arch "amd64": error getting repository indexes: reading index http://127.0.0.1:18766/repo/x86_64/APKINDEX.tar.gz: Head "http://127.0.0.1:18766/repo/x86_64/APKINDEX.tar.gz": HEAD http://127.0.0.1:18766/repo/x86_64/APKINDEX.tar.gz giving up after 5 attempt(s): Head "http://127.0.0.1:18766/repo/x86_64/APKINDEX.tar.gz": dial tcp 127.0.0.1:18766: connect: connection refused',
    'Error: reading index http://no-such-host.invalid/repo/x86_64/APKINDEX.tar.gz: Head "http://no-such-host.invalid/repo/x86_64/APKINDEX.tar.gz": dial tcp: lookup no-such-host.invalid on 10.255.255.53:53: no such host',
    'Error: reading index https://packages.example/os/x86_64/APKINDEX.tar.gz: unexpected status code 503',
    'ERRO failed to build package: unable to build guest: installing apk packages: fetching https://packages.example/os/x86_64/busybox-1.36.1-r2.apk: reading body: unexpected EOF',
    'ERRO failed to build package: Get "https://packages.example/os/x86_64/APKINDEX.tar.gz": net/http: TLS handshake timeout',
    'ERRO Get "https://sources.example/x.tar.gz": dial tcp 10.0.0.1:443: i/o timeout',
  ];
  it.each(network)('%s', (log) => {
    const cause = classifyToolFailure(log);
    expect(cause.kind).toBe('network');
  });

  it('quotes the line that says so, without the log prefix', () => {
    expect(classifyToolFailure(melange('wget: server returned error: HTTP/1.1 503 Service Unavailable'))).toEqual({
      kind: 'network',
      evidence: 'wget: server returned error: HTTP/1.1 503 Service Unavailable',
    });
  });
});

describe('verdicts are not retried', () => {
  const verdicts = [
    melange('wget: server returned error: HTTP/1.1 404 Not Found'),
    melange('ERROR 404: Not Found.'),
    melange("fatal: unable to access 'https://git.example/x.git/': The requested URL returned error: 403"),
    melange('fetch: Expected sha256 does not match found: 0123abcd'),
    // a bad config, a lint, a failing test
    'Error: failed to load configuration: unable to parse configuration file "packages/x.yaml": yaml: line 3: did not find expected key',
    'ERRO failed to build package: package linter error: usrmerge linter FAILED',
    'Error: locking config: resolving apk packages: for arch "amd64": solving "busybox=0.0.1-r0" constraint: could not find package that provides busybox=0.0.1-r0 in indexes',
    // a truncated local archive is not the network
    'ERRO unable to read apk: gzip: unexpected EOF',
    '',
  ];
  it.each(verdicts)('%s', (log) => {
    expect(classifyToolFailure(log)).toEqual({ kind: 'verdict' });
  });

  it('the last decisive line wins: a 404 after a refused connection is the request', () => {
    const log = [
      melange("wget: can't connect to remote host (127.0.0.1): Connection refused"),
      'WARN wget: server returned error: HTTP/1.1 404 Not Found',
      'ERRO failed to build package: exit status 1',
    ].join('\n');
    expect(classifyToolFailure(log).kind).toBe('verdict');
  });
});

describe('an index outside the keyring', () => {
  const apko = (words: string, warn = '') =>
    [
      warn,
      `Error: locking config: resolving apk packages: for arch "amd64": error getting repository indexes: reading index /tmp/kx/repo/x86_64/APKINDEX.tar.gz: ${words}`,
    ].join('\n');

  it('unsigned', () => {
    expect(classifyToolFailure(apko('failed to find key name in signature file name: APKINDEX'))).toMatchObject({
      kind: 'untrusted-index',
      repository: '/tmp/kx/repo',
      index: '/tmp/kx/repo/x86_64/APKINDEX.tar.gz',
      reason: 'is not signed',
    });
  });

  it('signed by a key the keyring does not have, naming both', () => {
    const cause = classifyToolFailure(
      apko(
        'no signature with known key (one of: [kiln.rsa.pub]) found in repository index',
        '2026/11/27 14:37:04 WARN skipping signature .SIGN.RSA256.foreign.rsa.pub due to missing keyfile: foreign.rsa.pub',
      ),
    );
    expect(cause).toMatchObject({
      kind: 'untrusted-index',
      reason: 'is signed by foreign.rsa.pub, which is not in catalog.yaml keyring (kiln.rsa.pub)',
    });
  });

  it("re-signed under the keyring key's name by another key", () => {
    const cause = classifyToolFailure(
      apko(
        'signature verification failed for repository index, for all provided keys',
        '2026/11/27 14:37:04 WARN failed to verify signature for keyfile kiln.rsa.pub: verify PKCS1v15 signature: crypto/rsa: verification error',
      ),
    );
    expect(cause.kind).toBe('untrusted-index');
    expect(cause.kind === 'untrusted-index' && cause.reason).toMatch(
      /^is signed under the name kiln\.rsa\.pub, but the signature does not verify/,
    );
  });
});

describe('a Go tool taken down by a signal', () => {
  // melange 0.58.0 after `kill -SEGV` from outside (the fault suite): its runtime prints the signal,
  // then every goroutine (hundreds of lines), then exits 2.
  const crashed = [
    '2026/11/27 20:35:51 INFO installing busybox (1.35.0-r0)',
    'SIGSEGV: segmentation violation',
    'PC=0x493441 m=0 sigcode=0 addr=0x693e',
    '',
    'goroutine 0 gp=0x25c66c0 m=0 mp=0x25c7e80 [idle]:',
    'runtime.futex(0x25c7fd8, 0x80, 0x0, 0x0, 0x0, 0x0)',
    ...Array.from({ length: 300 }, (_, i) => `\truntime/proc.go:${i} +0x21 fp=0x7fff9a1c9ad0`),
    'rip    0x493441',
  ].join('\n');

  it('is a crash, named by its signal, however long the dump', () => {
    expect(runtimeCrash(crashed)).toEqual({ signal: 'SIGSEGV', evidence: 'SIGSEGV: segmentation violation' });
  });

  it('is not read into a failure that merely mentions a signal', () => {
    expect(runtimeCrash(melange('ERROR: test step received SIGSEGV: segmentation violation'))).toBeUndefined();
    expect(runtimeCrash(melange('wget: download timed out'))).toBeUndefined();
  });
});
