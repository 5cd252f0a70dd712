// The external tools kiln drives, pinned. scripts/setup builds them with the Go toolchain into a
// cache outside the repository keyed by version, so CI and later clones reuse the builds.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import type { KilnConfig } from '../config/config.js';
import { failure } from '../domain/failures.js';

/** Where the pinned builds live, the binaries that override them, and the PATH to search. */
export type ToolsConfig = KilnConfig['tools'];

export interface ToolPin {
  name: ToolName;
  version: string;
  /** Go module (main package at its root unless `package` says otherwise). */
  module: string;
  /** Main package path, when it is not the module root. */
  package?: string;
  /** Extra go install flags (the Temporal CLI takes its version string by ldflags). */
  goFlags: string[];
  /** Arguments that print the version, and a pattern the output must contain. */
  versionArgs: string[];
}

export type ToolName = 'temporal' | 'melange' | 'apko' | 'cosign';

export const TOOLS: Record<ToolName, ToolPin> = {
  temporal: {
    name: 'temporal',
    version: '1.5.1',
    module: 'github.com/temporalio/cli',
    package: 'github.com/temporalio/cli/cmd/temporal',
    // v1.6+ carry a replace directive that `go install` refuses; v1.5.1 is the newest installable.
    goFlags: ['-ldflags', '-s -w -X github.com/temporalio/cli/temporalcli.Version=1.5.1'],
    versionArgs: ['--version'],
  },
  // Wanted melange v0.59.1 and apko v1.2.39; the Go module proxy reachable here refuses some of
  // their dependencies (chainguard.dev/sdk v0.1.164-v0.1.184, a go-erofs pseudo-version), so these
  // are the nearest older tags whose whole module graph is served (README, "Toolchain pins").
  melange: {
    name: 'melange',
    version: '0.58.0',
    module: 'chainguard.dev/melange',
    goFlags: [],
    versionArgs: ['version'],
  },
  apko: { name: 'apko', version: '1.2.31', module: 'chainguard.dev/apko', goFlags: [], versionArgs: ['version'] },
  cosign: {
    name: 'cosign',
    version: '3.1.2',
    module: 'github.com/sigstore/cosign/v3',
    package: 'github.com/sigstore/cosign/v3/cmd/cosign',
    goFlags: [],
    versionArgs: ['version'],
  },
};

/** Where `go install` puts a pinned tool, under the tools directory (config.tools.dir). */
export function cachedToolPath(tool: ToolPin, toolsDir: string): string {
  return join(toolsDir, `${tool.name}-${tool.version}`, 'bin', tool.name);
}

/** The version a binary reports, or undefined when it cannot be run. */
export function reportedVersion(path: string, tool: ToolPin): string | undefined {
  try {
    return execFileSync(path, tool.versionArgs, {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 20_000,
    });
  } catch {
    return undefined;
  }
}

/**
 * The binary to run for a pinned tool: an override (KILN_<TOOL>), else the cached build, else one
 * already on PATH at the pinned version. A missing tool is a misconfigured worker: ToolMissing,
 * never retried.
 */
export function resolveTool(name: ToolName, tools: ToolsConfig): string {
  const tool = TOOLS[name];
  const override = (tools.overrides as Partial<Record<ToolName, string>>)[name];
  if (override) return override;
  const cached = cachedToolPath(tool, tools.dir);
  if (existsSync(cached)) return cached;
  for (const dir of tools.searchPath.split(':')) {
    const candidate = join(dir, name);
    if (dir && existsSync(candidate) && reportedVersion(candidate, tool)?.includes(tool.version)) return candidate;
  }
  throw failure(
    'ToolMissing',
    `${name} ${tool.version} is not installed (looked in ${cached} and PATH). Run scripts/setup, which builds it with go install.`,
  );
}
