// `kiln cluster`'s PostgreSQL (setup/cluster.ts), from Debian: installed with apt-get when missing
// (as root), run as the `postgres` account when kiln runs as root (every directory down to its data
// directory made enterable, or an error saying which is not), its data directory initialised once
// with a `temporal` role whose password is kept in a 0600 file beside it.
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { execa } from 'execa';
import { failure } from '../domain/failures.js';
import { asUser, postgresCommands, type ClusterLayout } from './cluster-config.js';
import { logFile, tail, type Log } from './cluster-processes.js';

/** The newest PostgreSQL major Debian installed: /usr/lib/postgresql/<major>/bin. */
function postgresBinDir(root = '/usr/lib/postgresql'): string | undefined {
  if (!existsSync(root)) return undefined;
  const majors = readdirSync(root)
    .filter((v) => /^\d+$/.test(v) && existsSync(join(root, v, 'bin', 'postgres')))
    .sort((a, b) => Number(b) - Number(a));
  return majors[0] && join(root, majors[0], 'bin');
}

export async function ensurePostgres(log: Log): Promise<string> {
  const found = postgresBinDir();
  if (found) return found;
  if (process.getuid?.() !== 0) {
    throw failure(
      'ToolMissing',
      'PostgreSQL is not installed and kiln is not running as root: run `sudo apt-get install -y postgresql` ' +
        'and then `kiln cluster up` again.',
    );
  }
  log('    postgresql: not installed; apt-get install -y postgresql (Debian)');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  await execa('apt-get', ['update', '-qq'], { env, reject: false });
  const run = await execa('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'postgresql'], {
    env,
    reject: false,
    all: true,
  });
  const bin = postgresBinDir();
  if (run.exitCode !== 0 || !bin) {
    throw failure(
      'ToolMissing',
      `apt-get install postgresql failed (exit ${run.exitCode}):\n${(run.all ?? '').split('\n').slice(-10).join('\n')}`,
    );
  }
  return bin;
}

/** The account PostgreSQL runs as: the current one, or `postgres` (Debian's) when that is root. */
export async function postgresAccount(): Promise<{ user?: string; uid: number; gid: number }> {
  if (process.getuid?.() !== 0) return { uid: process.getuid!(), gid: process.getgid!() };
  const id = async (flag: string) => (await execa('id', [flag, 'postgres'], { reject: false })).stdout.trim();
  const [uid, gid] = [Number(await id('-u')), Number(await id('-g'))];
  if (!uid || !Number.isInteger(gid)) {
    throw failure(
      'ToolMissing',
      'PostgreSQL refuses to run as root, and there is no `postgres` user to run it as ' +
        "(Debian's postgresql package makes it: apt-get install -y postgresql).",
    );
  }
  return { user: 'postgres', uid, gid };
}

/**
 * The user PostgreSQL runs as must be able to enter every directory down to its data directory. kiln
 * makes its own state directories enterable (o+x: not listable, not readable; keys stay 0700 inside);
 * a directory above KILN_STATE that is not is the person's to change, so it is an error that says so.
 */
export function ensureReachable(layout: ClusterLayout, stateDir: string, account: { uid: number; gid: number }): void {
  const canEnter = (path: string) => {
    const st = statSync(path);
    if (st.uid === account.uid) return (st.mode & 0o100) !== 0;
    if (st.gid === account.gid) return (st.mode & 0o010) !== 0;
    return (st.mode & 0o001) !== 0;
  };
  const state = resolve(stateDir);
  const chain: string[] = [];
  for (let p = resolve(layout.dir); ; p = dirname(p)) {
    chain.unshift(p);
    if (p === dirname(p)) break;
  }
  for (const dir of chain) {
    if (canEnter(dir)) continue;
    const inState = dir === state || !relative(state, dir).startsWith('..');
    if (inState) {
      chmodSync(dir, statSync(dir).mode | 0o001);
      continue;
    }
    throw failure(
      'ConfigInvalid',
      `PostgreSQL runs as user postgres, which cannot enter ${dir} (mode ${(statSync(dir).mode & 0o777).toString(8)}) ` +
        `on the way to its data directory ${layout.dataDir}. Fix: set KILN_STATE to a directory outside ${dir}, ` +
        `or let others enter it: chmod o+x ${dir}`,
    );
  }
}

/** The `temporal` role's password, made with the data directory and kept in a 0600 file beside it. */
export function password(layout: ClusterLayout): string {
  if (!existsSync(layout.passwordFile)) {
    throw failure(
      'ConfigInvalid',
      `${layout.passwordFile} is missing, so the server cannot log in to PostgreSQL in ${layout.dataDir}. ` +
        `Fix: restore the file, or stop the cluster and remove ${layout.dataDir} to start with an empty one.`,
    );
  }
  return readFileSync(layout.passwordFile, 'utf8').trim();
}

export async function initdbOnce(
  layout: ClusterLayout,
  binDir: string,
  account: { user?: string; uid: number; gid: number },
  env: Record<string, string>,
  log: Log,
): Promise<void> {
  const major = binDir.split(sep).at(-2)!;
  const versionFile = join(layout.dataDir, 'PG_VERSION');
  if (existsSync(versionFile)) {
    const have = readFileSync(versionFile, 'utf8').trim();
    if (have !== major) {
      throw failure(
        'ConfigInvalid',
        `${layout.dataDir} holds a PostgreSQL ${have} cluster, but PostgreSQL ${major} is installed. ` +
          `Fix: install postgresql-${have}, or upgrade the data directory with pg_upgrade, or remove ${layout.dataDir} to start empty.`,
      );
    }
    return;
  }
  log(`    postgresql: initdb ${layout.dataDir} (PostgreSQL ${major}, as ${account.user ?? 'this user'})`);
  // A new data directory gets a new password (an interrupted first up may have left one).
  writeFileSync(layout.passwordFile, `${randomBytes(24).toString('base64url')}\n`, { mode: 0o600 });
  mkdirSync(layout.dataDir, { recursive: true, mode: 0o700 });
  chownSync(layout.dataDir, account.uid, account.gid);
  // initdb reads the password from a file the PostgreSQL user can read; it lives only for this call.
  const pwfile = join(layout.dir, '.initdb-password');
  writeFileSync(pwfile, `${password(layout)}\n`, { mode: 0o600 });
  chownSync(pwfile, account.uid, account.gid);
  try {
    const line = asUser(account.user, postgresCommands(binDir, layout).initdb(pwfile));
    const run = await execa(line.command, line.args, {
      cwd: layout.dir,
      env,
      extendEnv: false,
      reject: false,
      all: true,
    });
    writeFileSync(logFile(layout, 'initdb'), run.all ?? '');
    if (run.exitCode !== 0) {
      throw failure('ToolFailed', `initdb failed (exit ${run.exitCode}):\n${tail(logFile(layout, 'initdb'))}`);
    }
  } finally {
    rmSync(pwfile, { force: true });
  }
}
