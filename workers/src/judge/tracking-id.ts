// The tracking id of a verdict, in the spec's shape "XXXXX-XX" (e.g. 54321-07): five digits, a dash,
// two digits. It appears in the reply a sender sees and in the one log line of the message, so a
// postmaster finds the line from a bounce the sender forwards.

/** A fresh id from the platform's CSPRNG (ten million values; the log line also carries the time). */
export function newTrackingId(random: () => number = secureRandom): string {
  const n = Math.floor(random() * 10_000_000);
  const digits = n.toString().padStart(7, "0");
  return `${digits.slice(0, 5)}-${digits.slice(5)}`;
}

function secureRandom(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0]! / 2 ** 32;
}

export const TRACKING_ID_RE = /^\d{5}-\d{2}$/;
