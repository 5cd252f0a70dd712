// Where kiln keeps its state on a worker machine, and how it reaches Temporal and the registry.
// Everything here comes from the worker's environment: none of it travels in workflow payloads.
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));

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
}

export function kilnPaths(env: NodeJS.ProcessEnv = process.env): KilnPaths {
  const state = resolve(env.KILN_STATE ?? join(REPO_ROOT, '.kiln'));
  const keys = join(state, 'keys');
  return {
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
  };
}

export interface TemporalTarget {
  address: string;
  namespace: string;
  taskQueue: string;
  /** Web UI base URL, for links in summaries. */
  webUi: string;
}

export function temporalTarget(env: NodeJS.ProcessEnv = process.env): TemporalTarget {
  return {
    address: env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233',
    namespace: env.TEMPORAL_NAMESPACE ?? 'default',
    taskQueue: env.KILN_TASK_QUEUE ?? 'kiln',
    webUi: env.KILN_WEB_UI ?? 'http://127.0.0.1:8233',
  };
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

export function registryAuth(env: NodeJS.ProcessEnv = process.env): RegistryAuth {
  return {
    username: env.KILN_REGISTRY_USERNAME,
    password: env.KILN_REGISTRY_PASSWORD,
    caFile: env.KILN_REGISTRY_CA,
    insecure: env.KILN_REGISTRY_INSECURE === undefined ? undefined : env.KILN_REGISTRY_INSECURE === 'true',
  };
}

/** The environment catalog.yaml's `${VAR}` expand against: the worker's, with KILN_STATE defaulted. */
export function catalogEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string | undefined> {
  return { ...env, KILN_STATE: kilnPaths(env).state };
}
