// Setup step for the tests: the SPDX project's own validator (spdx-tools, `pyspdxtools`, from PyPI)
// in a Python virtual environment next to the built tools (<tools dir>/spdx-tools-<version>/), so
// the tests judge the SBOMs kiln keeps with the SPDX 2.3 rules as SPDX implements them, not with
// kiln's own reading. Like cosign, only the tests run it: the worker image does not carry it.
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { failure } from '../domain/failures.js';

export const SPDX_TOOLS_VERSION = '0.8.5';

/** `pyspdxtools` in the tools directory: `pyspdxtools -i doc.spdx.json` validates (exit 0: valid). */
export const spdxValidatorPath = (toolsDir: string) =>
  join(toolsDir, `spdx-tools-${SPDX_TOOLS_VERSION}`, 'bin', 'pyspdxtools');

/** Installs it once (a virtual environment, then pip); a second run only checks it is there. */
export async function installSpdxValidator(toolsDir: string): Promise<void> {
  const dir = join(toolsDir, `spdx-tools-${SPDX_TOOLS_VERSION}`);
  // Written last: an interrupted install never looks installed.
  const done = join(dir, '.installed');
  if (existsSync(done)) {
    console.log(`    spdx-tools ${SPDX_TOOLS_VERSION}: cached (${dir})`);
    return;
  }
  const run = async (cmd: string, args: string[]) => {
    const r = await execa(cmd, args, { reject: false, all: true });
    if (r.exitCode !== 0)
      throw failure(
        'ToolFailed',
        `cannot install spdx-tools ${SPDX_TOOLS_VERSION}: ${cmd} ${args.join(' ')} exited ${r.exitCode}: ` +
          `${(r.all ?? '').split('\n').slice(-5).join('\n')} (fix: install Debian's python3-venv and check that PyPI is reachable)`,
      );
  };
  // Made in place: a virtual environment's scripts name their interpreter by absolute path.
  rmSync(dir, { recursive: true, force: true });
  await run('python3', ['-m', 'venv', dir]);
  await run(join(dir, 'bin', 'pip'), ['install', '--quiet', `spdx-tools==${SPDX_TOOLS_VERSION}`]);
  writeFileSync(done, `spdx-tools ${SPDX_TOOLS_VERSION}\n`);
  console.log(`    spdx-tools ${SPDX_TOOLS_VERSION}: ${spdxValidatorPath(toolsDir)}`);
}
