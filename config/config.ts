// kiln's one configuration object. The environment is read here and nowhere else: every variable is
// listed in ENVIRONMENT (the README's table is written from it), validated once, and the result is
// passed to activities (createActivities), the worker, the CLI and setup. Tests build a config with
// loadConfig({...}) instead of changing process.env. Nothing here travels in workflow payloads.
import { homedir, hostname } from 'node:os';
import { isIPv4, isIPv6 } from 'node:net';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NativeConnectionOptions } from '@temporalio/worker';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import { configInvalid } from '../domain/failures.js';
import { isCredentialName } from '../domain/catalog-trust.js';

export const REPO_ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));

export type Environment = Record<string, string | undefined>;

import { ENVIRONMENT } from './environment.js';

export { ENVIRONMENT };

export type ToolOverride = 'temporal' | 'melange' | 'apko' | 'cosign';
export type LogLevel = 'TRACE' | 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';

export interface KilnPaths {
  /** KILN_STATE: keys, repositories, builds, service data. Default `<repo>/.kiln` (git-ignored). */
  state: string;
  keys: string;
  /** RSA-4096 PKCS#1 private key that signs APKs and APKINDEX (never leaves the worker). */
  packageSigningKey: string;
  packageSigningPub: string;
  /** ECDSA P-256 private key for image signatures (embedded default; production signs keylessly). */
  imageSigningKey: string;
  imageSigningPub: string;
  bootstrap: string;
  snapshots: string;
  builds: string;
  images: string;
  logs: string;
  services: string;
  /** Git worktrees of update branches (activities/upstream.ts, package-epoch.ts). */
  worktrees: string;
}

/** Registry credentials, read by activities on the worker only. */
export interface RegistryAuth {
  username?: string;
  password?: string;
  /** PEM CA bundle for a registry with a private CA. */
  caFile?: string;
  /** Force plain HTTP (default: plain HTTP for loopback hosts only, as go-containerregistry does). */
  insecure?: boolean;
}

export type SigningConfig =
  | { mode: 'key'; keyFile: string }
  | {
      mode: 'keyless';
      fulcioUrl?: string;
      rekorUrl?: string;
      oidcToken?: string;
      oidcTokenFile?: string;
      /** PEM CA bundle (root and intermediates) that keyless certificates must chain to. */
      fulcioCa?: string;
    };

export interface TemporalConfig {
  /** Address, TLS, mTLS, API key and gRPC metadata, as @temporalio/envconfig resolved them. */
  connection: NativeConnectionOptions & { address: string };
  namespace: string;
  taskQueue: string;
  /** Web UI base URL, for links in summaries. */
  webUi: string;
}

export interface KilnConfig {
  repoRoot: string;
  paths: KilnPaths;
  catalogDir: string;
  registry: string;
  registryAuth: RegistryAuth;
  /**
   * `host[:port]/path` of kiln's own artifacts (catalog snapshots) in the registry: what workers that
   * share no disk share. Undefined (`KILN_ARTIFACTS=none`): every worker reads one KILN_STATE.
   */
  artifacts?: string;
  repositoryUrl: string;
  signing: SigningConfig;
  builderId: string;
  temporal: TemporalConfig;
  worker: {
    workflowBundlePath?: string;
    maxConcurrentActivities: number;
    logLevel: LogLevel;
    /** This worker's name: its own task queue `<task queue>@<id>/<instance>` runs the steps that need its files. */
    id: string;
    /** That task queue, once a worker runs (workers/worker.ts sets it); activities name it in their results. */
    hostQueue?: string;
    /** KILN_WORKER_ARCHS: the archs whose build queues it polls; unset: what this machine runs (workers/worker.ts). */
    archs?: string[];
  };
  /** KILN_METRICS_ADDRESS: the Prometheus endpoint's `ip:port` (workers/telemetry.ts); unset: no endpoint. */
  metrics: { address?: string };
  imageTest: { timeoutSeconds: number; bwrap: string };
  tools: {
    dir: string;
    overrides: Partial<Record<ToolOverride, string>>;
    searchPath: string;
    /** The whole environment melange, apko and cosign run with (toolEnvironment): no credentials. */
    environment: Record<string, string>;
  };
  schedules: { nightlyId: string; watchId: string; cleanupId: string; cleanupEvery: string };
  /**
   * What the state clean-up keeps (domain/retention.ts): what the last `keepRuns` runs used, what any
   * running workflow can reach, and anything used in the last `minAgeMs`.
   */
  retention: { keepRuns: number; minAgeMs: number };
  /**
   * What catalog.yaml's `${VAR}` may expand against: the worker's environment without credentials,
   * KILN_STATE defaulted; the catalog sees only KILN_STATE, KILN_REGISTRY and names it declares.
   */
  catalogEnv: Environment;
}

const LOG_LEVELS: readonly LogLevel[] = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'];

/**
 * Reads and validates kiln's configuration from an environment (the process's by default). Every
 * problem is reported at once, each naming the variable and the fix; a bad configuration is a
 * non-retryable ConfigInvalid failure, never retried with backoff.
 */
export function loadConfig(env: Environment = process.env): KilnConfig {
  const problems: string[] = [];
  const positive = (name: keyof typeof ENVIRONMENT, fallback: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const n = Number(raw);
    if (Number.isInteger(n) && n > 0) return n;
    problems.push(`${name}=${raw}: expected a whole number above 0 (fix: set it to e.g. ${fallback}, or unset it)`);
    return fallback;
  };
  const wholeNumber = (name: keyof typeof ENVIRONMENT, fallback: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const n = Number(raw);
    if (Number.isInteger(n) && n >= 0) return n;
    problems.push(`${name}=${raw}: expected a whole number, 0 or more (fix: set it to e.g. ${fallback}, or unset it)`);
    return fallback;
  };
  const interval = (name: keyof typeof ENVIRONMENT, fallback: string): string => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    if (/^[1-9]\d*[smhd]$/.test(raw)) return raw;
    problems.push(
      `${name}=${raw}: expected a number and a unit, s, m, h or d (fix: set it to e.g. ${fallback}, or unset it)`,
    );
    return fallback;
  };
  const oneOf = <T extends string>(name: keyof typeof ENVIRONMENT, allowed: readonly T[], fallback: T): T => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    if ((allowed as readonly string[]).includes(raw)) return raw as T;
    problems.push(
      `${name}=${raw}: expected one of ${allowed.join(', ')} (fix: set one of them, or unset it for ${fallback})`,
    );
    return fallback;
  };

  const state = resolve(env.KILN_STATE ?? join(REPO_ROOT, '.kiln'));
  const keys = join(state, 'keys');
  const paths: KilnPaths = {
    state,
    keys,
    packageSigningKey: env.KILN_PACKAGE_SIGNING_KEY ?? join(keys, 'kiln.rsa'),
    packageSigningPub: join(keys, 'kiln.rsa.pub'),
    imageSigningKey: env.KILN_IMAGE_SIGNING_KEY ?? join(keys, 'image-signing.key'),
    imageSigningPub: join(keys, 'image-signing.pub'),
    bootstrap: join(state, 'bootstrap'),
    snapshots: join(state, 'snapshots'),
    builds: join(state, 'builds'),
    images: join(state, 'images'),
    logs: join(state, 'logs'),
    services: join(state, 'services'),
    worktrees: join(state, 'worktrees'),
  };

  const insecure = env.KILN_REGISTRY_INSECURE;
  if (insecure !== undefined && insecure !== 'true' && insecure !== 'false') {
    problems.push(`KILN_REGISTRY_INSECURE=${insecure}: expected true or false (fix: set one, or unset it)`);
  }
  const signingMode = oneOf('KILN_SIGNING', ['key', 'keyless'] as const, 'key');
  const signing: SigningConfig =
    signingMode === 'key'
      ? { mode: 'key', keyFile: paths.imageSigningKey }
      : {
          mode: 'keyless',
          fulcioUrl: env.KILN_FULCIO_URL,
          rekorUrl: env.KILN_REKOR_URL,
          oidcToken: env.KILN_OIDC_TOKEN,
          oidcTokenFile: env.KILN_OIDC_TOKEN_FILE,
          fulcioCa: env.KILN_FULCIO_CA,
        };

  const temporal = temporalConnection(env, problems);
  const registry = env.KILN_REGISTRY ?? '127.0.0.1:5000';
  const taskQueue = env.KILN_TASK_QUEUE ?? 'kiln';
  const workerArchs = env.KILN_WORKER_ARCHS?.trim()
    ? [...new Set(env.KILN_WORKER_ARCHS.split(',').map((a) => a.trim()))].filter(Boolean)
    : undefined;
  for (const a of workerArchs ?? [])
    if (!/^[a-z0-9_]+$/.test(a))
      problems.push(`KILN_WORKER_ARCHS=${env.KILN_WORKER_ARCHS}: "${a}" is not an APK arch (fix: e.g. x86_64,aarch64)`);
  const workerId = env.KILN_WORKER_ID ?? `${hostname()}-${process.pid}`;
  const config: KilnConfig = {
    repoRoot: REPO_ROOT,
    paths,
    catalogDir: resolve(env.KILN_CATALOG ?? join(REPO_ROOT, 'catalog')),
    registry,
    registryAuth: {
      username: env.KILN_REGISTRY_USERNAME,
      password: env.KILN_REGISTRY_PASSWORD,
      caFile: env.KILN_REGISTRY_CA,
      insecure: insecure === undefined ? undefined : insecure === 'true',
    },
    ...(env.KILN_ARTIFACTS === 'none' ? {} : { artifacts: env.KILN_ARTIFACTS ?? `${registry}/kiln-artifacts` }),
    repositoryUrl: env.KILN_REPOSITORY_URL ?? 'http://127.0.0.1:8090',
    signing,
    builderId: env.KILN_BUILDER_ID ?? 'https://kiln.dev/builder/embedded',
    temporal: {
      ...temporal,
      taskQueue,
      webUi: env.KILN_WEB_UI ?? 'http://127.0.0.1:8233',
    },
    worker: {
      workflowBundlePath: env.KILN_WORKFLOW_BUNDLE,
      maxConcurrentActivities: positive('KILN_MAX_ACTIVITIES', 2),
      logLevel: oneOf('KILN_LOG_LEVEL', LOG_LEVELS, 'INFO'),
      id: workerId,
      ...(workerArchs ? { archs: workerArchs } : {}),
    },
    metrics: { address: socketAddress('KILN_METRICS_ADDRESS', env.KILN_METRICS_ADDRESS, problems) },
    imageTest: {
      timeoutSeconds: positive('KILN_IMAGE_TEST_TIMEOUT_SECONDS', 60),
      bwrap: env.KILN_BWRAP ?? '/usr/bin/bwrap',
    },
    tools: {
      dir: env.KILN_TOOLS_DIR ?? join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'kiln', 'tools'),
      overrides: Object.fromEntries(
        (['temporal', 'melange', 'apko', 'cosign'] as const)
          .map((tool) => [tool, env[`KILN_${tool.toUpperCase()}`]] as const)
          .filter(([, path]) => path),
      ),
      searchPath: env.PATH ?? DEFAULT_PATH,
      environment: toolEnvironment(env),
    },
    schedules: {
      nightlyId: env.KILN_SCHEDULE_ID ?? 'kiln-nightly',
      watchId: env.KILN_WATCH_SCHEDULE_ID ?? 'kiln-upstream-watch',
      cleanupId: env.KILN_CLEANUP_SCHEDULE_ID ?? 'kiln-cleanup',
      cleanupEvery: interval('KILN_CLEANUP_EVERY', '1d'),
    },
    retention: {
      keepRuns: wholeNumber('KILN_RETAIN_RUNS', 7),
      minAgeMs: wholeNumber('KILN_RETAIN_MIN_AGE_MINUTES', 1440) * 60_000,
    },
    catalogEnv: {
      ...Object.fromEntries(Object.entries(env).filter(([name]) => !isCredentialName(name))),
      KILN_STATE: state,
    },
  };
  if (problems.length) throw configInvalid(`kiln configuration is invalid:\n${problems.join('\n')}`);
  return config;
}

/**
 * An `ip:port` a server can bind: an IPv4 address or a bracketed IPv6 address, and a port. Temporal's
 * native runtime parses it as a socket address, so a host name (even `localhost`) is refused here,
 * with the fix, rather than by the runtime with a bare "invalid socket address syntax".
 */
function socketAddress(
  name: keyof typeof ENVIRONMENT,
  raw: string | undefined,
  problems: string[],
): string | undefined {
  if (raw === undefined || raw === '') return undefined;
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(raw);
  const port = Number(m?.[3]);
  if (m && (m[1] !== undefined ? isIPv6(m[1]) : isIPv4(m[2]!)) && port >= 1 && port <= 65535) return raw;
  problems.push(
    `${name}=${raw}: expected an IP address and port such as 127.0.0.1:9464 or [::1]:9464, no host name (fix: set one, or unset it to serve no metrics)`,
  );
  return undefined;
}

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Besides PATH, the worker variables tools get: where home and temp are, TLS roots, proxies. */
const TOOL_VARIABLES = [
  'HOME',
  'TMPDIR',
  'SSL_CERT_FILE',
  'SSL_CERT_DIR',
  'HTTP_PROXY',
  'HTTPS_PROXY',
  'NO_PROXY',
  'http_proxy',
  'https_proxy',
  'no_proxy',
];

/**
 * The explicit, minimal environment every external tool runs with (adapters/run-tool.ts): PATH
 * (default the system's), HOME, TMPDIR, TLS roots and proxies when set, nothing else of the
 * worker's: no registry password, token or API key ever reaches melange, apko, git or cosign.
 */
export function toolEnvironment(env: Environment): Record<string, string> {
  const picked = TOOL_VARIABLES.filter((name) => env[name]).map((name) => [name, env[name]!] as const);
  return { PATH: env.PATH || DEFAULT_PATH, ...Object.fromEntries(picked) };
}

/** Temporal connection settings through @temporalio/envconfig: TLS, mTLS, API keys and profiles. */
function temporalConnection(env: Environment, problems: string[]): Pick<TemporalConfig, 'connection' | 'namespace'> {
  try {
    const profile = loadClientConnectConfig({
      overrideEnvVars: Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined)),
    });
    return {
      connection: { ...profile.connectionOptions, address: profile.connectionOptions.address ?? '127.0.0.1:7233' },
      namespace: profile.namespace ?? 'default',
    };
  } catch (err) {
    problems.push(
      `Temporal client configuration: ${(err as Error).message} (fix: check TEMPORAL_* and TEMPORAL_CONFIG_FILE)`,
    );
    return { connection: { address: '127.0.0.1:7233' }, namespace: 'default' };
  }
}

/** A config for tests and scripts: the process environment with these variables set or removed. */
export function configWith(overrides: Environment, base: Environment = process.env): KilnConfig {
  return loadConfig({ ...base, ...overrides });
}

// ---------------------------------------------------------------------------------------------
// Transitional: callers that still take an environment. Each is removed once its callers take a
// KilnConfig (tracked by the refactor; nothing new may use them).
/** @deprecated take `config.paths` */
export const kilnPaths = (env: Environment = process.env): KilnPaths => loadConfig(env).paths;
/** @deprecated take `config.temporal` */
export const temporalTarget = (env: Environment = process.env) => {
  const t = loadConfig(env).temporal;
  return { address: t.connection.address, namespace: t.namespace, taskQueue: t.taskQueue, webUi: t.webUi };
};
/** @deprecated take `config.registryAuth` */
export const registryAuth = (env: Environment = process.env): RegistryAuth => loadConfig(env).registryAuth;
/** @deprecated take `config.catalogEnv` */
export const catalogEnv = (env: Environment = process.env): Environment => loadConfig(env).catalogEnv;
