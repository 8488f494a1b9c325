// The bearer token of the relay's own HTTP listeners (learning, the scan endpoint): RFC 6750 §2.1's
// "Authorization: Bearer <token>", the scheme name case-insensitive (RFC 9110 §11.1), the token not.
import { createHash, timingSafeEqual } from "node:crypto";

/** Compares digests, so neither the token's length nor its bytes leak through timing. */
export function bearerTokenMatches(header: string | undefined, token: string): boolean {
  const given = /^Bearer +(\S+)$/i.exec(header ?? "")?.[1];
  if (given === undefined) return false;
  const digest = (text: string): Buffer => createHash("sha256").update(text).digest();
  return timingSafeEqual(digest(given), digest(token));
}
