// Verifies an APK's signature against a catalog keyring: the RSA signature over the control
// member, and the data member against the signed `.PKGINFO` datahash.
import { verify } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { failure } from '../domain/failures.js';
import type { ApkContents } from './reader.js';

const KEY_FETCH_TIMEOUT_MS = 30_000;

/** A keyring entry's PEM: a file, or an http(s) URL (an unreachable one is retried). */
async function readKey(key: string): Promise<string> {
  if (!/^https?:\/\//.test(key)) return readFile(key, 'utf8');
  const res = await fetch(key, { signal: AbortSignal.timeout(KEY_FETCH_TIMEOUT_MS) }).catch((err: Error) => {
    throw failure('KeyUnavailable', `keyring key ${key} is unreachable: ${err.message}`, {
      retryable: true,
      cause: err,
    });
  });
  if (!res.ok) throw failure('KeyUnavailable', `keyring key ${key} answered ${res.status}`, { retryable: true });
  return res.text();
}

/**
 * The signature (over the control member) must verify with a key of the catalog's keyring, found
 * by its file name; with `checkData`, the data must also match the control member's datahash:
 * together they vouch for every byte, the SBOM included. Returns the key's file name.
 */
export async function checkSignature(
  apkPath: string,
  contents: ApkContents,
  keyring: string[],
  checkData: boolean,
): Promise<{ key: string }> {
  const fail = (what: string): never => {
    throw failure('SignatureInvalid', `${apkPath}: ${what}`);
  };
  if (!contents.signature || !contents.control) return fail('is not signed');
  const { keyName, bytes } = contents.signature;
  const key = keyring.find((k) => basename(k) === keyName);
  if (!key)
    return fail(
      `is signed by ${keyName}, which is not in catalog.yaml keyring (fix: add its public key to keyring, or build with the worker's signing key)`,
    );
  if (!verify('sha256', contents.control, await readKey(key), bytes))
    fail(`signature by ${keyName} does not verify: .PKGINFO was changed after it was signed`);
  if (!checkData) return { key: keyName };
  const datahash = contents.pkginfo.get('datahash')?.[0];
  if (!datahash) fail('has no datahash in .PKGINFO, so its files are not covered by the signature');
  if (datahash !== contents.dataSha256)
    fail(`data does not match the signed .PKGINFO datahash: its files were changed after it was signed`);
  return { key: keyName };
}
