// What a fault row measures, read from what a run leaves behind (never from what kiln says of itself
// alone): melange builds from the build logs, finished builds from the build directories, APKs in
// the package repository, tags in the real registry (behind the proxy), and each tag's digest
// checked with kiln's own offline verification (signing/image-verification.ts) against the
// worker's public key (one statement of each kind: a second is a race between runs).
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { configWith } from '../../config/config.js';
import { sha256hex } from '../../domain/digest.js';
import type { RebuildSummary } from '../../domain/summary.js';
import { RegistryClient } from '../../oci/registry.js';
import { verifiedStatements } from '../../signing/image-verification.js';
import { trustedSigner } from '../../signing/signer.js';
import type { GeneratedCatalog } from '../generate-catalog.js';
import type { LabEnv } from './lab.js';

const ARCH = 'x86_64';

/**
 * Per step and input digest (`build <package> <16 hex>`, `assemble <image> <16 hex>`): tool runs
 * started (melange's `build` lines in the package's build logs, apko's in the image's log; each
 * names its scratch directory `<name>-<16 hex of the input digest>.attempt-…`) and whether that
 * input's output is there (the build directory, the image layout). Keyed by input digest, so a
 * build of changed inputs (a new version, a rebuilt dependency) is new work, not a step redone.
 */
export type Ledger = Map<string, { started: number; finished: boolean }>;

const logLines = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').split('\n') : []);

export function ledger(env: LabEnv, catalog: GeneratedCatalog): Ledger {
  const out: Ledger = new Map();
  const count = (key: string, finished: boolean) => {
    const e = out.get(key) ?? { started: 0, finished };
    out.set(key, { started: e.started + 1, finished });
  };
  const logs = join(env.KILN_STATE, 'logs');
  const packageLogs = existsSync(join(logs, 'packages')) ? readdirSync(join(logs, 'packages')) : [];
  // Generated names are letters, digits and dashes: no escaping needed in the patterns.
  for (const { name } of catalog.packages) {
    const lines = packageLogs
      .filter((f) => f.startsWith(`${name}-`) && f.endsWith(`-${ARCH}.log`))
      .flatMap((f) => logLines(join(logs, 'packages', f)));
    for (const digest of started(lines, new RegExp(`/builds/${ARCH}/${name}-([0-9a-f]{16})\\.attempt-`)))
      count(`build ${name} ${digest}`, existsSync(join(env.KILN_STATE, 'builds', ARCH, `${name}-${digest}`)));
  }
  for (const name of images(catalog)) {
    const lines = logLines(join(logs, 'images', `${name}.log`));
    for (const digest of started(lines, new RegExp(`/images/${name}-([0-9a-f]{16})\\.attempt-`)))
      count(
        `assemble ${name} ${digest}`,
        existsSync(join(env.KILN_STATE, 'images', `${name}-${digest}`, 'layout', 'index.json')),
      );
  }
  return out;
}

/** The input digests of the tool runs (`$ … build …` lines) a log records, one per run. */
function started(lines: string[], scratch: RegExp): string[] {
  return lines.flatMap((l) => {
    const m = l.startsWith('$ ') && l.includes(' build ') ? scratch.exec(l) : null;
    return m ? [m[1]!] : [];
  });
}

/** The catalog's image names (its `images/<name>/` directories). */
function images(catalog: GeneratedCatalog): string[] {
  const dir = join(catalog.dir, 'images');
  return existsSync(dir) ? readdirSync(dir) : [];
}

/** Whether a build of `name` had finished (some input digest's build directory was there). */
export const builtBefore = (at: Ledger, name: string) =>
  [...at].some(([key, e]) => key.startsWith(`build ${name} `) && e.finished);

/**
 * Finished steps done again: per step and input digest, tool runs beyond those started before the
 * fault plus one when its output was not there then (the interrupted or not yet started one may run
 * once more; an input first seen after the fault is new work, allowed once).
 */
export function redone(atFault: Ledger, after: Ledger): { count: number; details: string[] } {
  const details: string[] = [];
  let count = 0;
  for (const [key, now] of after) {
    const before = atFault.get(key) ?? { started: 0, finished: false };
    const allowed = before.started + (before.finished ? 0 : 1);
    if (now.started > allowed) details.push(`${key} ran ${now.started} times, ${allowed} expected`);
    count += Math.max(0, now.started - allowed);
  }
  return { count, details };
}

/** The real registry's client for a reference's repository (the summary names the proxy's address). */
function realRegistry(env: LabEnv, reference: string): RegistryClient {
  const path = reference.replace(/@.*$/, '').replace(/:[^/]*$/, '');
  const repository = path.slice(path.indexOf('/') + 1);
  return new RegistryClient({ registry: env.KILN_REGISTRY, repository }, configWith({ ...env }).registryAuth);
}

/**
 * Artifacts the catalog should have and does not: a package whose APKs are not in the repository
 * with the bytes the summary records, an image whose tags do not point at the summary's digest.
 */
export async function lost(env: LabEnv, catalog: GeneratedCatalog, summary: RebuildSummary): Promise<number> {
  let missing = 0;
  const repo = summary.target?.packageRepository;
  for (const { name } of catalog.packages) {
    const p = summary.packages.find((x) => x.name === name);
    const apks = p?.apks?.[ARCH] ?? [];
    const present = await Promise.all(
      apks.map(async (a) => {
        const bytes = repo ? await readFile(join(repo, ARCH, a.file)).catch(() => undefined) : undefined;
        return bytes !== undefined && sha256hex(bytes) === a.sha256;
      }),
    );
    if (!apks.length || present.includes(false)) missing++;
  }
  for (const image of summary.images) {
    if (!image.reference || !image.digest || !image.tags.length) {
      missing++;
      continue;
    }
    const client = realRegistry(env, image.reference);
    for (const tag of image.tags) {
      const m = await client.getManifest(tag);
      if (m?.digest !== image.digest) {
        missing++;
        break;
      }
    }
  }
  return missing;
}

/**
 * Tags (every tag of every image repository the summary names, referrer tags aside) whose digest
 * does not carry a signature, SBOM and provenance by the worker's key. Returns the count and why.
 */
export async function unverifiedTags(
  env: LabEnv,
  summary: RebuildSummary,
): Promise<{ count: number; tags: number; problems: string[] }> {
  const trusted = await trustedSigner(configWith({ ...env }), undefined);
  const problems: string[] = [];
  let tags = 0;
  for (const image of summary.images) {
    if (!image.reference) continue;
    const client = realRegistry(env, image.reference);
    for (const tag of (await client.listTags()).filter((t) => !/^sha256-[0-9a-f]{64}/.test(t))) {
      tags++;
      const digest = (await client.getManifest(tag))?.digest ?? '';
      const where = `${client.ref.repository}:${tag}`;
      await verifiedStatements(client, trusted, {
        repository: `${env.KILN_REGISTRY}/${client.ref.repository}`,
        digest,
        predicateTypes: ['spdxjson', 'slsaprovenance1'],
      }).then(
        (statements) => {
          // One statement of each kind: two runs attesting the same image twice is a race, not a record.
          const types = statements.map((st) => st.predicateType);
          const twice = [...new Set(types.filter((x, i) => types.indexOf(x) !== i))];
          if (twice.length) problems.push(`${where}: more than one ${twice.join(', ')} statement`);
        },
        (err: Error) => problems.push(`${where}: ${err.message}`),
      );
    }
  }
  return { count: problems.length, tags, problems };
}
