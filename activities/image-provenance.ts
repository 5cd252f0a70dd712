// writeProvenance: SLSA v1 provenance for an image (the catalog, the apko config and every
// installed package as resolved dependencies), written as a predicate to attest.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { KilnConfig } from '../config/config.js';
import { parseApkIndex } from '../domain/apkindex.js';
import { hexOf, sha256hex } from '../domain/digest.js';
import { IMAGE_PIPELINE_VERSION } from '../domain/image-inputs.js';
import { INPUTS_ROLE } from './image-inputs.js';
import { failure } from '../domain/failures.js';
import { TOOLS } from '../adapters/toolchain.js';
import { layoutPackages } from '../oci/image-reader.js';
import { writePredicateFile } from '../signing/statements.js';
import { readSnapshot } from '../io/catalog-snapshot.js';
import { provenanceSource } from '../domain/source.js';

const BUILD_TYPE = 'https://kiln.dev/catalog-rebuild@v1';

export interface ProvenanceInput {
  snapshotDir: string;
  name: string;
  digest: string;
  workflowId: string;
  runId: string;
  /** RFC 3339. */
  startedOn: string;
  finishedOn: string;
  gitCommit?: string;
  /** RFC 3339: the run's place in the order of runs (recorded at CATALOG_TIME_PATH; tagImage reads it). */
  catalogTime?: string;
  layoutDir: string;
  /** imageInputs' digest of what the image is built from (findPublishedImage compares it on the next run). */
  inputDigest?: string;
}

interface ResourceDescriptor {
  uri?: string;
  name?: string;
  digest?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** `<name>-<version>` → APKINDEX checksum, per local repository and arch (remote ones are skipped). */
async function localIndex(repo: string, arch: string): Promise<Map<string, string>> {
  const file = join(repo, arch, 'APKINDEX.tar.gz');
  if (/^https?:\/\//.test(repo) || !existsSync(file)) return new Map();
  return new Map((await parseApkIndex(await readFile(file))).map((e) => [`${e.name}-${e.version}`, e.checksum]));
}

/**
 * SLSA v1 provenance for an image. Each installed package is a resolved dependency; its sha256 is
 * that of the .apk file when a local repository still has the very package (same `C:` as the
 * installed one), and the apk checksum itself is an annotation: it hashes the control segment
 * only, so it is not a digest of the package file the uri names.
 */
export async function writeProvenance(config: KilnConfig, input: ProvenanceInput): Promise<{ predicateFile: string }> {
  const catalog = await readSnapshot(input.snapshotDir);
  const spec = catalog.images.find((i) => i.name === input.name);
  if (!spec) throw failure('CatalogInvalid', `image ${input.name} is not in catalog snapshot ${input.snapshotDir}`);
  const { settings } = catalog;
  const repositories = [settings.packageRepository, ...settings.repositories];
  const apkoConfig = await readFile(join(input.snapshotDir, spec.file));
  const indexes = new Map<string, Map<string, string>[]>();
  const deps: ResourceDescriptor[] = [
    { name: spec.file, digest: { sha256: sha256hex(apkoConfig) }, annotations: { role: 'apko-config' } },
    ...(input.inputDigest
      ? [
          {
            name: 'kiln image inputs',
            digest: { sha256: hexOf(input.inputDigest) },
            annotations: { role: INPUTS_ROLE, pipeline: String(IMAGE_PIPELINE_VERSION) },
          },
        ]
      : []),
  ];
  for (const p of await layoutPackages(input.layoutDir)) {
    const arch = p.arch ?? settings.archs[0] ?? 'x86_64';
    if (!indexes.has(arch)) indexes.set(arch, await Promise.all(repositories.map((r) => localIndex(r, arch))));
    const at = indexes
      .get(arch)!
      .findIndex((ix) => p.checksum !== undefined && ix.get(`${p.name}-${p.version}`) === p.checksum);
    const apk = at >= 0 ? join(repositories[at]!, arch, `${p.name}-${p.version}.apk`) : undefined;
    const digest = apk && existsSync(apk) ? { sha256: sha256hex(await readFile(apk)) } : undefined;
    deps.push({
      uri: `pkg:apk/${encodeURIComponent(settings.namespace)}/${encodeURIComponent(p.name)}@${encodeURIComponent(p.version)}?arch=${encodeURIComponent(arch)}`,
      name: p.name,
      ...(digest ? { digest } : {}),
      annotations: {
        version: p.version,
        arch,
        ...(p.checksum ? { 'apk.checksum': p.checksum } : {}),
        ...(at >= 0 ? { repository: repositories[at]! } : {}),
      },
    });
  }
  const catalogDigest = basename(input.snapshotDir); // snapshots are named by their content digest
  const predicate = {
    buildDefinition: {
      buildType: BUILD_TYPE,
      externalParameters: {
        image: spec.name,
        tags: spec.tags,
        config: spec.file,
        catalog: {
          digest: `sha256:${catalogDigest}`,
          ...(input.gitCommit ? { gitCommit: input.gitCommit } : {}),
          // CATALOG_TIME_PATH (domain/image-verdicts.ts)
          ...(input.catalogTime ? { takenAt: input.catalogTime } : {}),
          // Who signed that commit (catalog.yaml source:), or plainly "unverified source".
          source: provenanceSource(catalog.source, input.gitCommit),
        },
      },
      internalParameters: {
        archs: settings.archs,
        repositories,
        registry: settings.registry,
        tools: { apko: TOOLS.apko.version, melange: TOOLS.melange.version },
      },
      resolvedDependencies: deps,
    },
    runDetails: {
      builder: { id: config.builderId, version: { apko: TOOLS.apko.version } },
      metadata: {
        invocationId: `${input.workflowId}/${input.runId}`,
        startedOn: input.startedOn,
        finishedOn: input.finishedOn,
      },
    },
  };
  return { predicateFile: await writePredicateFile(config.paths, input.digest, 'slsa-provenance', predicate) };
}
