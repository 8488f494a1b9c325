// Greylisting on Email Routing's path, inside workerd: the Worker's email() asks the Durable Object of
// the client's network (its SQLite storage is real here, the wrangler.toml binding and migration too)
// with the relay's decision (core/greylist/), for a client named by Cloudflare's trace field. A deferral
// and an object that cannot answer throw, which Cloudflare turns into a temporary failure.
import { evictDurableObject, reset, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import worker from "../../workers/src/index.ts";
import type { GreylistObject } from "../../workers/src/greylist/greylist-object.ts";
import { configWith, fromClient, ID, TEST_CONNECTION, testEnv } from "./routed-email.ts";
import { TEST_DNS } from "../harness/zones.ts";

const { sender, clients } = TEST_DNS;
/** The network of the test clients (127.0.0.11, 127.0.0.12) under the default ipv4Prefix of 24. */
const NETWORK = "127.0.0.0/24";
const namespace = testEnv.GREYLIST!;

/** The relay's greylisting reply (core/smtp/replies.ts, `greylisted`). */
const greylisted = (rcpt: string, seconds: number) =>
  `451 4.7.1 <${rcpt}>: Recipient address rejected: Greylisted for ${seconds} seconds, please try again later`;

/** The Worker's bindings with greylisting on (`greylist` changes connection.greylist) and the test zones' connection checks. */
function greylistEnv(greylist: Record<string, unknown> = {}, connection: Record<string, unknown> = {}) {
  return { ...testEnv, EDGEMX_CONFIG: configWith({ connection: { ...TEST_CONNECTION, ...connection, greylist: { enabled: true, ...greylist } } }) };
}

const objectOf = (network: string) => namespace.get(namespace.idFromName(network));

type Row = {
  key: string;
  value: string;
  expires_at: number;
};

/** What the network's object holds, read inside it. */
function rowsOf(network: string): Promise<Row[]> {
  return runInDurableObject(objectOf(network), (_: GreylistObject, state) =>
    state.storage.sql.exec<Row>("SELECT key, value, expires_at FROM greylist ORDER BY key").toArray(),
  );
}

/** Lets real time pass: workerd's clock moves on when the timer fires. */
const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

beforeEach(async () => {
  await reset();
});

describe("Email Routing: greylisting in a Durable Object per client network", () => {
  it("defers a new triplet with the relay's reply by throwing; an early retry is deferred again and does not move the delay", async () => {
    const env = greylistEnv();
    const first = await fromClient(sender.authorizedIp);
    await expect(worker.email(first.message, env)).rejects.toThrow(greylisted("bob@example.org", 300));
    expect(first.calls).toEqual({ rejected: [], forwarded: [] });

    const [stored] = await rowsOf(NETWORK);
    expect(stored!.key).toBe(`triplet:${JSON.stringify([NETWORK, `alice@${sender.domain}`, "bob@example.org"])}`);
    const record = JSON.parse(stored!.value) as { firstSeen: number; passedAt: number | null; expiresAt: number };
    expect(record.passedAt).toBeNull();
    // The record lapses at the end of the retry window (the default two days) unless retried.
    expect(record.expiresAt - record.firstSeen).toBe(172_800_000);

    const early = await fromClient(sender.authorizedIp);
    await expect(worker.email(early.message, env)).rejects.toThrow(/^451 4\.7\.1 <bob@example\.org>: Recipient address rejected: Greylisted for \d+ seconds/);
    expect(early.calls).toEqual({ rejected: [], forwarded: [] });
    expect(await rowsOf(NETWORK)).toEqual([stored]);
  });

  it("takes the retry after the delay, though the object was evicted in between, and forwards it", async () => {
    const env = greylistEnv({ delaySeconds: 1 });
    const first = await fromClient(sender.authorizedIp);
    await expect(worker.email(first.message, env)).rejects.toThrow(greylisted("bob@example.org", 1));
    // The object's memory goes; its storage stays, as when Cloudflare evicts an idle object.
    await evictDurableObject(objectOf(NETWORK));
    await wait(1_000);

    const retry = await fromClient(sender.authorizedIp);
    await worker.email(retry.message, env);
    expect(retry.calls.rejected).toEqual([]);
    expect(retry.calls.forwarded).toHaveLength(1);
    expect(retry.calls.forwarded[0]!.headers!.get("x-edgemx-verdict")).toMatch(new RegExp(`^accept; id=${ID}$`));
    const rows = await rowsOf(NETWORK);
    // The forwarded message counts one towards the network's auto-allow, and the triplet is passed.
    expect(rows.find((row) => row.key === "client")?.value).toBe("1");
    const triplet = rows.find((row) => row.key.startsWith("triplet:"))!;
    expect((JSON.parse(triplet.value) as { passedAt: number | null }).passedAt).not.toBeNull();
  });

  it("keys the triplet by the client's network: a retry from another address of the /24 passes", async () => {
    // 127.0.0.12's PTR name looks dynamic: its FCrDNS finding only logs here.
    const env = greylistEnv({ delaySeconds: 1 }, { fcrdns: { action: "log" } });
    const first = await fromClient(sender.authorizedIp);
    await expect(worker.email(first.message, env)).rejects.toThrow(greylisted("bob@example.org", 1));
    await wait(1_000);
    const retry = await fromClient(clients.dynamicIp);
    await worker.email(retry.message, env);
    expect(retry.calls.forwarded).toHaveLength(1);
    // One object holds the network: the triplet, and the delivery from 127.0.0.12 counted.
    const rows = await rowsOf(NETWORK);
    expect(rows.map((row) => [row.key, row.key === "client" ? row.value : null])).toEqual([
      ["client", "1"],
      [`triplet:${JSON.stringify([NETWORK, `alice@${sender.domain}`, "bob@example.org"])}`, null],
    ]);
  });

  it("with ipv4Prefix 32 each address is a network of its own, and the other address is deferred", async () => {
    const env = greylistEnv({ delaySeconds: 1, ipv4Prefix: 32 }, { fcrdns: { action: "log" } });
    const first = await fromClient(sender.authorizedIp);
    await expect(worker.email(first.message, env)).rejects.toThrow(greylisted("bob@example.org", 1));
    await wait(1_000);
    const other = await fromClient(clients.dynamicIp);
    await expect(worker.email(other.message, env)).rejects.toThrow(greylisted("bob@example.org", 1));
    expect(await rowsOf(`${clients.dynamicIp}/32`)).toHaveLength(1);
  });

  it("auto-allows a network after autoAllowAfter forwarded messages: a new triplet of it passes at once", async () => {
    const env = greylistEnv({ delaySeconds: 1, autoAllowAfter: 1 });
    const first = await fromClient(sender.authorizedIp);
    await expect(worker.email(first.message, env)).rejects.toThrow(greylisted("bob@example.org", 1));
    await wait(1_000);
    const retry = await fromClient(sender.authorizedIp);
    await worker.email(retry.message, env);
    expect(retry.calls.forwarded).toHaveLength(1);

    const newTriplet = await fromClient(sender.authorizedIp, sender.mailHost, { to: "carol@example.org" });
    await worker.email(newTriplet.message, env);
    expect(newTriplet.calls.rejected).toEqual([]);
    expect(newTriplet.calls.forwarded).toHaveLength(1);
    // Nothing was recorded for the new triplet: auto-allow decides before the triplet is looked at.
    expect((await rowsOf(NETWORK)).filter((row) => row.key.includes("carol@example.org"))).toEqual([]);
  });

  it("spares a role mailbox whose policy relaxes greylisting: postmaster@ gets the first attempt, nothing is recorded", async () => {
    const { message, calls } = await fromClient(sender.authorizedIp, sender.mailHost, { to: "postmaster@example.org" });
    await worker.email(message, greylistEnv());
    expect(calls.rejected).toEqual([]);
    expect(calls.forwarded.map((forward) => forward.rcptTo)).toEqual(["mailbox@example.net"]);
    expect(await rowsOf(NETWORK)).toEqual([]);
  });

  it("the alarm removes lapsed rows and is set again for the earliest expiry left", async () => {
    const first = await fromClient(sender.authorizedIp);
    await expect(worker.email(first.message, greylistEnv())).rejects.toThrow(greylisted("bob@example.org", 300));
    const [live] = await rowsOf(NETWORK);
    await runInDurableObject(objectOf(NETWORK), (_: GreylistObject, state) => {
      state.storage.sql.exec("INSERT INTO greylist (key, value, expires_at) VALUES ('client', '3', ?)", Date.now() - 1);
    });
    expect(await runDurableObjectAlarm(objectOf(NETWORK))).toBe(true);
    expect(await rowsOf(NETWORK)).toEqual([live]);
    const alarm = await runInDurableObject(objectOf(NETWORK), (_: GreylistObject, state) => state.storage.getAlarm());
    expect(alarm).toBe(live!.expires_at);
  });
});

describe("Email Routing: greylisting that cannot run throws", () => {
  const tempfail = new RegExp(`^451 4\\.3\\.0 Temporary local problem, id=${ID}, please try again later$`);

  it("throws the relay's temporary reply when the network's object fails (its storage broken)", async () => {
    await runInDurableObject(objectOf(NETWORK), (_: GreylistObject, state) => {
      state.storage.sql.exec("DROP TABLE greylist");
    });
    const { message, calls } = await fromClient(sender.authorizedIp);
    await expect(worker.email(message, greylistEnv())).rejects.toThrow(tempfail);
    expect(calls).toEqual({ rejected: [], forwarded: [] });
  });

  it("throws the same reply while greylisting is enabled and the GREYLIST binding is missing; disabled, it asks no object", async () => {
    const unbound = await fromClient(sender.authorizedIp);
    await expect(worker.email(unbound.message, { ...greylistEnv(), GREYLIST: undefined })).rejects.toThrow(tempfail);
    expect(unbound.calls).toEqual({ rejected: [], forwarded: [] });

    const disabled = await fromClient(sender.authorizedIp);
    await worker.email(disabled.message, { ...greylistEnv({ enabled: false }), GREYLIST: undefined });
    expect(disabled.calls.forwarded).toHaveLength(1);
  });
});
