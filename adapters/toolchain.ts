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
  name: PinnedToolName;
  version: string;
  /** Go module (main package at its root unless `package` says otherwise). */
  module: string;
  /** Main package path, when it is not the module root. */
  package?: string;
  /** Extra go install flags (the Temporal CLI takes its version string by ldflags). */
  goFlags: string[];
  /** Arguments that print the version, and a pattern the output must contain. */
  versionArgs: string[];
  /** Directories of the module copied beside `bin/` at build time (the SQL tool's versioned schema). */
  moduleFiles?: string[];
}

export type ToolName = 'temporal' | 'melange' | 'apko' | 'cosign';
/** Temporal's own server, schema tool and Web UI server, for `kiln cluster` only. */
export type ClusterToolName = 'temporal-server' | 'temporal-sql-tool' | 'temporal-ui-server';
export type PinnedToolName = ToolName | ClusterToolName;

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

/**
 * What `kiln cluster up` runs: the Temporal server at the version docker-compose.yml pins, its SQL
 * schema tool, and the Web UI server the pinned CLI embeds (2.42.1, docker-compose.yml's temporalio/ui).
 * Not in TOOLS, so scripts/setup never builds them: `kiln cluster up` builds them on first use. The
 * pinned Temporal CLI already depends on both modules at these versions, so after setup their sources
 * are in the Go module cache. Built with the tag Temporal's own Makefile uses.
 */
export const CLUSTER_TOOLS: Record<ClusterToolName, ToolPin> = {
  'temporal-server': {
    name: 'temporal-server',
    version: '1.29.1',
    module: 'go.temporal.io/server',
    package: 'go.temporal.io/server/cmd/server',
    goFlags: ['-tags', 'disable_grpc_modules', '-ldflags', '-s -w'],
    versionArgs: ['--version'],
  },
  'temporal-sql-tool': {
    name: 'temporal-sql-tool',
    version: '1.29.1',
    module: 'go.temporal.io/server',
    package: 'go.temporal.io/server/cmd/tools/sql',
    goFlags: ['-tags', 'disable_grpc_modules', '-ldflags', '-s -w'],
    versionArgs: ['--version'],
    // update-schema -d reads the versioned SQL from here, so the cluster never needs the module cache.
    moduleFiles: ['schema/postgresql/v12'],
  },
  'temporal-ui-server': {
    name: 'temporal-ui-server',
    version: '2.42.1',
    module: 'github.com/temporalio/ui-server/v2',
    package: 'github.com/temporalio/ui-server/v2/cmd/server',
    goFlags: ['-ldflags', '-s -w'],
    versionArgs: ['--version'],
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
export function resolveTool(name: PinnedToolName, tools: ToolsConfig): string {
  const tool = name in TOOLS ? TOOLS[name as ToolName] : CLUSTER_TOOLS[name as ClusterToolName];
  const override = (tools.overrides as Partial<Record<PinnedToolName, string>>)[name];
  if (override) return override;
  const cached = cachedToolPath(tool, tools.dir);
  if (existsSync(cached)) return cached;
  for (const dir of tools.searchPath.split(':')) {
    const candidate = join(dir, name);
    if (dir && existsSync(candidate) && reportedVersion(candidate, tool)?.includes(tool.version)) return candidate;
  }
  const fix =
    name in TOOLS ? 'Run scripts/setup, which builds it with go install.' : 'Run `kiln cluster up`, which builds it.';
  throw failure('ToolMissing', `${name} ${tool.version} is not installed (looked in ${cached} and PATH). ${fix}`);
}
