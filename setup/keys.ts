// Signing keys, generated on first use into KILN_STATE/keys (git-ignored, mode 0600). They never
// enter workflow payloads: activities read them from these paths on the worker.
import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { loadConfig, type KilnPaths } from '../config/config.js';
import { writeFileAtomicallySync } from '../io/atomic-file.js';

function ensurePair(
  label: string,
  keyPath: string,
  pubPath: string,
  generate: () => { privateKey: string; publicKey: string },
  log: (s: string) => void,
): void {
  if (!existsSync(keyPath)) {
    const { privateKey, publicKey } = generate();
    writeFileAtomicallySync(pubPath, publicKey, { mode: 0o644 });
    writeFileAtomicallySync(keyPath, privateKey, { mode: 0o600 });
    log(`    ${label}: generated ${keyPath}`);
    return;
  }
  if (!existsSync(pubPath)) {
    // A lost public half is derived again rather than replacing a key others may already trust.
    writeFileAtomicallySync(
      pubPath,
      createPublicKey(createPrivateKey(readFileSync(keyPath))).export({ type: 'spki', format: 'pem' }) as string,
      { mode: 0o644 },
    );
    log(`    ${label}: public key restored ${pubPath}`);
    return;
  }
  log(`    ${label}: present (${keyPath})`);
}

/**
 * A state directory's own paths, its keys in `<state>/keys` whatever KILN_PACKAGE_SIGNING_KEY or
 * KILN_IMAGE_SIGNING_KEY point a worker at: setup makes the default keys; an override is brought along.
 */
export function statePaths(stateDir: string): KilnPaths {
  return loadConfig({ KILN_STATE: stateDir }).paths;
}

export function ensureKeys(stateDir: string, log: (s: string) => void = console.log): void {
  const paths = statePaths(stateDir);
  mkdirSync(paths.keys, { recursive: true, mode: 0o700 });
  // melange and apko parse the private key as PKCS#1 ("RSA PRIVATE KEY") and find the public key
  // by its file name, which must end in `.rsa.pub` and match the `.SIGN.RSA256.<name>` entries.
  ensurePair(
    'package signing key (RSA-4096)',
    paths.packageSigningKey,
    paths.packageSigningPub,
    () =>
      generateKeyPairSync('rsa', {
        modulusLength: 4096,
        publicKeyEncoding: { type: 'spki', format: 'pem' },
        privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
      }),
    log,
  );
  ensurePair(
    'image signing key (ECDSA P-256)',
    paths.imageSigningKey,
    paths.imageSigningPub,
    () =>
      generateKeyPairSync('ec', {
        namedCurve: 'P-256',
        publicKeyEncoding: { type: 'spki', format: 'pem' },
        privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
      }),
    log,
  );
}
