// Reading images without unpacking them: the per-platform images under an index, their configs,
// their layers as tar streams, and the APK packages installed in them. Blobs come from an apko
// layout (through the checked layout reader) or from a registry (digest-checked by the client).
import { posix } from 'node:path';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { asyncLocalStorage } from '@temporalio/activity';
import { parseApkIndexText } from '../domain/apkindex.js';
import { corruptArtifact, failure, unsafeLayer } from '../domain/failures.js';
import { tarEntries } from '../domain/tar.js';
import { readBlob, readLayoutIndex, streamBlob } from './layout.js';
import { INDEX_TYPES, type Descriptor, type RegistryClient } from './registry.js';

export interface ImageManifest {
  config: Descriptor;
  layers: Descriptor[];
}

export interface ImageConfig {
  architecture?: string;
  config?: {
    Entrypoint?: string[] | null;
    Cmd?: string[] | null;
    User?: string;
    Env?: string[] | null;
    WorkingDir?: string;
  };
}

/** Where an image's documents and blobs come from: the apko layout or the registry. */
export interface BlobSource {
  /** The manifest/index (or config) bytes for a digest. */
  document(digest: string): Promise<Buffer>;
  /** A blob as a byte stream, checked against its digest by the time the stream ends. */
  stream(digest: string): AsyncIterable<Buffer>;
}

export function layoutSource(layoutDir: string): BlobSource {
  return { document: (digest) => readBlob(layoutDir, digest), stream: (digest) => streamBlob(layoutDir, digest) };
}

export function registrySource(client: RegistryClient): BlobSource {
  return {
    document: async (digest) => {
      const m = await client.getManifest(digest);
      if (!m) throw failure('RegistryRejected', `manifest ${digest} vanished from the registry`, { retryable: true });
      return m.body;
    },
    // getBlob checks the digest itself.
    stream: (digest) =>
      (async function* () {
        yield await client.getBlob(digest);
      })(),
  };
}

export interface PlatformImage {
  /** Manifest descriptor (digest, size, platform). */
  descriptor: Descriptor;
  manifest: ImageManifest;
}

/** Every per-platform image under an index (nested indexes included), or the manifest itself. */
export async function platformImages(
  source: BlobSource,
  top: { mediaType: string; body: Buffer; digest: string },
): Promise<PlatformImage[]> {
  const doc = JSON.parse(top.body.toString('utf8')) as {
    mediaType?: string;
    manifests?: Descriptor[];
    config?: Descriptor;
    layers?: Descriptor[];
  };
  if (INDEX_TYPES.has(top.mediaType) || (doc.manifests && !doc.layers)) {
    const out: PlatformImage[] = [];
    for (const d of doc.manifests ?? []) {
      // Attestations and other artifacts can sit in an index; only images have a platform or layers.
      const body = await source.document(d.digest);
      const images = await platformImages(source, { mediaType: d.mediaType, body, digest: d.digest });
      out.push(
        ...images.map((p) =>
          p.descriptor.platform ? p : { ...p, descriptor: { ...p.descriptor, platform: d.platform } },
        ),
      );
    }
    return out;
  }
  if (!doc.config || !doc.layers) return [];
  return [
    {
      descriptor: { mediaType: top.mediaType, digest: top.digest, size: top.body.length },
      manifest: { config: doc.config, layers: doc.layers },
    },
  ];
}

export const isAmd64 = (p: PlatformImage) =>
  p.descriptor.platform?.architecture === 'amd64' && (p.descriptor.platform.os ?? 'linux') === 'linux';

/** The image kiln compares and tests: linux/amd64, else the first. */
export const pickImage = (images: PlatformImage[]) => images.find(isAmd64) ?? images[0];

/** The per-platform images of an apko layout. */
export async function layoutImages(layoutDir: string): Promise<PlatformImage[]> {
  const index = await readLayoutIndex(layoutDir);
  // apko's index.json is the image index itself (oci/layout.ts readLayoutIndex).
  return platformImages(layoutSource(layoutDir), {
    mediaType: 'application/vnd.oci.image.index.v1+json',
    body: index.body,
    digest: index.digest,
  });
}

/** An image's config document (entrypoint, user, environment, working directory). */
export async function readImageConfig(source: BlobSource, image: PlatformImage): Promise<ImageConfig> {
  const body = await source.document(image.manifest.config.digest);
  try {
    return JSON.parse(body.toString('utf8')) as ImageConfig;
  } catch (err) {
    throw corruptArtifact(`image config ${image.manifest.config.digest} is not JSON: ${(err as Error).message}`, err);
  }
}

/** A layer as uncompressed tar bytes: gzip detected by its magic, plain tar passed through. */
export async function* layerTar(source: AsyncIterable<Buffer>, what: string): AsyncGenerator<Buffer> {
  const it = source[Symbol.asyncIterator]();
  const first = await it.next();
  if (first.done) return;
  const head = first.value;
  const rest = (async function* () {
    yield head;
    for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
  })();
  if (head[0] === 0x1f && head[1] === 0x8b) {
    const gunzip = createGunzip();
    const compressed = Readable.from(rest);
    // pipe() does not forward a source error (e.g. a digest mismatch at the end); do it here.
    compressed.on('error', (err) => gunzip.destroy(err));
    try {
      yield* compressed.pipe(gunzip) as AsyncIterable<Buffer>;
    } catch (err) {
      if (err instanceof Error && 'errno' in err)
        throw corruptArtifact(`${what} is not valid gzip: ${err.message}`, err);
      throw err;
    }
  } else if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) {
    throw failure('UnsupportedImage', `${what} is zstd-compressed, which kiln cannot unpack (Node 20 has no zstd)`);
  } else {
    yield* rest;
  }
}

/** A layer's tar entries (tar-stream), bodies read only where `wantBody` says. */
export function layerEntries(
  source: AsyncIterable<Buffer>,
  what: string,
  wantBody: Parameters<typeof tarEntries>[1]['wantBody'],
) {
  return tarEntries(layerTar(source, what), { what, wantBody });
}

/** Normalized relative path of a tar entry; undefined for the root itself; throws if it escapes. */
export function entryPath(raw: string, what: string): string | undefined {
  const p = posix.normalize(raw.replace(/^\/+/, ''));
  if (p === '.' || p === '' || p === './') return undefined;
  if (p === '..' || p.startsWith('../'))
    throw unsafeLayer(`${what}: entry "${raw}" escapes the root filesystem; refusing the image`);
  return p.replace(/\/+$/, '');
}

export const INSTALLED_DB = ['usr/lib/apk/db/installed', 'lib/apk/db/installed'];

export interface InstalledPackage {
  name: string;
  version: string;
  arch?: string;
  origin?: string;
  /** apk `C:`: "Q1" + base64 SHA-1 of the package's control segment. */
  checksum?: string;
}

/** Stanzas of apk's installed database: the same `X:value` shape as APKINDEX, read by its parser. */
export function parseInstalledDb(text: string): InstalledPackage[] {
  return parseApkIndexText(text)
    .filter((e) => e.version)
    .map((e) => ({
      name: e.name,
      version: e.version,
      ...(e.arch ? { arch: e.arch } : {}),
      ...(e.origin ? { origin: e.origin } : {}),
      ...(e.checksum ? { checksum: e.checksum } : {}),
    }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export interface ImageFacts {
  packages: InstalledPackage[];
  compressedBytes: number;
  uncompressedBytes: number;
}

/**
 * Installed packages and sizes of one platform image, from its layers without unpacking them:
 * the last layer that writes (or whites out) the installed database decides.
 */
export async function imageFacts(source: BlobSource, image: PlatformImage, what: string): Promise<ImageFacts> {
  let db: Buffer | undefined;
  let uncompressed = 0;
  for (const layer of image.manifest.layers) {
    asyncLocalStorage.getStore()?.heartbeat({ reading: layer.digest });
    const label = `${what} layer ${layer.digest}`;
    const tar = layerTar(source.stream(layer.digest), label);
    const counted = (async function* () {
      for await (const chunk of tar) {
        uncompressed += chunk.length;
        yield chunk;
      }
    })();
    const wanted = (h: { path: string }) => INSTALLED_DB.includes(entryPath(h.path, what) ?? '');
    for await (const { header, body } of tarEntries(counted, { what: label, wantBody: wanted })) {
      const path = entryPath(header.path, what) ?? '';
      if (INSTALLED_DB.includes(path) && (header.type === '0' || header.type === '7')) db = body ?? Buffer.alloc(0);
      else if (INSTALLED_DB.some((p) => path === posix.join(posix.dirname(p), `.wh.${posix.basename(p)}`)))
        db = undefined;
    }
  }
  return {
    packages: db ? parseInstalledDb(db.toString('utf8')) : [],
    compressedBytes: image.manifest.layers.reduce((n, l) => n + l.size, 0),
    uncompressedBytes: uncompressed,
  };
}

/** Every package installed in any platform image of the layout, with the arch it is built for. */
export async function layoutPackages(layoutDir: string): Promise<InstalledPackage[]> {
  const source = layoutSource(layoutDir);
  const seen = new Map<string, InstalledPackage>();
  for (const image of await layoutImages(layoutDir)) {
    for (const p of (await imageFacts(source, image, `layout ${layoutDir}`)).packages)
      seen.set(`${p.name}\0${p.version}\0${p.arch ?? ''}`, p);
  }
  return [...seen.values()].sort((a, b) => (`${a.name}\0${a.arch}` < `${b.name}\0${b.arch}` ? -1 : 1));
}
