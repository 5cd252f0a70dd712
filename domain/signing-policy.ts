// Domain: pure catalog model, plan and rules (no fs, no network, no process). This module: the
// keyless signing policy of catalog.yaml (`signing:`), its validation, and how a certificate's
// identity is judged against it. Why it lives in the catalog: which CI identity may sign kiln's
// images is a reviewed decision about the catalog, not a property of whichever worker runs it.
import type { SigningPolicy } from './catalog.js';
import { isObj, type FileCheck } from './catalog-rules.js';

const KEYS = ['identity', 'identityRegexp', 'issuer'];
const EXAMPLE =
  'signing: { identity: https://github.com/acme/catalog/.github/workflows/nightly.yml@refs/heads/main, issuer: https://token.actions.githubusercontent.com }';

/** catalog.yaml `signing:`, or undefined when absent or invalid (each problem recorded in `check`). */
export function validateSigningPolicy(value: unknown, check: FileCheck): SigningPolicy | undefined {
  if (value === undefined) return undefined;
  const doc = check.mapping(value, 'signing', EXAMPLE);
  if (value !== null && !isObj(value)) return undefined; // reported by check.mapping
  check.unknownKeys(doc, KEYS, 'signing.');
  // A misspelt key (say `isuer`) must not leave a weaker policy in force.
  let ok = Object.keys(doc).every((k) => KEYS.includes(k));
  const text = (key: string): string | undefined => {
    const v = doc[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || v.trim() === '') {
      check.add(`signing.${key}`, 'must be a non-empty string', `quote the value of signing.${key}`);
      ok = false;
      return undefined;
    }
    if (v.includes('${')) {
      check.add(
        `signing.${key}`,
        'is not expanded from the environment: the signing policy must be readable in the reviewed catalog',
        `write the value of signing.${key} literally`,
      );
      ok = false;
      return undefined;
    }
    return v;
  };
  const identity = text('identity');
  const identityRegexp = text('identityRegexp');
  const issuer = text('issuer');
  if (identity === undefined && identityRegexp === undefined && ok) {
    check.add('signing.identity', 'missing: which certificate identity signs for kiln', `write ${EXAMPLE}`);
    ok = false;
  }
  if (identity !== undefined && identityRegexp !== undefined) {
    check.add('signing.identityRegexp', 'set together with signing.identity', 'keep only one of them');
    ok = false;
  }
  if (identity !== undefined && /\s/.test(identity)) {
    check.add('signing.identity', `"${identity}" is not a certificate identity`, 'write a URI or an email address');
    ok = false;
  }
  if (identityRegexp !== undefined) {
    try {
      new RegExp(identityRegexp);
      if (!identityRegexp.startsWith('^') || !identityRegexp.endsWith('$')) {
        check.add(
          'signing.identityRegexp',
          'is not anchored, so it would also accept longer identities that merely contain a match',
          `anchor it: ^${identityRegexp.replace(/^\^/, '').replace(/\$$/, '')}$`,
        );
        ok = false;
      }
    } catch (err) {
      check.add('signing.identityRegexp', `is not a regular expression: ${(err as Error).message}`, 'fix the pattern');
      ok = false;
    }
  }
  if (issuer === undefined) {
    if (doc.issuer === undefined)
      check.add('signing.issuer', 'missing: which OIDC issuer vouches for the identity', `write ${EXAMPLE}`);
    ok = false;
  } else if (!/^https?:\/\/\S+$/.test(issuer)) {
    check.add(
      'signing.issuer',
      `"${issuer}" is not an OIDC issuer URL`,
      'write the issuer URL, e.g. https://token.actions.githubusercontent.com',
    );
    ok = false;
  }
  if (!ok || issuer === undefined) return undefined;
  return { ...(identity !== undefined ? { identity } : { identityRegexp: identityRegexp! }), issuer };
}

const who = (policy: SigningPolicy) => policy.identity ?? `matching ${policy.identityRegexp}`;

/** The policy in words, for messages: `identity X (issuer Y)`. */
export function describePolicy(policy: SigningPolicy): string {
  return `identity ${who(policy)} (issuer ${policy.issuer})`;
}

/** Why a certificate's SAN and issuer do not satisfy the policy, or undefined when they do. */
export function identityProblem(
  policy: SigningPolicy,
  san: string | undefined,
  issuer: string | undefined,
): string | undefined {
  const sanOk =
    san !== undefined &&
    (policy.identity !== undefined ? san === policy.identity : new RegExp(policy.identityRegexp!).test(san));
  if (!sanOk)
    return policy.identity !== undefined
      ? `certificate identity ${san ?? '(none)'} is not ${policy.identity}`
      : `certificate identity ${san ?? '(none)'} does not match ${policy.identityRegexp}`;
  if (issuer !== policy.issuer) return `certificate issuer ${issuer ?? '(none)'} is not ${policy.issuer}`;
  return undefined;
}
