// Upstream release detection for packages with a melange `update:` block: which upstream tags are
// release candidates for the package, which is newest in APK order, and how the config changes.
// Pure (yaml is plain JS): unit-tested without any network.
import { parseDocument } from 'yaml';
import { compareApkVersions, isValidApkVersion } from './apk-version.js';
import type { UpdateSettings } from './catalog.js';

export interface UpdateConfig {
  backend: 'git' | 'github';
  /** github: `org/repo`. */
  identifier?: string;
  /** github: read tags instead of releases. */
  useTag: boolean;
  stripPrefix: string;
  stripSuffix: string;
  tagFilterPrefix: string;
  tagFilterContains: string;
  ignoreRegexPatterns: string[];
  versionTransform: { match: string; replace: string }[];
  enablePrereleaseTags: boolean;
}

export interface UpstreamTag {
  tag: string;
  /** The commit the tag points at (peeled), when the source says. */
  commit?: string;
  /** The source marks it a pre-release (GitHub). */
  prerelease?: boolean;
}

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : {});
const str = (v: unknown) => (typeof v === 'string' ? v : '');

/** The update settings of a melange config, or undefined when it is not watched. */
export function updateConfig(melange: unknown): UpdateConfig | undefined {
  const update = obj(obj(melange).update);
  if (!Object.keys(update).length || update.enabled === false || update.manual === true) return undefined;
  const backend = update.github ? 'github' : update.git ? 'git' : undefined;
  if (!backend) return undefined;
  const b = obj(update[backend]);
  return {
    backend,
    identifier: str(b.identifier) || undefined,
    useTag: b['use-tag'] === true,
    stripPrefix: str(b['strip-prefix']),
    stripSuffix: str(b['strip-suffix']),
    tagFilterPrefix: str(b['tag-filter-prefix']) || str(b['tag-filter']),
    tagFilterContains: str(b['tag-filter-contains']),
    ignoreRegexPatterns: Array.isArray(update['ignore-regex-patterns'])
      ? (update['ignore-regex-patterns'] as unknown[]).map(String)
      : [],
    versionTransform: Array.isArray(update['version-transform'])
      ? (update['version-transform'] as unknown[]).map((t) => ({
          match: str(obj(t).match),
          replace: str(obj(t).replace),
        }))
      : [],
    enablePrereleaseTags: update['enable-prerelease-tags'] === true,
  };
}

const PRERELEASE = /(^|[^a-z])(alpha|beta|rc|pre|preview|dev)\d*([^a-z]|$)/i;

/** The APK version a tag stands for under these settings, or undefined when it is not a release. */
export function tagVersion(t: UpstreamTag, cfg: UpdateConfig): string | undefined {
  let v = t.tag;
  if (cfg.tagFilterPrefix && !v.startsWith(cfg.tagFilterPrefix)) return undefined;
  if (cfg.tagFilterContains && !v.includes(cfg.tagFilterContains)) return undefined;
  if (cfg.ignoreRegexPatterns.some((p) => new RegExp(p).test(v))) return undefined;
  if (!cfg.enablePrereleaseTags && (t.prerelease || PRERELEASE.test(v))) return undefined;
  if (cfg.stripPrefix && v.startsWith(cfg.stripPrefix)) v = v.slice(cfg.stripPrefix.length);
  if (cfg.stripSuffix && v.endsWith(cfg.stripSuffix)) v = v.slice(0, -cfg.stripSuffix.length);
  for (const t of cfg.versionTransform) v = v.replace(new RegExp(t.match), t.replace.replace(/\$\{(\d+)\}/g, '$$$1'));
  return isValidApkVersion(v) && !v.includes('-r') ? v : undefined;
}

/** The newest release among the tags, in APK order. */
export function newestRelease(tags: UpstreamTag[], cfg: UpdateConfig): (UpstreamTag & { version: string }) | undefined {
  let best: (UpstreamTag & { version: string }) | undefined;
  for (const t of tags) {
    const version = tagVersion(t, cfg);
    if (version && (!best || compareApkVersions(version, best.version) > 0)) best = { ...t, version };
  }
  return best;
}

/** Parses `git ls-remote --tags` output; a peeled `^{}` line gives the commit an annotated tag points at. */
export function parseLsRemote(output: string): UpstreamTag[] {
  const byTag = new Map<string, UpstreamTag>();
  for (const line of output.split('\n')) {
    const m = /^([0-9a-f]{40,64})\s+refs\/tags\/(.+?)(\^\{\})?$/.exec(line.trim());
    if (!m) continue;
    const [, sha, tag, peeled] = m;
    const cur = byTag.get(tag!) ?? { tag: tag! };
    if (peeled || !cur.commit) cur.commit = sha;
    byTag.set(tag!, cur);
  }
  return [...byTag.values()];
}

/**
 * The config at a new upstream version: version set, epoch back to 0, and every git-checkout
 * step's expected-commit refreshed. Comments and layout are kept.
 */
export function bumpMelangeConfig(text: string, to: { version: string; commit?: string }): string {
  const doc = parseDocument(text);
  doc.setIn(['package', 'version'], to.version);
  doc.setIn(['package', 'epoch'], 0);
  const pipeline = doc.getIn(['pipeline']) as { items?: unknown[] } | undefined;
  (pipeline?.items ?? []).forEach((_, i) => {
    if (doc.getIn(['pipeline', i, 'uses']) === 'git-checkout' && to.commit)
      doc.setIn(['pipeline', i, 'with', 'expected-commit'], to.commit);
  });
  return doc.toString();
}

/** Where a git-backed package's upstream lives: its git-checkout step, or catalog.yaml's mapping. */
export function gitRepository(melange: unknown, name: string, configured: Record<string, string>): string | undefined {
  const steps = Array.isArray(obj(melange).pipeline) ? (obj(melange).pipeline as unknown[]) : [];
  const checkout = steps.map(obj).find((s) => s.uses === 'git-checkout');
  return configured[name] ?? (str(obj(checkout?.with).repository) || undefined);
}

export type UpstreamSource = { kind: 'git'; url: string } | { kind: 'github'; url: string; useTag: boolean };

/** Where a watched package's releases come from, or undefined when its config names no source. */
export function upstreamSource(doc: unknown, name: string, updates: UpdateSettings): UpstreamSource | undefined {
  const cfg = updateConfig(doc);
  if (!cfg) return undefined;
  if (cfg.backend === 'github') {
    if (!cfg.identifier) return undefined;
    return {
      kind: 'github',
      useTag: cfg.useTag,
      url: `${updates.githubApi.replace(/\/$/, '')}/repos/${cfg.identifier}/${cfg.useTag ? 'tags' : 'releases'}`,
    };
  }
  const url = gitRepository(doc, name, updates.repositories);
  return url ? { kind: 'git', url } : undefined;
}

/** A YAML scalar as melange reads it: strings as they are, numbers as written. */
export const scalar = (v: unknown) => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '');

/** melange's `${{...}}` values a pipeline's `with:` may use at the new version. */
export function melangeSubstitutions(doc: unknown, version: string): Record<string, string> {
  const d = obj(doc);
  const subs: Record<string, string> = {
    'package.name': scalar(obj(d.package).name),
    'package.version': version,
    'package.epoch': '0',
    'package.full-version': `${version}-r0`,
  };
  for (const [k, v] of Object.entries(obj(d.vars))) subs[`vars.${k}`] = substitute(scalar(v), subs);
  for (const t of Array.isArray(d['var-transforms']) ? (d['var-transforms'] as unknown[]).map(obj) : []) {
    // Go's regexp replacement syntax (${1}) in JavaScript's ($1); Go replaces every match.
    const replace = scalar(t.replace).replace(/\$\{(\d+)\}/g, '$$$1');
    subs[`vars.${scalar(t.to)}`] = substitute(scalar(t.from), subs).replace(new RegExp(scalar(t.match), 'g'), replace);
  }
  return subs;
}

/** `${{ key }}` replaced by its substitution; unknown keys are left as written. */
export function substitute(text: string, subs: Record<string, string>): string {
  return text.replace(/\$\{\{\s*([\w.-]+)\s*\}\}/g, (whole, key: string) => subs[key] ?? whole);
}

/**
 * A GitHub-shaped API's answer (its releases, or with `useTag` its tags): the tags, drafts left
 * out, or what is wrong with it in words for the watcher's report (an error page answered 200,
 * cut-off JSON, a list of something else), with the start of what came.
 */
export function githubListing(
  text: string,
  contentType: string,
  useTag: boolean,
): { tags: UpstreamTag[] } | { problem: string } {
  const field = useTag ? 'name' : 'tag_name';
  const start = (s: string) => JSON.stringify(s.replace(/\s+/g, ' ').trim().slice(0, 80));
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    if (!text.trim()) return { problem: 'the body is empty' };
    return {
      problem: `the body is not JSON (${contentType || 'no content type'}; ${(err as Error).message}): ${start(text)}`,
    };
  }
  if (!Array.isArray(body))
    return { problem: `a JSON ${body === null ? 'null' : typeof body}, not a list: ${start(JSON.stringify(body))}` };
  const bad = body.findIndex((r) => typeof obj(r)[field] !== 'string');
  if (bad >= 0) return { problem: `item ${bad} has no ${field} string: ${start(JSON.stringify(body[bad]) ?? '')}` };
  return {
    tags: body
      .map(obj)
      .filter((r) => r.draft !== true)
      .map((r) =>
        useTag
          ? { tag: r.name as string, commit: str(obj(r.commit).sha) || undefined }
          : { tag: r.tag_name as string, prerelease: r.prerelease === true },
      ),
  };
}
