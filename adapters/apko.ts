// The apko adapter: every apko invocation in kiln goes through here.
import { resolveTool, type ToolsConfig } from './toolchain.js';
import { runTool, type ToolResult } from './run-tool.js';

export interface ApkoBuild {
  config: string;
  /** Reference written into the layout's annotations; pushing uses the digest, not this. */
  tag: string;
  /** Existing empty directory: apko writes an OCI image layout into it. */
  layoutDir: string;
  sbomDir: string;
  arch: string;
  /** Repositories to install from (apko also writes them to the image's /etc/apk/repositories). */
  repositories: string[];
  keyring: string[];
  cacheDir: string;
  /** Where apko resolves a config's `include:` (the catalog snapshot). */
  includePath?: string;
  logFile: string;
}

export async function apkoBuild(tools: ToolsConfig, b: ApkoBuild): Promise<ToolResult> {
  return runTool({
    label: 'apko build',
    command: resolveTool('apko', tools),
    baseEnv: tools.environment,
    args: [
      'build',
      b.config,
      b.tag,
      `${b.layoutDir}/`,
      '--arch',
      b.arch,
      '--sbom-path',
      b.sbomDir,
      '--cache-dir',
      b.cacheDir,
      '--vcs=false',
      ...(b.includePath ? ['--include-paths', b.includePath] : []),
      ...b.repositories.flatMap((r) => ['-r', r]),
      ...b.keyring.flatMap((k) => ['-k', k]),
    ],
    env: { SOURCE_DATE_EPOCH: '0' },
    logFile: b.logFile,
  });
}
