// APK version ordering as apk-tools 2.14 compares versions, so kiln decides "newer" and "fixed in"
// exactly as apk does when it installs: digits compare as numbers (as text when a component has a
// leading zero), a letter makes a version newer, _alpha < _beta < _pre < _rc < (none) < _cvs <
// _svn < _git < _hg < _p, an optional ~commit, and -rN compares last.
// Pure: also used by workflow code.

// Token kinds, in the order that decides a tie: when one version runs on past the other, the one
// whose next token kind is greater (END is greatest) is the older.
const enum T {
  InitialDigit,
  Digit,
  Letter,
  Suffix,
  SuffixNo,
  CommitHash,
  Revision,
  End,
  Invalid,
}

/** Suffix ranks; 5 is "no suffix". Pre-release words rank below it, post-release above. */
const SUFFIX_RANK: Record<string, number> = { alpha: 1, beta: 2, pre: 3, rc: 4, cvs: 6, svn: 7, git: 8, hg: 9, p: 10 };
const NO_SUFFIX = 5;

interface Token {
  kind: T;
  text: string;
  rank: number;
}

/** Splits a version into apk's tokens; an ill-formed tail becomes one Invalid token. */
function tokenize(v: string): Token[] {
  const out: Token[] = [];
  const re = /^(?:(\d+)|\.(\d+)|([a-z])|_([a-z]+)|~([0-9a-fA-F]+)|-r(\d+))/;
  let rest = v;
  let last = T.InitialDigit;
  const first = /^\d+/.exec(rest);
  if (!first) return [{ kind: T.Invalid, text: '', rank: 0 }];
  out.push({ kind: T.InitialDigit, text: first[0], rank: 0 });
  rest = rest.slice(first[0].length);
  while (rest.length) {
    const m = re.exec(rest);
    let kind = T.Invalid;
    let text = '';
    let rank = 0;
    if (m) {
      if (m[1] !== undefined && last === T.Suffix) {
        kind = T.SuffixNo;
        text = m[1];
      } else if (m[2] !== undefined && last <= T.Digit) {
        kind = T.Digit;
        text = m[2];
      } else if (m[3] !== undefined && last <= T.Digit) {
        kind = T.Letter;
        text = m[3];
      } else if (m[4] !== undefined && last <= T.SuffixNo && SUFFIX_RANK[m[4]] !== undefined) {
        kind = T.Suffix;
        text = m[4];
        rank = SUFFIX_RANK[m[4]]!;
      } else if (m[5] !== undefined && last < T.CommitHash) {
        kind = T.CommitHash;
        text = m[5];
      } else if (m[6] !== undefined && last < T.Revision) {
        kind = T.Revision;
        text = m[6];
      }
    }
    if (kind === T.Invalid) return [...out, { kind, text: rest, rank: 0 }];
    out.push({ kind, text, rank });
    last = kind;
    rest = rest.slice(m![0].length);
  }
  return out;
}

const sign = (n: number): -1 | 0 | 1 => (n < 0 ? -1 : n > 0 ? 1 : 0);
const byBytes = (a: string, b: string) => sign(a < b ? -1 : a > b ? 1 : 0);

function compareTokens(a: Token, b: Token): -1 | 0 | 1 {
  // A component with a leading zero compares as text (Gentoo rule): 1.01 < 1.1, 8.2.0015 < 8.2.002.
  if (a.kind === T.Digit && (a.text.startsWith('0') || b.text.startsWith('0'))) return byBytes(a.text, b.text);
  switch (a.kind) {
    case T.Digit:
    case T.InitialDigit:
    case T.SuffixNo:
    case T.Revision: {
      const d = BigInt(a.text) - BigInt(b.text); // versions may carry dates longer than 2^53
      return d < 0n ? -1 : d > 0n ? 1 : 0;
    }
    case T.Letter:
      return byBytes(a.text, b.text);
    case T.Suffix:
      return sign(a.rank - b.rank);
    default:
      return byBytes(a.text, b.text);
  }
}

/** -1, 0 or 1 as `a` is older than, equal to or newer than `b`. */
export function compareApkVersions(a: string, b: string): -1 | 0 | 1 {
  const ta = tokenize(a);
  const tb = tokenize(b);
  const at = (t: Token[], i: number): Token => t[i] ?? { kind: T.End, text: '', rank: 0 };
  let i = 0;
  for (; at(ta, i).kind === at(tb, i).kind && at(ta, i).kind < T.End; i++) {
    const r = compareTokens(at(ta, i), at(tb, i));
    if (r !== 0) return r;
  }
  const x = at(ta, i);
  const y = at(tb, i);
  if (x.kind === y.kind) return 0;
  // Equal so far and one goes on: the longer is newer, unless what follows is a pre-release suffix.
  if (x.kind === T.Suffix && x.rank < NO_SUFFIX) return -1;
  if (y.kind === T.Suffix && y.rank < NO_SUFFIX) return 1;
  return x.kind > y.kind ? -1 : 1;
}

/** Whether apk would accept this as a package version (`1.2.3_rc1-r0`). */
export function isValidApkVersion(v: string): boolean {
  return v.length > 0 && !tokenize(v).some((t) => t.kind === T.Invalid);
}

/** `<version>-r<epoch>`: a package's full version as APK file names and indexes write it. */
export const fullVersion = (p: { version: string; epoch: number }) => `${p.version}-r${p.epoch}`;
