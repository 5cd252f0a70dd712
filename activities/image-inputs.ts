// imageInputs and findPublishedImage: recognise an image whose inputs are unchanged without
// assembling it. imageInputs digests what the image is built from (domain/image-inputs.ts: its
// configs, tags, keyring, the package closure from the signed indexes, the feed and policy, the
// signer, apko's and the pipeline's versions); writeProvenance records that digest among the
// image's resolved dependencies. findPublishedImage then finds the image every tag points at, and
// accepts it only when its signature and attestations verify against the signer kiln trusts and
// its provenance records the same input digest: a forged or foreign provenance never skips a build.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { KilnConfig } from '../config/config.js';
import { TOOLS } from '../adapters/toolchain.js';
import { sha256digest, sha256hex } from '../domain/digest.js';
import { failure, isFailure } from '../domain/failures.js';
import { imageInputDigest, packageClosure } from '../domain/image-inputs.js';
import type { ApkIndexEntry } from '../domain/apkindex.js';
import { readRepositoryIndex } from '../io/apk-index.js';
import { readSnapshot } from '../io/catalog-snapshot.js';
import { loadFeed } from '../io/feed.js';
import { RegistryClient, parseImageRef } from '../oci/registry.js';
import { verifiedStatements } from '../signing/image-verification.js';
import { signingPolicy, trustedSigner } from '../signing/signer.js';
import { PREDICATE_TYPES, checkDigest, coversDigest, type Statement } from '../signing/statements.js';
import type { ScanFinding } from './image-scan.js';
import type { Severity } from '../domain/catalog.js';

/** How kiln's provenance names the input digest among an image's resolved dependencies. */
export const INPUTS_ROLE = 'image-inputs';

export interface ImageInputsInput {
  snapshotDir: string;
  name: string;
}

export interface ImageInputsResult {
  /** Undefined when a repository index cannot be read: then the image is built, and apko says why. */
  inputDigest?: string;
  /** The catalog configures a vulnerability feed (the published image must carry a vuln attestation). */
  scanned: boolean;
}

export async function imageInputs(config: KilnConfig, input: ImageInputsInput): Promise<ImageInputsResult> {
  const catalog = await readSnapshot(input.snapshotDir);
  const spec = catalog.images.find((i) => i.name === input.name);
  if (!spec) throw failure('CatalogInvalid', `image ${input.name} is not in catalog snapshot ${input.snapshotDir}`);
  const { settings } = catalog;
  const policy = settings.vulnerabilities;
  const scanned = Boolean(policy);
  const files: Record<string, string> = {};
  const imageYaml = join(dirname(spec.file), 'image.yaml');
  for (const file of [spec.file, ...(spec.includes ?? []), imageYaml]) {
    const path = join(input.snapshotDir, file);
    if (existsSync(path)) files[file] = sha256hex(await readFile(path));
  }
  const keyring = await Promise.all(
    settings.keyring.map(async (k) => (existsSync(k) ? sha256hex(await readFile(k)) : `missing ${k}`)),
  );
  const repositories = [settings.packageRepository, ...settings.repositories];
  const packages: Record<string, string[]> = {};
  for (const arch of settings.archs) {
    const entries: ApkIndexEntry[] = [];
    for (const repo of repositories) {
      const index = await readRepositoryIndex(repo, arch);
      if ('error' in index) return { scanned };
      entries.push(...index.entries);
    }
    packages[arch] = packageClosure(entries, spec.packages);
  }
  const vulnerabilities = policy
    ? `${(await loadFeed(policy.feed)).digest} ${policy.policy} ${policy.failOn}`
    : undefined;
  const signing = settings.signing;
  const inputDigest = imageInputDigest({
    apko: TOOLS.apko.version,
    archs: settings.archs,
    files,
    tags: spec.tags,
    keyring,
    packages,
    ...(vulnerabilities ? { vulnerabilities } : {}),
    signer:
      config.signing.mode === 'keyless'
        ? `keyless ${signing?.identity ?? signing?.identityRegexp ?? ''} ${signing?.issuer ?? ''}`
        : `key ${existsSync(config.paths.imageSigningPub) ? sha256hex(await readFile(config.paths.imageSigningPub)) : 'missing'}`,
  });
  return { inputDigest, scanned };
}

export interface FindPublishedInput {
  repository: string;
  tags: string[];
  inputDigest: string;
  scanned: boolean;
  snapshotDir?: string;
}

export interface PublishedImage {
  digest: string;
  reference: string;
  /** Installed packages, `name-version`, as the verified provenance lists them. */
  packages: string[];
  /** The findings of the verified vuln attestation (none when nothing is scanned). */
  vulnerabilities: ScanFinding[];
}

/** The provenance's record of the input digest it was built from, if it has one. */
function recordedInputs(statement: Statement): string | undefined {
  const deps = (statement.predicate as { buildDefinition?: { resolvedDependencies?: unknown } })?.buildDefinition
    ?.resolvedDependencies;
  if (!Array.isArray(deps)) return undefined;
  const entry = (deps as { digest?: { sha256?: string }; annotations?: { role?: string } }[]).find(
    (d) => d.annotations?.role === INPUTS_ROLE,
  );
  return entry?.digest?.sha256 ? `sha256:${entry.digest.sha256}` : undefined;
}

function installedPackages(statement: Statement): string[] {
  const deps = (statement.predicate as { buildDefinition?: { resolvedDependencies?: unknown } })?.buildDefinition
    ?.resolvedDependencies;
  const listed = Array.isArray(deps)
    ? (deps as { name?: string; annotations?: { version?: string } }[])
        .filter((d) => d.name && d.annotations?.version)
        .map((d) => `${d.name}-${d.annotations!.version}`)
    : [];
  return [...new Set(listed)].sort();
}

function findings(statement: Statement | undefined): ScanFinding[] {
  interface Match {
    vulnerability?: { id?: string; severity?: string; fixedInVersion?: string };
    artifact?: { name?: string; version?: string; origin?: string };
  }
  const matches = (statement?.predicate as { scanner?: { result?: { matches?: Match[] } } } | undefined)?.scanner
    ?.result?.matches;
  return (matches ?? []).map((m) => ({
    package: m.artifact?.name ?? '',
    version: m.artifact?.version ?? '',
    ...(m.artifact?.origin ? { origin: m.artifact.origin } : {}),
    id: m.vulnerability?.id ?? '',
    fixedIn: m.vulnerability?.fixedInVersion ?? '',
    severity: (m.vulnerability?.severity ?? 'unknown') as Severity,
  }));
}

/**
 * The image every tag points at, when it was built from `inputDigest` and verifies: else undefined
 * (some tag missing or elsewhere, no trusted signature or attestation, another input digest), and
 * the image goes through the whole pipeline. Only a registry outage is thrown (retried).
 */
export async function findPublishedImage(
  config: KilnConfig,
  input: FindPublishedInput,
): Promise<PublishedImage | undefined> {
  const client = new RegistryClient(parseImageRef(input.repository), config.registryAuth);
  const digests = new Set<string>();
  for (const tag of input.tags) {
    const manifest = await client.getManifest(tag);
    if (!manifest) return undefined;
    digests.add(sha256digest(manifest.body));
  }
  const [digest] = [...digests];
  if (digests.size !== 1 || !digest) return undefined;
  const hex = checkDigest(digest);
  const trusted = await trustedSigner(config, await signingPolicy(input.snapshotDir));
  let statements: Statement[];
  try {
    statements = await verifiedStatements(client, trusted, {
      repository: input.repository,
      digest,
      predicateTypes: ['spdxjson', ...(input.scanned ? ['vuln'] : []), 'slsaprovenance1'],
    });
  } catch (err) {
    if (isFailure(err, 'ImageVerificationFailed')) return undefined;
    throw err;
  }
  const about = (type: string) => statements.filter((s) => s.predicateType === type && coversDigest(s, hex));
  const provenance = about(PREDICATE_TYPES.slsaprovenance1).find((s) => recordedInputs(s) === input.inputDigest);
  if (!provenance) return undefined;
  return {
    digest,
    reference: `${input.repository}@${digest}`,
    packages: installedPackages(provenance),
    vulnerabilities: input.scanned ? findings(about(PREDICATE_TYPES.vuln)[0]) : [],
  };
}
