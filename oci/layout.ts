// THE OCI image layout reader (what apko writes): every blob read from a layout, for tests, scans or
// a push, is named by a well-formed sha256 digest, stays inside the layout and matches its digest.
import { createReadStream } from 'node:fs';
import { readFile, realpath } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { sha256digest, sha256stream } from '../domain/digest.js';
import { corruptArtifact } from '../domain/failures.js';
import type { Descriptor } from './registry.js';

const DIGEST = /^sha256:([0-9a-f]{64})$/;

/**
 * The file of a blob, refusing a digest that is not `sha256:<64 hex>` (it comes from the layout's
 * own documents, so it could name `../`) and a blob that resolves (through a symlink) outside it.
 */
export async function blobPath(layoutDir: string, digest: string): Promise<string> {
  const hex = DIGEST.exec(digest)?.[1];
  if (!hex) throw corruptArtifact(`layout ${layoutDir} references malformed digest ${JSON.stringify(digest)}`);
  const file = join(layoutDir, 'blobs', 'sha256', hex);
  const [root, real] = await Promise.all([
    realpath(layoutDir),
    realpath(file).catch((err: NodeJS.ErrnoException) => {
      throw corruptArtifact(`layout ${layoutDir} lacks blob ${digest} (${err.code ?? err.message})`, err);
    }),
  ]);
  if (!real.startsWith(`${root}${sep}`))
    throw corruptArtifact(`blob ${digest} of layout ${layoutDir} resolves outside it, to ${real}`);
  return file;
}

const mismatch = (layoutDir: string, digest: string) =>
  corruptArtifact(`blob ${digest} in ${layoutDir} does not match its digest`);

/** A blob's bytes, checked against its digest. */
export async function readBlob(layoutDir: string, digest: string): Promise<Buffer> {
  const body = await readFile(await blobPath(layoutDir, digest));
  if (sha256digest(body) !== digest) throw mismatch(layoutDir, digest);
  return body;
}

/** A blob as a byte stream (layers can be large), checked against its digest by the time it ends. */
export async function* streamBlob(layoutDir: string, digest: string): AsyncGenerator<Buffer> {
  const hash = sha256stream();
  for await (const chunk of createReadStream(await blobPath(layoutDir, digest), { highWaterMark: 1 << 20 })) {
    hash.update(chunk as Buffer);
    yield chunk as Buffer;
  }
  if (`sha256:${hash.digest('hex')}` !== digest) throw mismatch(layoutDir, digest);
}

export interface LayoutIndex {
  /** The image index's digest: that of index.json's bytes. */
  digest: string;
  body: Buffer;
  manifests: Descriptor[];
}

/**
 * apko writes the image index itself as the layout's index.json (its manifests are the per-arch
 * images), so the index's bytes, and digest, are those of index.json.
 */
export async function readLayoutIndex(layoutDir: string): Promise<LayoutIndex> {
  const body = await readFile(join(layoutDir, 'index.json')).catch((err: Error) => {
    throw corruptArtifact(`${layoutDir} is not an OCI image layout: ${err.message}`, err);
  });
  let doc: { manifests?: Descriptor[] };
  try {
    doc = JSON.parse(body.toString('utf8')) as typeof doc;
  } catch (err) {
    throw corruptArtifact(`${layoutDir}/index.json is not JSON: ${(err as Error).message}`, err);
  }
  return { digest: sha256digest(body), body, manifests: doc.manifests ?? [] };
}
