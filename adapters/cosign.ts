// The cosign adapter: kiln signs and attests in-process (@sigstore/sign), so the worker never runs
// cosign; this is how the real cosign v3 checks what kiln attached, offline, as a deployer would.
import type { ToolsConfig } from './toolchain.js';
import { resolveTool } from './toolchain.js';
import { captureTool } from './run-tool.js';

export interface CosignVerify {
  command: 'verify' | 'verify-attestation';
  /** `host[:port]/path@sha256:…` */
  reference: string;
  /** PEM public key file (`--key`); no Rekor is consulted, so no TUF root is fetched. */
  key: string;
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

/** `cosign verify` / `verify-attestation --key … --insecure-ignore-tlog`: the verdict, never a throw. */
export async function cosignVerify(tools: ToolsConfig, v: CosignVerify): Promise<CosignVerdict> {
  const r = await captureTool({
    label: `cosign ${v.command}`,
    command: resolveTool('cosign', tools),
    args: [
      v.command,
      '--key',
      v.key,
      '--insecure-ignore-tlog',
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
