// Fake activities for unit tests of the workflows' ORCHESTRATION LOGIC ONLY: which package and image
// runs when, what blocks what, what a selection covers, what reaches an activity. They run no tool,
// touch no file and talk to no registry; they return the smallest results of the real types. What
// the real activities do is the pipeline tests' job (test/pipeline, real Temporal, tools, registry).
import { Context } from '@temporalio/activity';
import type { CatalogSnapshot, KilnActivities } from '../../../activities/index.js';
import type { BuildPlan } from '../../../domain/catalog.js';
import { failure } from '../../../domain/failures.js';
import {
  assembleSummary,
  isSummaryReference,
  type CatalogRebuildResult,
  type SummaryPart,
} from '../../../domain/run-summary.js';
import type { RebuildSummary } from '../../../domain/summary.js';

type Input<K extends keyof KilnActivities> = Parameters<KilnActivities[K]>[0];
type Result<K extends keyof KilnActivities> = Awaited<ReturnType<KilnActivities[K]>>;

export interface FakeCatalogSpec {
  /** Package -> the catalog packages it builds against. */
  packages: Record<string, string[]>;
  /** Image -> the catalog packages it installs. */
  images?: Record<string, string[]>;
  concurrency?: { packages: number; images: number };
  /** catalog.yaml archs (default x86_64). */
  archs?: string[];
  /** Packages built for only some of them (their target-architecture), as the plan records it. */
  packageArchs?: Record<string, string[]>;
}

/** A catalog snapshot as snapshotCatalog returns it: version 1.0.0-r0 everywhere, one arch unless given. */
export function fakeSnapshot(spec: FakeCatalogSpec): CatalogSnapshot {
  const names = Object.keys(spec.packages).sort();
  const levels: string[][] = [];
  const placed = new Set<string>();
  while (placed.size < names.length) {
    const level = names.filter((n) => !placed.has(n) && spec.packages[n]!.every((d) => placed.has(d)));
    if (!level.length)
      throw new Error(
        `fake catalog has a cycle or an unknown dependency among ${names.filter((n) => !placed.has(n)).join(', ')}`,
      );
    level.forEach((n) => placed.add(n));
    levels.push(level);
  }
  const plan: BuildPlan = {
    packages: names.map((name) => ({
      name,
      version: '1.0.0',
      epoch: 0,
      dependsOn: [...spec.packages[name]!].sort(),
      ...(spec.packageArchs?.[name] ? { archs: spec.packageArchs[name] } : {}),
    })),
    levels,
    images: Object.entries(spec.images ?? {})
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([name, packages]) => ({ name, packages, tags: ['latest'] })),
  };
  return {
    digest: fakeDigest('catalog'),
    dir: '/fake/snapshot',
    plan,
    registry: 'registry.test/kiln',
    archs: spec.archs ?? ['x86_64'],
    concurrency: spec.concurrency ?? { packages: 2, images: 1 },
  };
}

/** A well-formed sha256 digest that names what it stands for (hex of the name, zero padded). */
export function fakeDigest(of: string): string {
  return `sha256:${Buffer.from(of).toString('hex').padEnd(64, '0').slice(0, 64)}`;
}

interface Deferred {
  promise: Promise<void>;
  resolve(): void;
}
function deferred(): Deferred {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

export interface FakeOptions {
  /** Packages whose build fails as melange exiting non-zero does (ToolFailed, not retried). */
  failing?: string[];
  /** Packages the repository already holds from the same inputs: "up-to-date" unless forced. */
  published?: string[];
  /** How long each build takes, in milliseconds (default 0). */
  buildMs?: number;
  /** Packages whose build keeps running until `release(name)`. */
  held?: string[];
}

/**
 * The pipeline's activities as fakes over one catalog snapshot, recording what the workflows asked
 * for. A package "runs" from its buildPackage call until its publishPackage (or its failure): that
 * is one packageBuild child, what the workflow's sliding window counts.
 */
export class FakePipeline {
  /** Every buildPackage input, in call order. */
  readonly builds: Input<'buildPackage'>[] = [];
  /** Every assembleImage input, in call order. */
  readonly assembled: string[] = [];
  /** `start <package>` / `end <package>` in the order they happened. */
  readonly events: string[] = [];
  /** The most packages running at once. */
  maxRunning = 0;
  /** Summary parts and summaries the run stored, by reference (in memory, for io/run-summary-store.ts). */
  readonly stored = new Map<string, SummaryPart | RebuildSummary>();
  readonly running = new Set<string>();
  private readonly holds = new Map<string, Deferred>();
  private readonly starts = new Map<string, Deferred>();
  private readonly failing: Set<string>;
  private readonly published: Set<string>;
  private readonly buildMs: number;

  constructor(
    readonly snapshot: CatalogSnapshot,
    options: FakeOptions = {},
  ) {
    this.failing = new Set(options.failing);
    this.published = new Set(options.published);
    this.buildMs = options.buildMs ?? 0;
    for (const name of options.held ?? []) this.holds.set(name, deferred());
  }

  /** Lets a held build finish. */
  release(name: string): void {
    const gate = this.holds.get(name);
    if (!gate) throw new Error(`fake: ${name} is not held`);
    gate.resolve();
  }

  /** Lets every held build finish (so a failed test does not leave activities hanging). */
  releaseAll(): void {
    for (const gate of this.holds.values()) gate.resolve();
  }

  /** Resolves once the package's build has started. */
  started(name: string): Promise<void> {
    return this.startSignal(name).promise;
  }

  /** The summary a run's result names, from what the fake store holds (as the CLI reads the real one). */
  summaryOf(result: CatalogRebuildResult): RebuildSummary {
    if (!isSummaryReference(result)) return result;
    const summary = this.stored.get(result.summary);
    if (!summary) throw new Error(`fake: no summary stored as ${result.summary}`);
    return summary as RebuildSummary;
  }

  /** Names of the packages buildPackage was called for, in call order. */
  get built(): string[] {
    return this.builds.map((b) => b.name);
  }

  private startSignal(name: string): Deferred {
    let d = this.starts.get(name);
    if (!d) this.starts.set(name, (d = deferred()));
    return d;
  }

  private begin(name: string) {
    this.running.add(name);
    this.maxRunning = Math.max(this.maxRunning, this.running.size);
    this.events.push(`start ${name}`);
    this.startSignal(name).resolve();
  }

  private end(name: string) {
    this.running.delete(name);
    this.events.push(`end ${name}`);
  }

  private spec(name: string) {
    const spec = this.snapshot.plan.packages.find((p) => p.name === name);
    if (!spec) throw new Error(`fake: ${name} is not in the fake catalog`);
    return spec;
  }

  /** The activities, named and typed as the workflows call them. */
  readonly activities = this.fakeActivities();

  private fakeActivities() {
    const image = (name: string) => {
      const spec = this.snapshot.plan.images.find((i) => i.name === name);
      if (!spec) throw new Error(`fake: image ${name} is not in the fake catalog`);
      return spec;
    };
    return {
      snapshotCatalog: async (): Promise<Result<'snapshotCatalog'>> => this.snapshot,

      buildPackage: async (input: Input<'buildPackage'>): Promise<Result<'buildPackage'>> => {
        this.builds.push(input);
        this.begin(input.name);
        await this.holds.get(input.name)?.promise;
        if (this.buildMs) await new Promise((r) => setTimeout(r, this.buildMs));
        if (this.failing.has(input.name)) {
          this.end(input.name);
          throw failure('ToolFailed', `melange build of ${input.name} failed: exit status 1 (fake)`);
        }
        const { version, epoch } = this.spec(input.name);
        const upToDate = this.published.has(input.name) && !input.force;
        return {
          name: input.name,
          version,
          epoch,
          arch: input.arch,
          inputDigest: fakeDigest(`${input.name}/${input.arch}`),
          ownDigest: fakeDigest(`${input.name}/own`),
          status: upToDate ? 'up-to-date' : 'built',
          buildDir: `/fake/builds/${input.name}`,
          apks: [{ file: `${input.name}-${version}-r${epoch}.apk`, sha256: fakeDigest(`${input.name}.apk`).slice(7) }],
          durationMs: 0,
        };
      },
      testPackage: async (): Promise<Result<'testPackage'>> => ({ tested: false }),
      checkPackage: async (input: Input<'checkPackage'>): Promise<Result<'checkPackage'>> => ({
        signature: { key: 'fake.rsa.pub' },
        sbom: { file: `/fake/builds/${input.build.name}/sbom.spdx.json`, spdxVersion: 'SPDX-2.3', packages: 1 },
        abi: { verdict: 'first-build', removed: [], added: [], rebuild: [] },
        cves: [],
        cvePolicy: 'none',
      }),
      publishPackage: async (input: Input<'publishPackage'>): Promise<Result<'publishPackage'>> => {
        this.end(input.build.name);
        return { index: '/fake/repo/x86_64/APKINDEX.tar.gz', apks: input.build.apks.length };
      },

      // No fake image is ever published from the same inputs: every image goes through the pipeline.
      imageInputs: async (input: Input<'imageInputs'>): Promise<Result<'imageInputs'>> => ({
        inputDigest: fakeDigest(`${input.name}/inputs`),
        scanned: false,
      }),
      findPublishedImage: async (): Promise<Result<'findPublishedImage'>> => undefined,
      unchangedImages: async (): Promise<Result<'unchangedImages'>> => ({ unchanged: [] }),
      writeRunReport: async (): Promise<Result<'writeRunReport'>> => ({
        path: '/fake/reports/run.html',
        timeline: 'durations',
      }),
      storeSummaryPart: async (input: Input<'storeSummaryPart'>): Promise<Result<'storeSummaryPart'>> => {
        const reference = `fake:part/${input.runId}/${input.index}@${fakeDigest('part')}`;
        this.stored.set(reference, input.part);
        return reference;
      },
      // The real assembly (pure), over the parts this fake store holds.
      finishRunSummary: async (input: Input<'finishRunSummary'>): Promise<Result<'finishRunSummary'>> => {
        const parts = input.parts.map((ref) => {
          const part = this.stored.get(ref);
          if (!part) throw new Error(`fake: no summary part stored as ${ref}`);
          return part as SummaryPart;
        });
        const report = { path: '/fake/reports/run.html', timeline: 'durations' as const };
        const reference = `fake:summary/${input.header.runId}@${fakeDigest('summary')}`;
        this.stored.set(reference, { ...assembleSummary(input.header, parts), report });
        return { reference, report };
      },

      assembleImage: async (input: Input<'assembleImage'>): Promise<Result<'assembleImage'>> => {
        this.assembled.push(input.name);
        const digest = fakeDigest(input.name);
        return {
          name: input.name,
          layoutDir: `/fake/images/${input.name}`,
          digest,
          manifests: [
            {
              arch: 'x86_64',
              digest: fakeDigest(`${input.name}/x86_64`),
              sbomFile: `/fake/images/${input.name}/sbom-x86_64.spdx.json`,
            },
          ],
          sbomFile: `/fake/images/${input.name}/sbom-index.spdx.json`,
          durationMs: 0,
        };
      },
      testImage: async (input: Input<'testImage'>): Promise<Result<'testImage'>> => ({
        tests: [],
        expectations: [],
        sizeBytes: 1024,
        packages: image(input.name).packages.map((p) => ({
          name: p,
          version: `${this.spec(p).version}-r${this.spec(p).epoch}`,
        })),
      }),
      compareWithPublished: async (): Promise<Result<'compareWithPublished'>> => ({ previous: null }),
      scanImage: async (input: Input<'scanImage'>): Promise<Result<'scanImage'>> => ({
        predicateFile: `/fake/images/${input.name}/vuln.json`,
        scanner: 'none',
        findings: [],
        blocked: false,
        blockedBy: [],
        resultDigest: fakeDigest('no findings').slice(7),
      }),
      pushImage: async (input: Input<'pushImage'>): Promise<Result<'pushImage'>> => ({
        reference: `${input.repository}@${input.digest}`,
        pushed: true,
      }),
      signImage: async (input: Input<'signImage'>): Promise<Result<'signImage'>> => ({
        signed: true,
        reference: `${input.repository}@${fakeDigest('signature')}`,
      }),
      writeProvenance: async (input: Input<'writeProvenance'>): Promise<Result<'writeProvenance'>> => ({
        predicateFile: `/fake/images/${input.name}/provenance.json`,
      }),
      attestImage: async (): Promise<Result<'attestImage'>> => ({ attested: true }),
      tagImage: async (input: Input<'tagImage'>): Promise<Result<'tagImage'>> => ({ moved: input.tags, unchanged: [] }),
      verifyImage: async (input: Input<'verifyImage'>): Promise<Result<'verifyImage'>> => ({
        signature: true,
        attestations: Object.fromEntries(input.predicateTypes.map((t) => [t, true as const])),
      }),
    } satisfies Partial<KilnActivities>;
  }
}

export type FakeActivities = FakePipeline['activities'];

/**
 * Activities for one worker shared by a file's tests (one worker, one bundle load): each call goes
 * to the FakePipeline of the run it belongs to, found from the calling workflow's id.
 */
export function routedActivities(pipelineOf: (workflowId: string) => FakePipeline): FakeActivities {
  const names = Object.keys(new FakePipeline(fakeSnapshot({ packages: {} })).activities) as (keyof FakeActivities)[];
  const route = (name: keyof FakeActivities) => (input: never) => {
    const workflowId = Context.current().info.workflowExecution?.workflowId ?? '(not called from a workflow)';
    const fake = pipelineOf(workflowId).activities[name] as (input: never) => Promise<unknown>;
    return fake(input);
  };
  return Object.fromEntries(names.map((name) => [name, route(name)])) as unknown as FakeActivities;
}
