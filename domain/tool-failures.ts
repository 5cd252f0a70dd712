// Domain: why a tool failed, read from its own words (the tail of its log), pure. A tool that exits
// non-zero has usually judged its input (ToolFailed, never retried), but two causes are not the
// input's: the network (a refused or reset connection, a timeout, DNS, a 5xx or 429 from a source or
// index URL: retried with backoff, ToolNetworkFailure), and a repository whose index does not verify
// with the catalog's keyring (SignatureInvalid: said plainly, naming the repository and the keys).
// A Go tool (melange, apko) that a signal took down from outside its Go code (kill -SEGV, a crash in
// C it calls) does not die by the signal: its runtime prints the signal and every goroutine, then
// exits 2. That is a crash, not a verdict (runtimeCrash: ToolCrashed, retried).

export type ToolFailureCause =
  | { kind: 'verdict' }
  /** `evidence`: the line that says so. */
  | { kind: 'network'; evidence: string }
  | {
      kind: 'untrusted-index';
      /** The repository (the index URL without `/<arch>/APKINDEX.tar.gz`) and its index. */
      repository: string;
      index: string;
      /** What is wrong with its signature, in words for a message. */
      reason: string;
      evidence: string;
    };

// Words of busybox and GNU wget (melange `fetch` and `runs:` steps), curl and git (git-checkout),
// and Go's net/http as melange and apko print it (repository indexes and APK downloads).
const NETWORK = [
  /connection refused/i,
  /connection reset/i,
  /connection timed out|operation timed out|download timed out|i\/o timeout|TLS handshake timeout/i,
  /context deadline exceeded|Client\.Timeout exceeded|awaiting headers/i,
  /no such host|could not resolve host|temporary failure in name resolution|name or service not known/i,
  /unable to resolve host address|wget: bad address/i,
  /network is unreachable|no route to host|couldn't connect to server|failed to connect to/i,
  /wget: error getting response|unable to establish SSL connection|server sent GOAWAY/i,
  /giving up after \d+ attempt/i, // go-retryablehttp: it retried a 5xx or a network error itself
  /(early EOF|unexpected disconnect while reading)/i,
  // A transient HTTP status: 408, 429, 500, 502, 503, 504, as each tool prints one.
  /(HTTP\/[\d.]+|HTTP|ERROR|status code|returned error:?)\s+(408|429|500|502|503|504)\b/i,
  /\b(429 Too Many Requests|500 Internal Server Error|502 Bad Gateway|503 Service Unavailable|504 Gateway Time-?out)/i,
];
/** `unexpected EOF` is the network only while something is fetched (a truncated local file is not). */
const TRUNCATED_DOWNLOAD = /unexpected EOF/i;
const DOWNLOADING = /https?:\/\/|fetch|download|reading body/i;
// A definite answer from the server: the request itself was wrong, a retry gets the same answer.
const CLIENT_ERROR = [
  /(HTTP\/[\d.]+|HTTP|ERROR|status code|returned error:?)\s+(400|401|403|404|405|410)\b/i,
  /\b(400 Bad Request|401 Unauthorized|403 Forbidden|404 Not Found|410 Gone)\b/i,
];

/** go-apk's words for an index that does not verify (melange and apko both use it). */
const UNTRUSTED_INDEX =
  /reading index (\S+): (failed to find key name in signature file name: \S+|no signature with known key \(one of: \[([^\]]*)\]\) found in repository index|signature verification failed for repository index, for all provided keys|no keys provided to verify signature)/;
const SKIPPED_SIGNATURE = /skipping signature \S+ due to missing keyfile: (\S+)/g;
const FAILED_KEY = /failed to verify signature for keyfile (\S+):/g;

function untrustedIndex(log: string): ToolFailureCause | undefined {
  const m = [...log.matchAll(new RegExp(UNTRUSTED_INDEX, 'g'))].pop();
  if (!m) return undefined;
  const index = m[1]!;
  const words = m[2]!;
  const keyring = (m[3] ?? '').split(/\s+/).filter(Boolean);
  const signers = [...new Set([...log.matchAll(SKIPPED_SIGNATURE)].map((s) => s[1]!))];
  const failed = [...new Set([...log.matchAll(FAILED_KEY)].map((s) => s[1]!))];
  let reason: string;
  if (words.startsWith('failed to find key name')) reason = 'is not signed';
  else if (words.startsWith('no keys provided')) reason = 'cannot be verified: catalog.yaml keyring is empty';
  else if (words.startsWith('no signature with known key'))
    reason = `is signed by ${signers.length ? signers.join(', ') : 'an unknown key'}, which is not in catalog.yaml keyring (${keyring.join(', ')})`;
  else
    reason = `is signed under the name ${failed.length ? failed.join(', ') : 'of a keyring key'}, but the signature does not verify with the keyring's key of that name: another key signed it, or the index changed after signing`;
  return {
    kind: 'untrusted-index',
    repository: index.replace(/\/[^/]+\/APKINDEX\.tar\.gz$/, ''),
    index,
    reason,
    evidence: m[0],
  };
}

// Go's runtime, for a signal it did not expect: `SIGSEGV: segmentation violation` then
// `PC=0x… m=0 sigcode=0` (sigcode 0: sent by another process), before the goroutine dump.
const GO_RUNTIME_SIGNAL = /^(SIG[A-Z]+): ([^\n]+)\nPC=0x[0-9a-f]+ m=\d+ sigcode=-?\d+/m;

/**
 * The signal a Go tool's runtime reports it was taken down by, from the tool's whole output (the
 * goroutine dump that follows is longer than any tail), or undefined.
 */
export function runtimeCrash(output: string): { signal: string; evidence: string } | undefined {
  const m = GO_RUNTIME_SIGNAL.exec(output);
  return m ? { signal: m[1]!, evidence: `${m[1]}: ${m[2]}` } : undefined;
}

/**
 * The cause of a tool's non-zero exit, from its log's tail. An index that does not verify wins;
 * otherwise the last line that names either a network problem or a definite client error (4xx)
 * decides, so a 404 after an earlier refused connection is still the request's fault.
 */
export function classifyToolFailure(log: string): ToolFailureCause {
  const untrusted = untrustedIndex(log);
  if (untrusted) return untrusted;
  const lines = log.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!;
    if (CLIENT_ERROR.some((p) => p.test(line))) return { kind: 'verdict' };
    if (NETWORK.some((p) => p.test(line)) || (TRUNCATED_DOWNLOAD.test(line) && DOWNLOADING.test(line)))
      return { kind: 'network', evidence: line.replace(/^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d (\w+ )?/, '').trim() };
  }
  return { kind: 'verdict' };
}
