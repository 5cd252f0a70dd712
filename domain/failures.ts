// kiln's one failure vocabulary. Every failure kiln raises has a type listed here, and whether
// Temporal retries it is decided here, by type, not at the throw site: a cause that a retry can
// change (a network blip, a 5xx, a killed process) is retryable; a judgement on the input (a bad
// config, a failed test, a bad signature) or a misconfigured worker is not. Pure: workflows use it too.
import { ApplicationFailure } from '@temporalio/common';

export const FAILURES = {
  // Configuration: never retried.
  ConfigInvalid: { retryable: false, meaning: 'kiln configuration (environment) is invalid' },
  ToolMissing: { retryable: false, meaning: 'a pinned tool is not installed on this worker' },
  SigningMisconfigured: { retryable: false, meaning: 'signing key or keyless settings are missing or unreadable' },
  RegistryMisconfigured: { retryable: false, meaning: 'registry reference, CA or credentials are unusable' },
  SandboxUnavailable: { retryable: false, meaning: 'bubblewrap cannot start a sandbox on this worker' },
  // Input: never retried.
  InvalidInput: { retryable: false, meaning: 'a workflow input or CLI argument is invalid' },
  CatalogInvalid: { retryable: false, meaning: 'the catalog does not validate' },
  CatalogChanged: { retryable: false, meaning: 'the catalog changed under a running update' },
  EpochNotBumped: { retryable: false, meaning: 'different inputs at a published version and epoch' },
  SourceUnverified: {
    retryable: false,
    meaning: 'the catalog commit is not signed by an allowed signer, or differs from the checked-out catalog',
  },
  ArtifactImmutable: { retryable: false, meaning: 'a published APK would change bytes: published files never do' },
  // Verdicts on what was built: never retried.
  ToolFailed: { retryable: false, meaning: 'a tool exited non-zero: it judged its input' },
  PackageTestFailed: { retryable: false, meaning: 'melange test failed' },
  ImageTestFailed: { retryable: false, meaning: 'an image functional test or expectation failed' },
  VulnerabilityPolicy: { retryable: false, meaning: 'known CVEs over the catalog policy' },
  SignatureInvalid: { retryable: false, meaning: 'an APK or index signature does not verify' },
  AbiBreak: { retryable: false, meaning: 'a new version no longer provides sonames the published one did' },
  SbomInvalid: { retryable: false, meaning: 'an SBOM is missing or malformed' },
  CorruptArtifact: { retryable: false, meaning: 'an APK, layer or layout is damaged or does not match its digest' },
  UnsafeLayer: { retryable: false, meaning: 'a layer or archive entry escapes its root' },
  UnsupportedImage: { retryable: false, meaning: 'an image form kiln does not handle' },
  ImageVerificationFailed: { retryable: false, meaning: 'a pushed image signature or attestation does not verify' },
  KeyUnavailable: { retryable: false, meaning: 'a public key needed for verification is missing' },
  FeedInvalid: { retryable: false, meaning: 'the vulnerability feed is malformed' },
  UpstreamGarbage: { retryable: false, meaning: 'an upstream answered something that is not a release list' },
  GitFailed: { retryable: false, meaning: 'a git command failed on the catalog' },
  // Services: rejections are not retried, outages are.
  RegistryRejected: { retryable: false, meaning: 'the registry refused a request (4xx)' },
  RegistryConflict: { retryable: false, meaning: 'the registry holds something else under a name kiln owns' },
  RegistryUntrusted: { retryable: false, meaning: 'the registry TLS certificate is not trusted' },
  RegistryUnavailable: { retryable: true, meaning: 'registry down, 5xx, 429 or a network error' },
  FeedUnavailable: { retryable: true, meaning: 'the vulnerability feed cannot be fetched right now' },
  UpstreamUnavailable: { retryable: true, meaning: 'an upstream source cannot be reached right now' },
  TarballUnavailable: { retryable: true, meaning: 'an upstream tarball cannot be fetched right now' },
  ToolNetworkFailure: {
    retryable: true,
    meaning: 'a tool could not reach a source, repository or index (refused, reset, timeout, DNS, 5xx)',
  },
  // The process, not the input.
  ToolCrashed: { retryable: true, meaning: 'a tool was killed by a signal or failed to start' },
  Cancelled: { retryable: true, meaning: 'the activity was cancelled' },
} as const satisfies Record<string, { retryable: boolean; meaning: string }>;

export type FailureType = keyof typeof FAILURES;

/** Types Temporal must not retry, for retry policies that want them spelled out. */
export const NON_RETRYABLE: FailureType[] = (Object.keys(FAILURES) as FailureType[]).filter(
  (t) => !FAILURES[t].retryable,
);

export interface FailureOptions {
  cause?: unknown;
  /** Overrides the type's retry decision where the cause, not the type, decides (e.g. a 4xx feed). */
  retryable?: boolean;
  /** A server-given delay (Retry-After), in milliseconds. */
  retryAfterMs?: number;
  details?: unknown[];
}

/** The one way kiln raises a failure: typed, with its retry decision from FAILURES. */
export function failure(type: FailureType, message: string, options: FailureOptions = {}): ApplicationFailure {
  return ApplicationFailure.create({
    type,
    message,
    nonRetryable: !(options.retryable ?? FAILURES[type].retryable),
    cause: options.cause instanceof Error ? options.cause : undefined,
    details: options.details,
    ...(options.retryAfterMs !== undefined ? { nextRetryDelay: options.retryAfterMs } : {}),
  });
}

/** Whether an error is a kiln failure of this type. */
export function isFailure(err: unknown, type: FailureType): err is ApplicationFailure {
  return err instanceof ApplicationFailure && err.type === type;
}

// Small constructors for the failures raised in many places.
export const configInvalid = (message: string) => failure('ConfigInvalid', message);
export const invalidInput = (message: string) => failure('InvalidInput', message);
export const catalogInvalid = (message: string) => failure('CatalogInvalid', message);
export const corruptArtifact = (message: string, cause?: unknown) => failure('CorruptArtifact', message, { cause });
export const unsafeLayer = (message: string) => failure('UnsafeLayer', message);
