// The one hashing helper: content digests as OCI and SLSA write them.
import { createHash } from 'node:crypto';

/** Hex SHA-256 of bytes or text. */
export const sha256hex = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');

/** `sha256:<hex>`, an OCI content digest. */
export const sha256digest = (data: Buffer | string): string => `sha256:${sha256hex(data)}`;

/** The hex part of `sha256:<hex>`. */
export const hexOf = (digest: string): string => digest.replace(/^sha256:/, '');

/** SHA-1 of bytes or text (APK control-section signatures and pull checksums). */
export const sha1 = (data: Buffer | string): Buffer => createHash('sha1').update(data).digest();

/** An incremental SHA-256, for streams and multi-part inputs. */
export const sha256stream = () => createHash('sha256');

/** An incremental SHA-256 or SHA-512 (release tarball checksums, as melange's fetch pins them). */
export const checksumStream = (algorithm: 'sha256' | 'sha512') => createHash(algorithm);
