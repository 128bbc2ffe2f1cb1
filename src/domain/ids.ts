import { randomFillSync } from 'node:crypto';

const random = Buffer.alloc(10);

/**
 * A UUID version 7 (RFC 9562): 48 bits of Unix milliseconds, then random bits. Users and
 * credentials are keyed by their id, and a random (v4) key sends every insert to a random leaf
 * of the primary-key index; keys that grow with time append to its end, which keeps a million-row
 * import within a few hot pages. Callers still see an ordinary UUID.
 *
 * @example newId(1_750_000_000_000) // '01977420-dc00-7b32-acbc-fe4273780a3d' (the last 74 bits random)
 */
export function newId(nowMs: number = Date.now()): string {
  randomFillSync(random);
  const hex = Math.floor(nowMs).toString(16).padStart(12, '0') + random.toString('hex');
  // version 7 in the 13th digit, variant 10xx in the 17th
  const variant = ((parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-7${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}
