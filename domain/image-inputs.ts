// Domain (pure): what an image is built from, as one digest, so an unchanged image is recognised
// without assembling it (activities/image-inputs.ts). The packages apko can install for an image
// are the closure of its `contents.packages` over the repositories' signed indexes: every candidate
// of every name reached (any version, any repository: the resolver's choice among them cannot
// change unless one of them does), their dependencies, and what `install_if` pulls in.
import type { ApkIndexEntry } from './apkindex.js';
import { sha256digest } from './digest.js';
import { parseAtom } from './plan.js';

/**
 * Bump when the image pipeline changes what it publishes for the same inputs (stages, predicates,
 * annotations): every image then goes through the whole pipeline once more.
 */
export const IMAGE_PIPELINE_VERSION = 1;

/** `name version checksum` of every index entry apko could install for `roots`, sorted. */
export function packageClosure(entries: ApkIndexEntry[], roots: string[]): string[] {
  const byName = new Map<string, ApkIndexEntry[]>();
  const add = (name: string, e: ApkIndexEntry) => (byName.get(name) ?? byName.set(name, []).get(name)!).push(e);
  for (const e of entries) {
    add(e.name, e);
    for (const p of e.provides) add(parseAtom(p).name, e);
  }
  const names = new Set<string>();
  const chosen = new Set<ApkIndexEntry>();
  const queue: string[] = [];
  const need = (atom: string) => {
    const { name, conflict } = parseAtom(atom);
    if (conflict || names.has(name)) return;
    names.add(name);
    queue.push(name);
  };
  const take = (e: ApkIndexEntry) => {
    if (chosen.has(e)) return;
    chosen.add(e);
    need(e.name);
    e.provides.forEach(need);
    e.dependencies.forEach(need);
  };
  roots.forEach(need);
  const conditional = entries.filter((e) => e.installIf?.length);
  for (;;) {
    while (queue.length) (byName.get(queue.pop()!) ?? []).forEach(take);
    // install_if: a package whose every condition is among the names reached comes along.
    const triggered = conditional.filter(
      (e) => !chosen.has(e) && e.installIf!.every((a) => names.has(parseAtom(a).name)),
    );
    if (!triggered.length) break;
    triggered.forEach(take);
  }
  return [...chosen].map((e) => `${e.name} ${e.version} ${e.checksum}`).sort();
}

export interface ImageInputs {
  /** apko's version. */
  apko: string;
  archs: string[];
  /** sha256 of each config file (apko.yaml, what it includes, image.yaml), by path in the catalog. */
  files: Record<string, string>;
  tags: string[];
  /** sha256 of each keyring file, in order. */
  keyring: string[];
  /** The package closure per arch (packageClosure). */
  packages: Record<string, string[]>;
  /** The vulnerability feed's digest and the policy: a new feed is a new scan. */
  vulnerabilities?: string;
  /** Who may sign (keyless identity) or "key": a new signer means new signatures. */
  signer: string;
}

/** One digest of everything an image's published form depends on. */
export function imageInputDigest(inputs: ImageInputs): string {
  const sortedKeys = (o: Record<string, unknown>) =>
    Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : 1)));
  return sha256digest(
    JSON.stringify({
      pipeline: IMAGE_PIPELINE_VERSION,
      ...inputs,
      files: sortedKeys(inputs.files),
      packages: sortedKeys(inputs.packages),
    }),
  );
}
