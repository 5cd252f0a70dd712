// The melange adapter: every melange invocation in kiln goes through here.
import { join } from 'node:path';
import { resolveTool, TOOLS, type ToolsConfig } from './toolchain.js';
import { runTool, type ToolResult } from './run-tool.js';

export const MELANGE_VERSION = TOOLS.melange.version;

export interface MelangeBuild {
  config: string;
  arch: string;
  sourceDir: string;
  outDir: string;
  workspaceDir: string;
  cacheDir: string;
  repositories: string[];
  keyring: string[];
  signingKey: string;
  namespace: string;
  logFile: string;
  cwd: string;
  /** The catalog's commit, recorded in the package and its SBOM ("unknown" outside git). */
  gitCommit: string;
  /** The catalog's own `pipelines/` directory, when it has one (its `uses:` names come first). */
  pipelineDir?: string;
}

function repoFlags(repositories: string[], keyring: string[]): string[] {
  return [...repositories.flatMap((r) => ['-r', r]), ...keyring.flatMap((k) => ['-k', k])];
}

export async function melangeBuild(tools: ToolsConfig, b: MelangeBuild): Promise<ToolResult> {
  return runTool({
    label: 'melange build',
    command: resolveTool('melange', tools),
    baseEnv: tools.environment,
    args: [
      'build',
      b.config,
      '--runner',
      'bubblewrap',
      '--arch',
      b.arch,
      '--source-dir',
      b.sourceDir,
      '--out-dir',
      b.outDir,
      '--workspace-dir',
      b.workspaceDir,
      '--cache-dir',
      b.cacheDir,
      '--signing-key',
      b.signingKey,
      '--namespace',
      b.namespace,
      // kiln publishes and indexes itself, atomically, after the whole build succeeded.
      '--generate-index=false',
      // Explicit, or melange records whatever git checkout it finds around the snapshot.
      '--git-commit',
      b.gitCommit,
      ...(b.pipelineDir ? ['--pipeline-dir', b.pipelineDir] : []),
      ...repoFlags(b.repositories, b.keyring),
    ],
    // Reproducible timestamps: the same inputs give the same APK bytes.
    env: { SOURCE_DATE_EPOCH: '0' },
    cwd: b.cwd,
    logFile: b.logFile,
  });
}

/**
 * Writes a signed APKINDEX.tar.gz for the given APKs; with `mergeFrom`, the entries of that index
 * are kept and the given APKs added or replaced (so publishing one package reads one package).
 */
export async function melangeIndex(
  tools: ToolsConfig,
  i: { output: string; arch: string; apks: string[]; signingKey: string; logFile: string; mergeFrom?: string },
): Promise<ToolResult> {
  return runTool({
    label: 'melange index',
    command: resolveTool('melange', tools),
    baseEnv: tools.environment,
    args: [
      'index',
      '-o',
      i.output,
      '-a',
      i.arch,
      '--signing-key',
      i.signingKey,
      ...(i.mergeFrom ? ['-m', '-s', i.mergeFrom] : []),
      ...i.apks,
    ],
    logFile: i.logFile,
  });
}

/** `tmpDir`: melange test leaves its guest behind in TMPDIR, so each test gets one to clean. */
export async function melangeTest(
  tools: ToolsConfig,
  t: {
    config: string;
    arch: string;
    sourceDir: string;
    workspaceDir: string;
    repositories: string[];
    keyring: string[];
    logFile: string;
    tmpDir: string;
    pipelineDir?: string;
  },
): Promise<ToolResult> {
  return runTool({
    label: 'melange test',
    command: resolveTool('melange', tools),
    baseEnv: tools.environment,
    args: [
      'test',
      t.config,
      '--runner',
      'bubblewrap',
      '--arch',
      t.arch,
      '--source-dir',
      t.sourceDir,
      '--workspace-dir',
      t.workspaceDir,
      ...(t.pipelineDir ? ['--pipeline-dirs', t.pipelineDir] : []),
      ...repoFlags(t.repositories, t.keyring),
    ],
    env: { TMPDIR: t.tmpDir },
    logFile: t.logFile,
  });
}

export const apkFileName = (name: string, version: string, epoch: number) => `${name}-${version}-r${epoch}.apk`;
export const archDir = (repo: string, arch: string) => join(repo, arch);
