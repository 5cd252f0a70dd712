// The cosign adapter: kiln signs and attests in-process (@sigstore/sign), so the worker never runs
// cosign; this is how the real cosign v3 checks what kiln attached, offline, as a deployer would:
// by key, or keyless by certificate identity under a private CA (no Rekor, no CT log).
import type { ToolsConfig } from './toolchain.js';
import { resolveTool } from './toolchain.js';
import { captureTool } from './run-tool.js';
import { failure } from '../domain/failures.js';

/** Keyless: who must have signed, and the CA the certificate must chain to. */
export interface CosignIdentity {
  /** `--certificate-identity` (exact SAN) */
  identity?: string;
  /** `--certificate-identity-regexp` */
  identityRegexp?: string;
  /** `--certificate-oidc-issuer` */
  issuer: string;
  /** `--trusted-root`: a Sigstore trusted_root.json holding the CA (see cosignTrustedRoot). */
  trustedRoot?: string;
  /** `--certificate-chain`: a PEM CA chain (cosign refuses it for bundles; kept to show why). */
  certificateChain?: string;
}

export interface CosignVerify {
  command: 'verify' | 'verify-attestation';
  /** `host[:port]/path@sha256:…` */
  reference: string;
  /** PEM public key file (`--key`); no Rekor is consulted, so no TUF root is fetched. */
  key?: string;
  /** Keyless, instead of `key`: `--insecure-ignore-sct --insecure-ignore-tlog` (no CT log, no Rekor). */
  keyless?: CosignIdentity;
  /** More flags, e.g. `-a key=value` or `--type vuln`. */
  extra?: string[];
  /** Talk plain HTTP to the registry (`--allow-http-registry`). */
  allowHttpRegistry?: boolean;
  /** HOME for cosign's cache and config. */
  home?: string;
}

export interface CosignVerdict {
  ok: boolean;
  stderr: string;
  /** verify prints one JSON array, verify-attestation one envelope per line: all of them, flattened. */
  payloads: unknown[];
}

function trustFlags(v: CosignVerify): string[] {
  if (v.key) return ['--key', v.key, '--insecure-ignore-tlog'];
  const k = v.keyless;
  if (!k) throw failure('InvalidInput', 'cosignVerify needs a key or a keyless identity');
  return [
    ...(k.identity !== undefined ? ['--certificate-identity', k.identity] : []),
    ...(k.identityRegexp !== undefined ? ['--certificate-identity-regexp', k.identityRegexp] : []),
    '--certificate-oidc-issuer',
    k.issuer,
    ...(k.trustedRoot ? ['--trusted-root', k.trustedRoot] : []),
    ...(k.certificateChain ? ['--certificate-chain', k.certificateChain] : []),
    '--insecure-ignore-sct',
    '--insecure-ignore-tlog',
  ];
}

/** `cosign verify` / `verify-attestation`, by key or keyless identity: the verdict, never a throw. */
export async function cosignVerify(tools: ToolsConfig, v: CosignVerify): Promise<CosignVerdict> {
  const r = await captureTool({
    label: `cosign ${v.command}`,
    command: resolveTool('cosign', tools),
    args: [
      v.command,
      ...trustFlags(v),
      ...(v.allowHttpRegistry ? ['--allow-http-registry'] : []),
      ...(v.extra ?? []),
      v.reference,
    ],
    timeoutMs: 60_000,
    ...(v.home ? { env: { HOME: v.home } } : {}),
  });
  const ok = r.exitCode === 0;
  return {
    ok,
    stderr: r.stderr || r.reason || '',
    payloads: ok
      ? r.stdout
          .trim()
          .split('\n')
          .filter(Boolean)
          .flatMap((l) => JSON.parse(l) as unknown)
      : [],
  };
}

/**
 * `cosign trusted-root create`: a Sigstore trusted_root.json with one Fulcio CA (the PEM chain in
 * KILN_FULCIO_CA) and no Rekor, CT log or TSA. What a deployer passes as `--trusted-root`, since
 * cosign v3 verifies bundles only against a trusted root. Offline: no default services are fetched.
 */
export async function cosignTrustedRoot(
  tools: ToolsConfig,
  t: { certificateChain: string; fulcioUrl: string; out: string; home?: string },
): Promise<{ ok: boolean; stderr: string }> {
  const r = await captureTool({
    label: 'cosign trusted-root create',
    command: resolveTool('cosign', tools),
    args: [
      'trusted-root',
      'create',
      '--fulcio',
      `url=${t.fulcioUrl},certificate-chain=${t.certificateChain}`,
      '--out',
      t.out,
    ],
    timeoutMs: 60_000,
    ...(t.home ? { env: { HOME: t.home } } : {}),
  });
  return { ok: r.exitCode === 0, stderr: r.stderr || r.reason || '' };
}
