// The MTA-STS policy cache on disk (RFC 8461 §5.1) and discovery across a restart of the relay: a
// policy cached before the restart still applies when the `_mta-sts` record is then hidden or the
// policy host cannot be reached (§10.2, the downgrade the cache is there to stop).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openStsPolicyCache } from "../../relay-node/src/mtasts/cache.ts";
import { stsPolicySource } from "../../relay-node/src/mtasts/fetch.ts";
import type { Lookup, RecordType, Resolver } from "../../core/dns/resolver.ts";

const POLICY = "version: STSv1\nmode: enforce\nmx: mx.example.net\nmax_age: 86400\n";
const NOW = Date.UTC(2026, 10, 27);
const DAY_MS = 86_400_000;

let dir: string;
let path: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "edgemx-sts-cache-"));
  path = join(dir, "mta-sts.sqlite");
});

afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A resolver that knows only the `_mta-sts` TXT record given, or none; the policy host never resolves. */
function resolverWith(txt: string | undefined): Resolver {
  const lookup = <T extends RecordType>(status: Lookup<T>["status"], answers: unknown[] = []): Lookup<T> =>
    ({ status, answers, ttl: 60, authenticated: false, detail: status === "ok" ? "" : status }) as Lookup<T>;
  return {
    query<T extends RecordType>(name: string, type: T): Promise<Lookup<T>> {
      if (type === "TXT" && name === "_mta-sts.example.net" && txt !== undefined) return Promise.resolve(lookup<T>("ok", [[txt]]));
      return Promise.resolve(lookup<T>("nxdomain"));
    },
  };
}

describe("the MTA-STS policy cache", () => {
  it("keeps a policy across a reopen, parsed again, until its expiry", () => {
    const cache = openStsPolicyCache(path, NOW);
    cache.set("example.net", { text: POLICY, id: "20261127", expiresAtMs: NOW + DAY_MS });
    cache.close();
    const reopened = openStsPolicyCache(path, NOW);
    expect(reopened.get("example.net", NOW + 1000)).toEqual({
      policy: { mode: "enforce", mx: ["mx.example.net"], maxAge: 86400 },
      id: "20261127",
      expiresAtMs: NOW + DAY_MS,
    });
    expect(reopened.get("example.org", NOW)).toBeUndefined();
    expect(reopened.get("example.net", NOW + DAY_MS)).toBeUndefined();
    expect(reopened.get("example.net", NOW)).toBeUndefined(); // the expired row was deleted when read
    reopened.close();
  });

  it("replaces a domain's policy, and deletes expired rows when it opens", () => {
    const cache = openStsPolicyCache(path, NOW);
    cache.set("example.net", { text: POLICY, id: "1", expiresAtMs: NOW + DAY_MS });
    cache.set("example.net", { text: POLICY.replace("enforce", "testing"), id: "2", expiresAtMs: NOW + 2 * DAY_MS });
    cache.set("example.org", { text: POLICY, id: "1", expiresAtMs: NOW + 1000 });
    expect(cache.get("example.net", NOW)).toMatchObject({ id: "2", policy: { mode: "testing" } });
    cache.close();
    openStsPolicyCache(path, NOW + 1000).close();
    const db = new DatabaseSync(path);
    expect(
      db
        .prepare("SELECT domain FROM sts_policies")
        .all()
        .map((row) => row.domain),
    ).toEqual(["example.net"]);
    db.close();
  });

  it("drops a row whose text no longer parses as a policy", () => {
    const cache = openStsPolicyCache(path, NOW);
    cache.set("example.net", { text: POLICY, id: "1", expiresAtMs: NOW + DAY_MS });
    const db = new DatabaseSync(path);
    db.prepare("UPDATE sts_policies SET policy = ?").run("version: STSv1\nmode: enforce\n");
    expect(cache.get("example.net", NOW)).toBeUndefined();
    expect(db.prepare("SELECT count(*) AS n FROM sts_policies").get()?.n).toBe(0);
    db.close();
    cache.close();
  });
});

describe("MTA-STS discovery after a restart (RFC 8461 §5.1)", () => {
  function cachedBeforeRestart(): void {
    const cache = openStsPolicyCache(path, NOW);
    cache.set("example.net", { text: POLICY, id: "20261127", expiresAtMs: NOW + DAY_MS });
    cache.close();
  }

  it("uses the cached policy when the TXT record is gone", async () => {
    cachedBeforeRestart();
    const cache = openStsPolicyCache(path, NOW);
    const source = stsPolicySource({ resolver: resolverWith(undefined), cache, now: () => NOW + 1000 });
    expect(await source.discover("example.net")).toMatchObject({ kind: "policy", id: "20261127", fromCache: true, policy: { mode: "enforce" } });
    cache.close();
  });

  it("uses it without a fetch while the id is the same, and when a new id's fetch fails", async () => {
    cachedBeforeRestart();
    const cache = openStsPolicyCache(path, NOW);
    // The policy host does not resolve: a fetch would fail, so "fromCache" means nothing was fetched.
    const same = stsPolicySource({ resolver: resolverWith("v=STSv1; id=20261127"), cache, now: () => NOW + 1000 });
    expect(await same.discover("example.net")).toMatchObject({ kind: "policy", id: "20261127", fromCache: true });
    const changed = stsPolicySource({ resolver: resolverWith("v=STSv1; id=20261128"), cache, now: () => NOW + 1000 });
    expect(await changed.discover("example.net")).toMatchObject({ kind: "policy", id: "20261127", fromCache: true });
    cache.close();
  });

  it("has no policy once the cached one expired", async () => {
    cachedBeforeRestart();
    const cache = openStsPolicyCache(path, NOW + DAY_MS);
    const source = stsPolicySource({ resolver: resolverWith(undefined), cache, now: () => NOW + DAY_MS });
    expect(await source.discover("example.net")).toMatchObject({ kind: "none" });
    cache.close();
  });
});
