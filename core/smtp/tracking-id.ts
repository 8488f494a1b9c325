// The tracking id of a verdict, in the spec's shape "XXXXX-XX" (e.g. 54321-07): five digits, a dash,
// two digits. It appears in the reply a sender sees and in the one log line of the message, so a
// postmaster finds the line from a bounce the sender forwards.

/** A fresh id from the platform's CSPRNG (ten million values; the log line also carries the time). */
export function newTrackingId(random: () => number = secureRandom): string {
  const n = Math.floor(random() * 10_000_000);
  const digits = n.toString().padStart(7, "0");
  return `${digits.slice(0, 5)}-${digits.slice(5)}`;
}

/**
 * Random words drawn from the CSPRNG a batch at a time: one getRandomValues() call per id cost the
 * relay about 1.5 % of its CPU per message (a call into the platform's generator each), a batch of
 * 256 costs about what one did.
 */
const pool = new Uint32Array(256);
let next = pool.length;

function secureRandom(): number {
  if (next === pool.length) {
    crypto.getRandomValues(pool);
    next = 0;
  }
  return pool[next++]! / 2 ** 32;
}

export const TRACKING_ID_RE = /^\d{5}-\d{2}$/;
