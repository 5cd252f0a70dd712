// The catalog model: what kiln reads from a catalog directory, shared by the worker, the CLI and
// (as plain data) the workflows. Pure types only; the validation rules live in catalog-rules.ts
// (with package-rules.ts, dependency-rules.ts, image-rules.ts) and catalog-settings.ts, and
// io/catalog-loader.ts reads the files they judge.

/**
 * Settings from catalog.yaml, after `${VAR}` / `${VAR:-default}` expansion against KILN_STATE,
 * KILN_REGISTRY and the variables catalog.yaml `environment:` declares (never a credential).
 */
export interface CatalogSettings {
  /** APK architectures to build, e.g. ["x86_64"]. */
  archs: string[];
  /** Extra APK repositories (local paths or http(s) URLs) that builds and images read besides kiln's own. */
  repositories: string[];
  /** Public keys (`*.rsa.pub`, paths or URLs) that verify every repository, kiln's own included. */
  keyring: string[];
  /**
   * Repositories a melange or apko config may name itself (its `repositories:`); any other is
   * rejected at validation. Their indexes must still verify with `keyring`.
   */
  allowRepositories?: string[];
  /** Local directory kiln publishes signed packages and the signed APKINDEX into. */
  packageRepository: string;
  /** Registry target for images: `host[:port]/prefix`, e.g. "127.0.0.1:5000/kiln". */
  registry: string;
  /** Purl namespace written into package SBOMs. */
  namespace: string;
  /** Upper bounds on children running at once in each phase. */
  concurrency: { packages: number; images: number };
  /** Known-vulnerability feed (Wolfi secdb shape) and what an unfixed CVE does. */
  vulnerabilities?: VulnerabilityPolicy;
  /** ABI breaks a team has decided to ship: a package at a version may drop or change sonames. */
  abi: { allowedBreaks: AllowedAbiBreak[] };
  /** The nightly Temporal Schedule for catalogRebuild. */
  schedule: ScheduleSettings;
  /** Upstream release watching for packages with an `update:` block. */
  updates: UpdateSettings;
  /** Where production builds may come from: a branch and the keys its commits must be signed with. */
  source?: SourceSettings;
  /** Whose keyless signatures count as kiln's (KILN_SIGNING=keyless); see SigningPolicy. */
  signing?: SigningPolicy;
  /** Requests per second all workers together may send to a host (domain/host-limits.ts). */
  rateLimits: RateLimit[];
}

/**
 * catalog.yaml `rateLimits:` entry: every worker of the deployment together sends `host` (a
 * registry's or an upstream's `host[:port]`) at most `perSecond` requests a second.
 */
export interface RateLimit {
  host: string;
  perSecond: number;
}

/**
 * catalog.yaml `signing:`: the Fulcio certificate identity kiln's keyless signatures are made by.
 * A signature counts as kiln's only if its certificate chains to KILN_FULCIO_CA, its SAN matches
 * `identity` (exactly) or `identityRegexp` (exactly one of them is set) and its Fulcio issuer
 * extension equals `issuer`. Written literally: never expanded from the worker's environment.
 */
export interface SigningPolicy {
  /** The certificate's SAN, exactly: a URI (a CI workflow, `spiffe://…`) or an email address. */
  identity?: string;
  /** A regular expression the whole SAN must match, anchored with ^ and $. */
  identityRegexp?: string;
  /** The OIDC issuer URL in the certificate (Fulcio extension 1.3.6.1.4.1.57264.1.8, or .1.1). */
  issuer: string;
}

/**
 * catalog.yaml `source:`, written literally (never expanded from the worker's environment). Unset,
 * or a catalog outside git: kiln builds whatever is checked out and says "unverified source".
 */
export interface SourceSettings {
  /** Production builds start only from commits on this branch (`refs/heads/<branch>`). Default main. */
  branch: string;
  /**
   * git's allowed-signers lines (ssh-keygen ALLOWED SIGNERS): `<principal> [options] <keytype> <key>`,
   * e.g. "kiln-release ssh-ed25519 AAAA...". The principal is the signer recorded in provenance.
   */
  allowedSigners: string[];
  /** Default true: a commit not signed by an allowed signer is refused. false: built, but unverified. */
  requireSignedCommits: boolean;
  /** Default false. true: a commit off `branch` (a staging build) may be unsigned; main never may. */
  allowUnsignedStaging: boolean;
}

export interface ScheduleSettings {
  /** Cron expression (5 fields), default "17 2 * * *": nightly, away from 00:00 when everyone runs. */
  cron: string;
  timezone: string;
  /** What a start does while the previous run is still going: skip (default), buffer-one, buffer-all, cancel-other, terminate-other, allow-all. */
  overlap: 'skip' | 'buffer-one' | 'buffer-all' | 'cancel-other' | 'terminate-other' | 'allow-all';
  /** How late a missed run may still start (e.g. after the server was down), e.g. "1h". */
  catchupWindow: string;
  /**
   * Whether the Schedule is paused; `schedule apply` enforces it when set. Unset: apply leaves the
   * paused state alone (a maintenance pause from `kiln schedule pause` stays).
   */
  paused?: boolean;
}

export interface UpdateSettings {
  /** How often upstreamWatch polls, e.g. "1h". */
  every: string;
  /** Prefix of the branch an update is committed to (never the main branch unless `onMainBranch`). */
  branchPrefix: string;
  onMainBranch: boolean;
  /** Base URL of the GitHub API (point it at a mirror or a test server). */
  githubApi: string;
  /** Upstream git repository per package, for `update.git` packages without a git-checkout step. */
  repositories: Record<string, string>;
}

export type Severity = 'critical' | 'high' | 'medium' | 'low' | 'unknown';

export interface VulnerabilityPolicy {
  /** Path (relative to the catalog) or http(s) URL of a security.json feed. */
  feed: string;
  /** `report`: list CVEs in the summary; `fail`: an unfixed CVE at or above `failOn` fails it. */
  policy: 'report' | 'fail';
  /** Lowest severity that fails a package or image under policy `fail` (default: any). */
  failOn: Severity | 'any';
}

export interface AllowedAbiBreak {
  package: string;
  /** The version (without -r) whose break is intended; a later version is checked again. */
  version: string;
  reason: string;
}

/** One functional test of an image, run inside its root filesystem (bubblewrap, no network). */
export interface ImageTest {
  name: string;
  /** Command and arguments; run as the image's user. */
  command: string[];
  /** Expected exit code (default 0). */
  exitCode: number;
  /** A regular expression the combined output must match. */
  output?: string;
}

/** What an image must look like, checked before it is published. */
export interface ImageExpectations {
  entrypoint?: string[];
  /** The image must not run as root. */
  nonRoot?: boolean;
  user?: string;
  environment?: Record<string, string>;
  filesPresent?: string[];
  filesAbsent?: string[];
  /** Upper bound on the uncompressed root filesystem, in MiB. */
  maxSizeMiB?: number;
}

export interface PackageSpec {
  /** melange `package.name`; also the origin of its subpackages. */
  name: string;
  version: string;
  epoch: number;
  /** Path of the melange YAML relative to the catalog root, e.g. "packages/hello.yaml". */
  file: string;
  /** Names of `subpackages[].name`. */
  subpackages: string[];
  /** Everything this package and its subpackages provide (names, `provides:` entries without versions). */
  provides: string[];
  /**
   * What must be built before this package, as written: melange `environment.contents.packages`
   * (substituted), then the `needs.packages` of its build and subpackage pipelines (`uses:`
   * definitions included), then what its tests install (`test.environment.contents.packages`,
   * subpackage tests' too, and their pipelines' needs) less what the package itself provides: kiln
   * builds and tests a package in one child, so a test's packages are built first too.
   */
  buildDependencies: string[];
  /**
   * The field of the package config each of `buildDependencies` comes from, index for index:
   * `environment.contents.packages[0]`, `pipeline[2].uses`, `test.environment.contents.packages[1]`.
   * Absent in specs written by hand: then every entry is `environment.contents.packages[i]`.
   */
  buildDependencyFields?: string[];
  /**
   * melange `package.target-architecture` (substituted), when it limits the archs: the package is
   * built only for the catalog archs it lists. Absent (or `[all]` in the config): every catalog arch.
   */
  archs?: string[];
  /** Catalog pipeline files the config's `uses:` load, transitively (`pipelines/go/build.yaml`). */
  pipelines?: string[];
  /** melange `package.dependencies.runtime`, as written. */
  runtimeDependencies: string[];
  /** True when the config has a `test:` section. */
  hasTest: boolean;
  /**
   * Catalog origins this package builds against whose edge is dropped because an older build is
   * published (a bootstrap cycle, broken as the Wolfi builder breaks it). Set by checkDependencies.
   */
  bootstrapFrom?: string[];
}

export interface ImageSpec {
  name: string;
  /** Path of apko.yaml relative to the catalog root, e.g. "images/hello/apko.yaml". */
  file: string;
  /** Files apko.yaml includes (its `include:` chain), relative to the catalog root. */
  includes?: string[];
  /** apko `contents.packages`, as written (may carry version constraints). */
  packages: string[];
  /** Tags to publish, from image.yaml (default ["latest"]). */
  tags: string[];
  /** Functional tests from image.yaml. */
  tests: ImageTest[];
  expectations: ImageExpectations;
}

export interface Catalog {
  /** Absolute path of the catalog root. */
  dir: string;
  settings: CatalogSettings;
  packages: PackageSpec[];
  images: ImageSpec[];
}

/** One problem found while validating a catalog: which file, which field, what is wrong, how to fix it. */
export interface CatalogProblem {
  file: string;
  field: string;
  /** The line the field is on, where the rule knows it. */
  line?: number;
  message: string;
  fix: string;
}

/** The build order derived from a valid catalog. Small, plain data: safe as a workflow payload. */
export interface BuildPlan {
  /**
   * Catalog packages (by origin name) with the catalog packages they build against; `archs` when a
   * package is built for only some of the catalog's archs (its `target-architecture`), else absent.
   */
  packages: { name: string; version: string; epoch: number; dependsOn: string[]; archs?: string[] }[];
  /**
   * Packages not built at all: their `target-architecture` shares no arch with catalog.yaml `archs`
   * (absent when there are none).
   */
  notBuilt?: { name: string; archs: string[] }[];
  /** Packages grouped by level: level 0 depends on nothing in the catalog, level n on levels < n. */
  levels: string[][];
  /** Images with the catalog packages (origins, transitively through runtime deps) they install. */
  images: { name: string; packages: string[]; tags: string[] }[];
}
