import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Secrets look like `opsf_<id>_<43 base64url chars>`: the prefix lets secret scanners find
 * leaked ones, the id finds the row without comparing secrets, and the 256 random bits make a
 * plain SHA-256 a sufficient hash (no password stretching needed for high-entropy secrets).
 */
export const TOKEN_PREFIX = 'opsf_';
const SHAPE = /^opsf_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$/;

export function newTokenSecret(): { id: string; secret: string } {
  const id = randomBytes(9).toString('base64url').toLowerCase().replace(/[^a-z0-9]/g, '0').slice(0, 12).padEnd(12, '0');
  return { id, secret: `${TOKEN_PREFIX}${id}_${randomBytes(32).toString('base64url')}` };
}

/** The id inside a well-formed secret, or undefined. */
export function tokenIdOf(secret: string): string | undefined {
  return SHAPE.exec(secret)?.[1];
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** Constant-time comparison of a presented secret with a stored hash. */
export function secretMatches(secret: string, storedHash: string): boolean {
  const a = Buffer.from(hashSecret(secret), 'hex');
  const b = Buffer.from(storedHash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}
