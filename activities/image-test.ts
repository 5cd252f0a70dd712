// testImage: the image's functional tests in a bubblewrap sandbox and its expectations on config
// and filesystem, checked on the assembled layout before anything is pushed.
import { appendFile, lstat, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { asyncLocalStorage } from '@temporalio/activity';
import type { KilnConfig } from '../config/config.js';
import type { ImageSpec } from '../domain/catalog.js';
import { failure } from '../domain/failures.js';
import { checkSandbox, runInSandbox, sandboxConfig } from '../adapters/bubblewrap.js';
import {
  INSTALLED_DB,
  isAmd64,
  layoutImages,
  layoutSource,
  parseInstalledDb,
  readImageConfig,
  type ImageConfig,
  type PlatformImage,
} from '../oci/image-reader.js';
import { buildableArchs } from '../setup/emulation.js';
import {
  ensureDir,
  existsInRoot,
  readInRoot,
  remapAndMeasure,
  resolveUser,
  unpackLayers,
  type Identity,
} from '../oci/rootfs.js';
import { readSnapshot } from '../io/catalog-snapshot.js';

export interface ImageTestResult {
  name: string;
  passed: boolean;
  /** null when the command was killed (timeout). */
  exitCode: number | null;
  /** Combined stdout and stderr, the last 2000 characters. */
  output: string;
  /** Why it failed: expected vs got. */
  failure?: string;
}

export interface ExpectationResult {
  check: string;
  passed: boolean;
  detail: string;
}

export interface ImageTestReport {
  tests: ImageTestResult[];
  expectations: ExpectationResult[];
  /** Uncompressed root filesystem: regular files, hard links counted once. */
  sizeBytes: number;
  packages: { name: string; version: string }[];
}

export interface TestImageInput {
  snapshotDir: string;
  name: string;
  layoutDir: string;
  /** Per command; default config.imageTest.timeoutSeconds (KILN_IMAGE_TEST_TIMEOUT_SECONDS, 60). */
  timeoutSeconds?: number;
}

/** The automatic entrypoint run's name; an image test with this name replaces that run. */
const ENTRYPOINT_TEST = 'entrypoint';

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const OUTPUT_KEEP = 2000;
const WORK_PREFIX = '.check-';

/** Unpacked roots a crashed worker left behind (a day old: no run takes that long). */
async function removeStaleWorkDirs(dir: string): Promise<void> {
  const dayAgo = Date.now() - 24 * 3600_000;
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (!name.startsWith(WORK_PREFIX)) continue;
    const st = await lstat(join(dir, name)).catch(() => undefined);
    if (st && st.mtimeMs < dayAgo) await rm(join(dir, name), { recursive: true, force: true }).catch(() => undefined);
  }
}

/**
 * Unpacks the amd64 image, checks its expectations, then runs its tests in bubblewrap (no
 * network, the image's env, user and working directory). The entrypoint (with cmd) is also run
 * once and must exit 0 — unless image.yaml declares a test named "entrypoint", which then replaces
 * that run (a server that never exits declares one, e.g. `[nginx, -t]`). Any failure throws
 * ImageTestFailed (non-retryable) listing each failure, with the report as its details.
 */
export async function testImage(config: KilnConfig, input: TestImageInput): Promise<ImageTestReport> {
  const catalog = await readSnapshot(input.snapshotDir);
  const found = catalog.images.find((i) => i.name === input.name);
  if (!found) throw failure('CatalogInvalid', `image ${input.name} is not in catalog snapshot ${input.snapshotDir}`);
  const spec: ImageSpec = found;
  const sandbox = sandboxConfig(config);
  checkSandbox(sandbox);
  const timeoutMs = 1000 * (input.timeoutSeconds ?? config.imageTest.timeoutSeconds);
  const { paths } = config;
  const logFile = join(paths.logs, 'images', `${spec.name}-tests.log`);
  await mkdir(dirname(logFile), { recursive: true });
  await writeFile(logFile, `# image tests of ${spec.name} (${input.layoutDir}), ${new Date().toISOString()}\n`);
  await mkdir(paths.images, { recursive: true });
  await removeStaleWorkDirs(paths.images);
  // mkdtemp is 0700: nothing else on the host reaches the unpacked (and remapped) files.
  const work = await mkdtemp(join(paths.images, `${WORK_PREFIX}${spec.name}-`));
  try {
    const images = await layoutImages(input.layoutDir);
    const primary = images.find(isAmd64);
    if (!primary)
      throw failure(
        'UnsupportedImage',
        `image ${spec.name} has no linux/amd64 image in ${input.layoutDir}; kiln tests x86_64 and the archs this worker runs`,
      );
    // Every other platform this worker runs (aarch64 under qemu-user, setup/emulation.ts) is tested
    // the same way; its results are named `<check> [<arch>]`. The report's size and packages are amd64's.
    const runs = config.worker.archs ?? buildableArchs();
    const report = await testPlatform(primary, '');
    for (const image of images) {
      const arch = apkArch(image);
      if (image === primary) continue;
      if (!runs.includes(arch)) {
        await appendFile(logFile, `# ${arch}: not tested, this worker runs ${runs.join(', ')}\n`);
        continue;
      }
      const other = await testPlatform(image, ` [${arch}]`);
      report.tests.push(...other.tests);
      report.expectations.push(...other.expectations);
    }
    const failures = [
      ...report.tests.filter((t) => !t.passed).map((t) => `test "${t.name}": ${t.failure}`),
      ...report.expectations.filter((x) => !x.passed).map((x) => `expectation ${x.check}: ${x.detail}`),
    ];
    if (failures.length) {
      throw failure(
        'ImageTestFailed',
        `image ${spec.name} failed ${failures.length} check${failures.length === 1 ? '' : 's'}, so it is not published:\n- ${failures.join('\n- ')}\n(test log: ${logFile})`,
        { details: [report] },
      );
    }
    return report;
  } finally {
    await rm(work, { recursive: true, force: true }).catch(() => undefined);
  }

  /** Unpacks one platform's image, checks its expectations and runs its tests; names end in `suffix`. */
  async function testPlatform(image: PlatformImage, suffix: string): Promise<ImageTestReport> {
    const source = layoutSource(input.layoutDir);
    const imageConfig = await readImageConfig(source, image);
    const root = join(work, `rootfs${suffix ? `-${apkArch(image)}` : ''}`);
    await mkdir(root, { mode: 0o755 });
    asyncLocalStorage.getStore()?.heartbeat({ step: 'unpack', image: spec.name });
    await unpackLayers(
      root,
      image.manifest.layers.map((l) => source.stream(l.digest)),
      `image ${spec.name}`,
    );

    const c = imageConfig.config ?? {};
    const env = new Map<string, string>();
    for (const e of c.Env ?? []) {
      const eq = e.indexOf('=');
      const key = eq < 0 ? e : e.slice(0, eq);
      if (key) env.set(key, eq < 0 ? '' : e.slice(eq + 1));
    }
    const expectations: ExpectationResult[] = [];
    let identity: Identity | undefined;
    try {
      identity = await resolveUser(root, c.User ?? '');
    } catch (err) {
      expectations.push({
        check: 'user resolves',
        passed: false,
        detail: `${(err as Error).message} (config User "${c.User}")`,
      });
    }
    const sizeBytes = await remapAndMeasure(root, identity ?? { uid: 0, gid: 0 });
    const dbText = (await readInRoot(root, INSTALLED_DB[0]!)) ?? (await readInRoot(root, INSTALLED_DB[1]!)) ?? '';
    const packages = parseInstalledDb(dbText).map((p) => ({ name: p.name, version: p.version }));
    // Checked before any test runs: tests may change the (writable) root filesystem.
    expectations.push(...(await checkExpectations(spec, root, c, env, identity, sizeBytes)));

    const tests: ImageTestResult[] = [];
    if (identity) {
      const user = identity;
      if (!env.has('PATH')) env.set('PATH', DEFAULT_PATH);
      if (!env.has('HOME')) env.set('HOME', user.home || '/');
      const workdir = c.WorkingDir || '/';
      // Docker creates a missing working directory; so do the mount points bwrap needs.
      for (const dir of [workdir, 'proc', 'dev', 'tmp']) await ensureDir(root, dir);
      const run = async (name: string, command: string[], expected: { exitCode: number; output?: string }) =>
        judge(
          name,
          expected,
          timeoutMs,
          await runInSandbox(sandbox, {
            root,
            name,
            command,
            env,
            uid: user.uid,
            gid: user.gid,
            workdir,
            timeoutMs,
            logFile,
          }),
        );
      const entry = [...(c.Entrypoint ?? []), ...(c.Cmd ?? [])];
      if (!spec.tests.some((t) => t.name === ENTRYPOINT_TEST) && entry.length)
        tests.push(await run(ENTRYPOINT_TEST, entry, { exitCode: 0 }));
      for (const t of spec.tests) tests.push(await run(t.name, t.command, t));
    }
    return {
      tests: tests.map((t) => ({ ...t, name: `${t.name}${suffix}` })),
      expectations: expectations.map((x) => ({ ...x, check: `${x.check}${suffix}` })),
      sizeBytes,
      packages,
    };
  }
}

/** The APK arch of a platform image (`arm64` -> `aarch64`). */
function apkArch(image: PlatformImage): string {
  const arch = image.descriptor.platform?.architecture ?? 'unknown';
  return ({ amd64: 'x86_64', arm64: 'aarch64' } as Record<string, string>)[arch] ?? arch;
}

/** A sandbox run against what the test expected: exit code, then output. */
function judge(
  name: string,
  expected: { exitCode: number; output?: string },
  timeoutMs: number,
  r: { exitCode: number | null; signal?: string; timedOut: boolean; output: string },
): ImageTestResult {
  let why: string | undefined;
  if (r.timedOut)
    why = `did not exit within ${timeoutMs / 1000}s${name === ENTRYPOINT_TEST ? ` (a server? declare a test named "${ENTRYPOINT_TEST}" in image.yaml that checks it instead)` : ''}`;
  else if (r.exitCode !== expected.exitCode)
    why = `expected exit code ${expected.exitCode}, got ${r.exitCode ?? r.signal}`;
  else if (expected.output !== undefined && !new RegExp(expected.output, 'm').test(r.output))
    why = `expected output matching /${expected.output}/`;
  if (why) why += `; output: ${JSON.stringify(r.output.slice(-300))}`;
  return {
    name,
    passed: !why,
    exitCode: r.exitCode,
    output: r.output.slice(-OUTPUT_KEEP),
    ...(why ? { failure: why } : {}),
  };
}

async function checkExpectations(
  spec: ImageSpec,
  root: string,
  c: NonNullable<ImageConfig['config']>,
  env: Map<string, string>,
  identity: Identity | undefined,
  sizeBytes: number,
): Promise<ExpectationResult[]> {
  const x = spec.expectations;
  const out: ExpectationResult[] = [];
  const json = JSON.stringify;
  if (x.entrypoint) {
    const got = c.Entrypoint ?? [];
    out.push({
      check: 'entrypoint',
      passed: json(got) === json(x.entrypoint),
      detail: `expected ${json(x.entrypoint)}, got ${json(got)}`,
    });
  }
  const user = c.User ?? '';
  const who = identity ? `"${user}" (uid ${identity.uid}${identity.name ? `, ${identity.name}` : ''})` : `"${user}"`;
  if (x.nonRoot) {
    const root0 = user === '' || user === 'root' || user.split(':')[0] === '0' || identity?.uid === 0;
    out.push({
      check: 'nonRoot',
      passed: !root0,
      detail: root0 ? `expected a non-root user, got ${user === '' ? 'none (root)' : who}` : `runs as ${who}`,
    });
  }
  if (x.user !== undefined) {
    // "app" and "10001" name the same user when the image's passwd says so.
    const wanted = x.user;
    let same = wanted === user;
    if (!same && identity)
      same = await resolveUser(root, wanted).then(
        (e) => e.uid === identity.uid && (!wanted.includes(':') || e.gid === identity.gid),
        () => false,
      );
    out.push({ check: 'user', passed: same, detail: `expected "${wanted}", got ${who}` });
  }
  for (const [k, v] of Object.entries(x.environment ?? {})) {
    const got = env.get(k);
    out.push({
      check: `environment ${k}`,
      passed: got === v,
      detail: `expected ${json(v)}, got ${got === undefined ? 'unset' : json(got)}`,
    });
  }
  for (const p of x.filesPresent ?? []) {
    const ok = await existsInRoot(root, p);
    out.push({
      check: `filesPresent ${p}`,
      passed: ok,
      detail: ok ? 'present' : 'expected present, but it is missing',
    });
  }
  for (const p of x.filesAbsent ?? []) {
    const present = await existsInRoot(root, p);
    out.push({
      check: `filesAbsent ${p}`,
      passed: !present,
      detail: present ? 'expected absent, but the image has it' : 'absent',
    });
  }
  if (x.maxSizeMiB !== undefined) {
    const mib = sizeBytes / (1024 * 1024);
    out.push({
      check: 'maxSizeMiB',
      passed: mib <= x.maxSizeMiB,
      detail: `expected at most ${x.maxSizeMiB} MiB, got ${mib.toFixed(2)} MiB`,
    });
  }
  return out;
}
