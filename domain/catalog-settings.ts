// Domain: pure catalog model, plan and rules (no fs, no network, no process). These are the rules
// for catalog.yaml's settings, after `${VAR}` expansion against the environment the caller passes
// (config.catalogEnv on a worker), narrowed to what catalog.yaml may see (domain/catalog-trust.ts):
// every problem names the field and the fix.
import { isAbsolute, resolve } from 'node:path';
import type {
  AllowedAbiBreak,
  CatalogSettings,
  RateLimit,
  ScheduleSettings,
  SigningPolicy,
  Severity,
  UpdateSettings,
  VulnerabilityPolicy,
} from './catalog.js';
import { isObj, type FileCheck, type Obj } from './catalog-rules.js';
import { declaredEnvironment, undeclaredVariable } from './catalog-trust.js';
import { validateSigningPolicy } from './signing-policy.js';
import { validateSource } from './source.js';

/** Variables `${VAR}` in catalog.yaml expand against. */
export type Environment = Record<string, string | undefined>;

// `policy` is reserved for settings still to come: accepted so catalogs can carry it already.
const SETTINGS_KEYS = [
  'archs',
  'repositories',
  'keyring',
  'allowRepositories',
  'environment',
  'packageRepository',
  'registry',
  'namespace',
  'concurrency',
  'vulnerabilities',
  'schedule',
  'updates',
  'abi',
  'policy',
  'signing',
  'source',
  'rateLimits',
];

/**
 * `${VAR}` and `${VAR:-default}` from `env`, which holds only the variables catalog.yaml may see
 * (declaredEnvironment); '' when a variable is unset, undeclared or a credential.
 */
function expand(value: string, env: Environment, check: FileCheck, field: string): string {
  let unset = false;
  const out = value.replace(
    /\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}/g,
    (_, name: string, hasDefault: string | undefined, fallback: string | undefined) => {
      const refused = undeclaredVariable(name, env);
      if (refused) {
        check.add(field, refused.message, refused.fix);
        unset = true;
        return '';
      }
      const v = env[name];
      if (v !== undefined && v !== '') return v;
      if (hasDefault !== undefined) return fallback ?? '';
      check.add(
        field,
        `uses \${${name}}, which is not set (or empty) in the worker's environment`,
        `set ${name} for the worker, or write \${${name}:-default}`,
      );
      unset = true;
      return '';
    },
  );
  return unset ? '' : out;
}

/** catalog.yaml's settings; relative paths resolve against the catalog directory `dir`. */
export function validateSettings(doc: Obj, dir: string, worker: Environment, check: FileCheck): CatalogSettings {
  check.unknownKeys(doc, SETTINGS_KEYS);
  const env = declaredEnvironment(doc.environment, worker, check);
  const str = (key: string, required: boolean, fallback = ''): string => {
    const v = doc[key];
    if (v === undefined) {
      if (required) check.add(key, 'missing required key', `add ${key}: to catalog.yaml`);
      return fallback;
    }
    if (typeof v !== 'string') {
      check.add(key, 'must be a string', `quote the value of ${key}`);
      return fallback;
    }
    return expand(v, env, check, key);
  };
  const list = (key: string, fallback: string[]) =>
    doc[key] === undefined
      ? fallback
      : check.stringList(doc[key], key).map((v, i) => expand(v, env, check, `${key}[${i}]`));
  const local = (p: string) => (/^https?:\/\//.test(p) || isAbsolute(p) || p === '' ? p : resolve(dir, p));
  const concurrency = { packages: 4, images: 2 };
  if (doc.concurrency !== undefined) {
    if (!isObj(doc.concurrency))
      check.add('concurrency', 'must be a mapping', 'write concurrency: { packages: 4, images: 2 }');
    else {
      check.unknownKeys(doc.concurrency, ['packages', 'images'], 'concurrency.');
      for (const k of ['packages', 'images'] as const) {
        const v = doc.concurrency[k];
        if (v === undefined) continue;
        if (typeof v !== 'number' || !Number.isInteger(v) || v < 1)
          check.add(
            `concurrency.${k}`,
            `must be a whole number of at least 1, got ${JSON.stringify(v)}`,
            `set concurrency.${k}: 2`,
          );
        else concurrency[k] = v;
      }
    }
  }
  const archs = list('archs', ['x86_64']);
  archs.forEach((a, i) => {
    if (!['x86_64', 'aarch64'].includes(a)) check.add(`archs[${i}]`, `unknown arch "${a}"`, 'use x86_64 or aarch64');
  });
  const registry = str('registry', true);
  if (registry && !/^[A-Za-z0-9.-]+(:\d+)?(\/[a-z0-9._/-]+)?$/.test(registry)) {
    check.add(
      'registry',
      `"${registry}" is not a registry target`,
      'write host[:port]/prefix, e.g. 127.0.0.1:5000/kiln',
    );
  }
  const packageRepository = str('packageRepository', true);
  let vulnerabilities: VulnerabilityPolicy | undefined;
  if (doc.vulnerabilities !== undefined) {
    const v = isObj(doc.vulnerabilities) ? doc.vulnerabilities : {};
    if (!isObj(doc.vulnerabilities))
      check.add(
        'vulnerabilities',
        'must be a mapping',
        'write vulnerabilities: { feed: security.json, policy: report }',
      );
    check.unknownKeys(v, ['feed', 'policy', 'failOn'], 'vulnerabilities.');
    const feed = typeof v.feed === 'string' ? expand(v.feed, env, check, 'vulnerabilities.feed') : '';
    if (!feed)
      check.add(
        'vulnerabilities.feed',
        'missing required key',
        'set vulnerabilities.feed to a security.json path or URL',
      );
    const policy = v.policy ?? 'report';
    if (policy !== 'report' && policy !== 'fail')
      check.add('vulnerabilities.policy', `unknown policy ${JSON.stringify(policy)}`, 'use report or fail');
    const failOn = v.failOn ?? 'any';
    if (!['critical', 'high', 'medium', 'low', 'any'].includes(String(failOn)))
      check.add(
        'vulnerabilities.failOn',
        `unknown severity ${JSON.stringify(failOn)}`,
        'use critical, high, medium, low or any',
      );
    vulnerabilities = {
      feed: local(feed),
      policy: policy === 'fail' ? 'fail' : 'report',
      failOn: failOn as Severity | 'any',
    };
  }
  const allowedBreaks: AllowedAbiBreak[] = [];
  if (doc.abi !== undefined) {
    const a = isObj(doc.abi) ? doc.abi : {};
    check.unknownKeys(a, ['allowedBreaks'], 'abi.');
    const list = Array.isArray(a.allowedBreaks) ? a.allowedBreaks : [];
    if (a.allowedBreaks !== undefined && !Array.isArray(a.allowedBreaks))
      check.add('abi.allowedBreaks', 'must be a list', 'write - { package: libfoo, version: 2.0.0, reason: "..." }');
    list.forEach((b: unknown, i: number) => {
      const e = isObj(b) ? b : {};
      const field = `abi.allowedBreaks[${i}]`;
      if (typeof e.package !== 'string' || typeof e.version !== 'string' || typeof e.reason !== 'string' || !e.reason) {
        check.add(
          field,
          'needs package, version and a reason',
          'write - { package: libfoo, version: 2.0.0, reason: "soname bump, dependents rebuilt" }',
        );
      } else allowedBreaks.push({ package: e.package, version: e.version, reason: e.reason });
    });
  }
  const section = (key: string, keys: string[]): Obj => {
    if (doc[key] === undefined) return {};
    if (!isObj(doc[key])) {
      check.add(key, 'must be a mapping', `write ${key}: { ${keys[0]}: ... }`);
      return {};
    }
    check.unknownKeys(doc[key] as Obj, keys, `${key}.`);
    return doc[key] as Obj;
  };
  const text = (o: Obj, key: string, field: string, fallback: string, valid?: RegExp, fix?: string): string => {
    if (o[key] === undefined) return fallback;
    const v = typeof o[key] === 'string' ? expand(o[key] as string, env, check, field) : undefined;
    if (v === undefined || (valid && !valid.test(v))) {
      check.add(field, `invalid value ${JSON.stringify(o[key])}`, fix ?? `write a string`);
      return fallback;
    }
    return v;
  };
  const duration = /^\d+(s|m|h|d)$/;
  const sched = section('schedule', ['cron', 'timezone', 'overlap', 'catchupWindow', 'paused']);
  if (sched.paused !== undefined && typeof sched.paused !== 'boolean')
    check.add('schedule.paused', 'must be true or false', 'write paused: false, or leave it out');
  const schedule: ScheduleSettings = {
    cron: text(
      sched,
      'cron',
      'schedule.cron',
      '17 2 * * *',
      /^\S+ \S+ \S+ \S+ \S+$/,
      'write five cron fields, e.g. "17 2 * * *"',
    ),
    timezone: text(sched, 'timezone', 'schedule.timezone', 'UTC'),
    overlap: text(
      sched,
      'overlap',
      'schedule.overlap',
      'skip',
      /^(skip|buffer-one|buffer-all|cancel-other|terminate-other|allow-all)$/,
      'use skip, buffer-one, buffer-all, cancel-other, terminate-other or allow-all',
    ) as ScheduleSettings['overlap'],
    catchupWindow: text(
      sched,
      'catchupWindow',
      'schedule.catchupWindow',
      '1h',
      duration,
      'write a duration such as 30m, 1h or 1d',
    ),
    ...(typeof sched.paused === 'boolean' ? { paused: sched.paused } : {}),
  };
  const upd = section('updates', ['every', 'branchPrefix', 'onMainBranch', 'githubApi', 'repositories']);
  const updateRepositories: Record<string, string> = {};
  if (upd.repositories !== undefined) {
    if (!isObj(upd.repositories))
      check.add(
        'updates.repositories',
        'must be a mapping of package name to git URL',
        'write repositories: { hello: https://example.org/hello.git }',
      );
    else
      for (const [k, v] of Object.entries(upd.repositories)) {
        if (typeof v !== 'string')
          check.add(`updates.repositories.${k}`, 'must be a git URL or path', 'write the repository URL as a string');
        else updateRepositories[k] = expand(v, env, check, `updates.repositories.${k}`);
      }
  }
  if (upd.onMainBranch !== undefined && typeof upd.onMainBranch !== 'boolean')
    check.add('updates.onMainBranch', 'must be true or false', 'write onMainBranch: false');
  const updates: UpdateSettings = {
    every: text(upd, 'every', 'updates.every', '1h', duration, 'write a duration such as 30m, 1h or 1d'),
    branchPrefix: text(
      upd,
      'branchPrefix',
      'updates.branchPrefix',
      'kiln/update/',
      /^[A-Za-z0-9._/-]+$/,
      'use letters, digits, ".", "_", "/" and "-"',
    ),
    onMainBranch: upd.onMainBranch === true,
    githubApi: text(
      upd,
      'githubApi',
      'updates.githubApi',
      'https://api.github.com',
      /^https?:\/\//,
      'write an http(s) URL',
    ),
    repositories: updateRepositories,
  };
  return {
    archs,
    repositories: list('repositories', []).map(local),
    keyring: list('keyring', []).map(local),
    allowRepositories: list('allowRepositories', []).map(local),
    packageRepository: packageRepository && local(packageRepository),
    registry,
    namespace: str('namespace', false, 'kiln'),
    concurrency,
    ...(vulnerabilities ? { vulnerabilities } : {}),
    abi: { allowedBreaks },
    schedule,
    updates,
    rateLimits: rateLimits(doc.rateLimits, env, check),
    ...signingPolicy(doc.signing, check),
    ...(doc.source !== undefined ? { source: validateSource(doc.source, check) } : {}),
  };
}

/** `rateLimits:`: a list of `{ host, perSecond }`, each host once; hosts expand `${VAR}` like other values. */
function rateLimits(value: unknown, env: Environment, check: FileCheck): RateLimit[] {
  if (value === undefined) return [];
  const example = 'write rateLimits: [{ host: "registry.example:5000", perSecond: 20 }]';
  if (!Array.isArray(value)) {
    check.add('rateLimits', 'must be a list', example);
    return [];
  }
  const limits: RateLimit[] = [];
  value.forEach((entry: unknown, i: number) => {
    const field = `rateLimits[${i}]`;
    if (!isObj(entry)) return check.add(field, 'must be a mapping', example);
    check.unknownKeys(entry, ['host', 'perSecond'], `${field}.`);
    const host = typeof entry.host === 'string' ? expand(entry.host, env, check, `${field}.host`) : undefined;
    if (host === undefined || !/^[A-Za-z0-9.-]+(:\d+)?$/.test(host))
      check.add(
        `${field}.host`,
        `${JSON.stringify(entry.host ?? null)} is not a host`,
        'write the host as requests name it, host or host:port, without a scheme or path',
      );
    else if (limits.some((l) => l.host === host))
      check.add(`${field}.host`, `${host} is limited twice`, 'keep one entry per host');
    const perSecond = entry.perSecond;
    if (typeof perSecond !== 'number' || !(perSecond > 0) || !Number.isFinite(perSecond))
      check.add(
        `${field}.perSecond`,
        `must be a number of requests per second above 0, got ${JSON.stringify(perSecond ?? null)}`,
        'write perSecond: 20 (or 0.5 for one request every 2 s)',
      );
    else if (host && /^[A-Za-z0-9.-]+(:\d+)?$/.test(host) && !limits.some((l) => l.host === host))
      limits.push({ host, perSecond });
  });
  return limits;
}

/** `signing:` (domain/signing-policy.ts), present in the settings only when given and valid. */
function signingPolicy(value: unknown, check: FileCheck): { signing?: SigningPolicy } {
  const signing = validateSigningPolicy(value, check);
  return signing ? { signing } : {};
}
