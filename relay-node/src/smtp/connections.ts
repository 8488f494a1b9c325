// Connection bounds of a listener: sessions in total and per client address (relay.limits). A client
// over either bound gets 421 4.7.0 and is closed before anything else happens (RFC 5321 §3.8).

export interface ConnectionLimits {
  maxConnections: number;
  maxConnectionsPerIp: number;
}

export type Admission = "admitted" | "too-many-total" | "too-many-from-ip";

export class ConnectionCounter {
  readonly #limits: ConnectionLimits;
  readonly #perIp = new Map<string, number>();
  #total = 0;

  constructor(limits: ConnectionLimits) {
    this.#limits = limits;
  }

  /** Counts the session in when both bounds allow it; `release` must follow for admitted ones. */
  admit(ip: string): Admission {
    if (this.#total >= this.#limits.maxConnections) return "too-many-total";
    const fromIp = this.#perIp.get(ip) ?? 0;
    if (fromIp >= this.#limits.maxConnectionsPerIp) return "too-many-from-ip";
    this.#total++;
    this.#perIp.set(ip, fromIp + 1);
    return "admitted";
  }

  release(ip: string): void {
    const fromIp = this.#perIp.get(ip) ?? 0;
    if (fromIp <= 0) return;
    this.#total--;
    if (fromIp === 1) this.#perIp.delete(ip);
    else this.#perIp.set(ip, fromIp - 1);
  }
}
