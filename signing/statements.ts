// Sigstore signing of images: in-toto statements, the key and keyless signers, and the bundles
// attached to an image. This module: the in-toto v1 Statements kiln signs, the predicate types it
// attests, and the predicate files that scans and provenance leave for attestation.
import { mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { KilnPaths } from '../config/config.js';
import { hexOf } from '../domain/digest.js';
import { failure } from '../domain/failures.js';
import { writeFileAtomically } from '../io/atomic-file.js';

export const IN_TOTO = 'application/vnd.in-toto+json';
export const STATEMENT_V1 = 'https://in-toto.io/Statement/v1';
/** What `cosign sign` v3 signs: a Statement about the image with an empty predicate. */
export const SIGNATURE_PREDICATE = 'https://sigstore.dev/cosign/sign/v1';

/** Attestation predicate types kiln writes, by their `cosign verify-attestation --type` names. */
export const PREDICATE_TYPES = {
  spdxjson: 'https://spdx.dev/Document',
  vuln: 'https://cosign.sigstore.dev/attestation/vuln/v1',
  slsaprovenance1: 'https://slsa.dev/provenance/v1',
} as const;

export interface Statement {
  _type: string;
  subject: { name?: string; digest?: Record<string, string>; annotations?: Record<string, unknown> }[];
  predicateType: string;
  predicate: unknown;
}

/** The hex of an image digest, which must be `sha256:<64 hex>` (InvalidInput otherwise). */
export function checkDigest(digest: string): string {
  const m = /^sha256:([0-9a-f]{64})$/.exec(digest);
  if (!m) throw failure('InvalidInput', `image digest ${JSON.stringify(digest)} is not sha256:<64 hex>`);
  return m[1]!;
}

/** A predicate type URI from a URI or a cosign name; only the types kiln attests. */
export function predicateUri(type: string): string {
  const uri = (PREDICATE_TYPES as Record<string, string>)[type] ?? type;
  if (!Object.values(PREDICATE_TYPES).includes(uri as never)) {
    const known = Object.entries(PREDICATE_TYPES)
      .map(([k, v]) => `${v} (${k})`)
      .join(', ');
    throw failure('InvalidInput', `predicate type ${type} is not one kiln attests (${known})`);
  }
  return uri;
}

/** JSON with sorted keys: statements are compared by content, not by the bytes of a signature. */
export function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    return `{${Object.keys(obj)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(obj[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

/** The value at a dotted path into a document (undefined where the path leads nowhere). */
export function valueAt(doc: unknown, path: string): unknown {
  return path
    .split('.')
    .reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined), doc);
}

export const coversDigest = (statement: Statement, hex: string) =>
  statement.subject.some((s) => s.digest?.sha256 === hex);

/** A predicate file on the worker's disk: a JSON object (InvalidInput otherwise). */
export async function readPredicateFile(file: string): Promise<object> {
  let predicate: unknown;
  try {
    predicate = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw failure(
      'InvalidInput',
      `predicate ${file} is not a readable JSON file on this worker: ${(err as Error).message}`,
    );
  }
  if (!predicate || typeof predicate !== 'object' || Array.isArray(predicate))
    throw failure('InvalidInput', `predicate ${file} is not a JSON object`);
  return predicate;
}

/** Writes `<images>/predicates/<hex>.<kind>.json` atomically (a retried activity never sees half a file). */
export async function writePredicateFile(
  paths: KilnPaths,
  digest: string,
  kind: string,
  predicate: unknown,
): Promise<string> {
  const file = join(paths.images, 'predicates', `${hexOf(digest)}.${kind}.json`);
  await mkdir(dirname(file), { recursive: true });
  await writeFileAtomically(file, JSON.stringify(predicate, null, 2));
  return file;
}
