// A private Fulcio stand-in for the keyless tests: a root and an intermediate CA made with openssl,
// and leaf certificates shaped like Fulcio's (empty subject, critical SAN, code signing, the OIDC
// issuer in extension 1.3.6.1.4.1.57264.1.8 and/or the deprecated 1.1), plus a Signer that signs
// with a leaf's key and hands @sigstore/sign the certificate, as FulcioSigner does.
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Signature, Signer } from '@sigstore/sign';
import { execa } from 'execa';

export interface Leaf {
  /** PEM certificate. */
  certificate: string;
  key: KeyObject;
}

export interface TestCa {
  /** PEM file: intermediate, then root (what KILN_FULCIO_CA and cosign's chain flags take). */
  chainFile: string;
  chainPem: string;
  leaf(options: LeafOptions): Promise<Leaf>;
}

export interface LeafOptions {
  /** `URI:…` or `email:…` */
  san: string;
  /** OIDC issuer; written into 1.3.6.1.4.1.57264.1.8 (and .1.1 unless `v1Only`/`v2Only`). */
  issuer: string;
  v1Only?: boolean;
  v2Only?: boolean;
  /** Validity from now (default 1 day; the CAs are valid for 30). */
  days?: number;
}

function newKey(): { key: KeyObject; pem: string } {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { key: privateKey, pem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

const openssl = (cwd: string, args: string[]) => execa('openssl', args, { cwd });

/** A root CA and an intermediate under it, in `dir`; `name` tells CAs of one test apart. */
export async function makeCa(dir: string, name: string): Promise<TestCa> {
  let serial = 1;
  const file = (f: string) => join(dir, `${name}-${f}`);
  await writeFile(
    file('ca.cnf'),
    [
      '[req]',
      'distinguished_name = dn',
      '[dn]',
      '[root]',
      'basicConstraints = critical,CA:TRUE',
      'keyUsage = critical,keyCertSign,cRLSign',
      'subjectKeyIdentifier = hash',
      '[intermediate]',
      'basicConstraints = critical,CA:TRUE,pathlen:0',
      'keyUsage = critical,keyCertSign,cRLSign',
      'extendedKeyUsage = codeSigning',
      'subjectKeyIdentifier = hash',
      'authorityKeyIdentifier = keyid',
      '',
    ].join('\n'),
  );
  for (const ca of ['root', 'intermediate']) await writeFile(file(`${ca}.key`), newKey().pem, { mode: 0o600 });
  await openssl(dir, [
    'req',
    '-x509',
    '-new',
    '-key',
    file('root.key'),
    '-subj',
    `/O=kiln test/CN=${name} root`,
    '-days',
    '30',
    '-config',
    file('ca.cnf'),
    '-extensions',
    'root',
    '-out',
    file('root.pem'),
  ]);
  await openssl(dir, [
    'req',
    '-new',
    '-key',
    file('intermediate.key'),
    '-subj',
    `/O=kiln test/CN=${name} intermediate`,
    '-config',
    file('ca.cnf'),
    '-out',
    file('intermediate.csr'),
  ]);
  await openssl(dir, [
    'x509',
    '-req',
    '-in',
    file('intermediate.csr'),
    '-CA',
    file('root.pem'),
    '-CAkey',
    file('root.key'),
    '-set_serial',
    String(serial++),
    '-days',
    '30',
    '-extfile',
    file('ca.cnf'),
    '-extensions',
    'intermediate',
    '-out',
    file('intermediate.pem'),
  ]);
  const chainFile = file('chain.pem');
  const chainPem = (await readFile(file('intermediate.pem'), 'utf8')) + (await readFile(file('root.pem'), 'utf8'));
  await writeFile(chainFile, chainPem);

  return {
    chainFile,
    chainPem,
    async leaf(options) {
      const n = serial++;
      const leafFile = (f: string) => file(`leaf-${n}.${f}`);
      const { key, pem } = newKey();
      await writeFile(leafFile('key'), pem, { mode: 0o600 });
      const issuerHex = Buffer.from(options.issuer, 'ascii').toString('hex');
      await writeFile(
        leafFile('cnf'),
        [
          '[leaf]',
          'basicConstraints = critical,CA:FALSE',
          'keyUsage = critical,digitalSignature',
          'extendedKeyUsage = codeSigning',
          `subjectAltName = critical,${options.san}`,
          'subjectKeyIdentifier = hash',
          'authorityKeyIdentifier = keyid',
          // v1: the issuer's bytes as they are; v2: a DER UTF8String.
          ...(options.v2Only ? [] : [`1.3.6.1.4.1.57264.1.1 = DER:${issuerHex}`]),
          ...(options.v1Only ? [] : [`1.3.6.1.4.1.57264.1.8 = ASN1:UTF8String:${options.issuer}`]),
          '',
        ].join('\n'),
      );
      // Fulcio leaves have an empty subject; the identity is the SAN alone.
      await openssl(dir, [
        'req',
        '-new',
        '-key',
        leafFile('key'),
        '-subj',
        '/',
        '-config',
        file('ca.cnf'),
        '-out',
        leafFile('csr'),
      ]);
      await openssl(dir, [
        'x509',
        '-req',
        '-in',
        leafFile('csr'),
        '-CA',
        file('intermediate.pem'),
        '-CAkey',
        file('intermediate.key'),
        '-set_serial',
        String(n),
        '-days',
        String(options.days ?? 1),
        '-extfile',
        leafFile('cnf'),
        '-extensions',
        'leaf',
        '-out',
        leafFile('pem'),
      ]);
      return { certificate: await readFile(leafFile('pem'), 'utf8'), key };
    },
  };
}

/** @sigstore/sign's Signer with a certificate as verification material, as FulcioSigner returns. */
export class CertificateSigner implements Signer {
  constructor(private readonly leaf: Leaf) {}

  async sign(data: Buffer): Promise<Signature> {
    return {
      signature: sign('sha256', data, this.leaf.key),
      key: { $case: 'x509Certificate', certificate: this.leaf.certificate },
    };
  }
}
