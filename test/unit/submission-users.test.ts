// The submission users store (relay-node/src/users): scrypt hashes with per-user salt and stored
// parameters, constant-time comparison, addresses and aliases per user.
import { afterEach, describe, expect, it } from "vitest";
import { hashPassword, parseStoredHash, verifyPassword } from "../../relay-node/src/users/password.ts";
import { UserStore, UserStoreError } from "../../relay-node/src/users/store.ts";

/** Cheap parameters: the tests check the construction, not the cost. */
const FAST = { N: 2 ** 10, r: 8, p: 1 };

describe("password hashes", () => {
  it("stores algorithm, parameters and a per-user salt with the hash", async () => {
    const [a, b] = [await hashPassword("correct horse", FAST), await hashPassword("correct horse", FAST)];
    expect(a).toMatch(/^scrypt\$1024\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    expect(a).not.toBe(b);
    expect(parseStoredHash(a)?.params).toEqual(FAST);
  });

  it("verifies the right password only, with the parameters stored in the hash", async () => {
    const stored = await hashPassword("correct horse", FAST);
    expect(await verifyPassword("correct horse", stored)).toBe(true);
    expect(await verifyPassword("correct horsE", stored)).toBe(false);
    expect(await verifyPassword("", stored)).toBe(false);
  });

  it("never matches a malformed stored hash", async () => {
    for (const stored of ["", "scrypt$x$8$1$AA==$AA==", "bcrypt$10$8$1$AA==$AA==", "scrypt$1024$8$1$$"]) expect(await verifyPassword("x", stored)).toBe(false);
  });

  it("uses OWASP's scrypt minimum by default", async () => {
    expect(parseStoredHash(await hashPassword("x"))?.params).toEqual({ N: 2 ** 17, r: 8, p: 1 });
  });
});

describe("UserStore", () => {
  let store: UserStore;
  afterEach(() => store.close());

  it("authenticates by full address, case-insensitively, and knows the owned addresses", async () => {
    store = new UserStore(":memory:", FAST);
    await store.add("Alice@Example.org", "s3cret", ["info@example.org"]);
    expect(await store.authenticate("alice@example.org", "s3cret")).toEqual({ address: "alice@example.org", aliases: ["info@example.org"] });
    expect(await store.authenticate("ALICE@example.org", "s3cret")).not.toBeNull();
    expect(await store.authenticate("alice@example.org", "wrong")).toBeNull();
    expect(await store.authenticate("nobody@example.org", "s3cret")).toBeNull();
    expect([...store.ownedAddresses("alice@example.org")].sort()).toEqual(["alice@example.org", "info@example.org"]);
  });

  it("stores no password in clear", async () => {
    store = new UserStore(":memory:", FAST);
    await store.add("alice@example.org", "plain-text-password");
    expect(JSON.stringify(store.list())).not.toContain("plain-text-password");
  });

  it("changes a password and deletes a user with their aliases", async () => {
    store = new UserStore(":memory:", FAST);
    await store.add("alice@example.org", "old", ["info@example.org"]);
    await store.setPassword("alice@example.org", "new");
    expect(await store.authenticate("alice@example.org", "old")).toBeNull();
    expect(await store.authenticate("alice@example.org", "new")).not.toBeNull();
    store.delete("alice@example.org");
    expect(store.list()).toEqual([]);
    await store.add("bob@example.org", "pw", ["info@example.org"]);
    expect(store.list()).toEqual([{ address: "bob@example.org", aliases: ["info@example.org"] }]);
  });

  it("refuses an address that is taken, malformed, or an empty password", async () => {
    store = new UserStore(":memory:", FAST);
    await store.add("alice@example.org", "pw", ["info@example.org"]);
    await expect(store.add("bob@example.org", "pw", ["info@example.org"])).rejects.toThrow(UserStoreError);
    await expect(store.add("alice@example.org", "pw")).rejects.toThrow(/already belongs/);
    await expect(store.add("not-an-address", "pw")).rejects.toThrow(/not an e-mail address/);
    await expect(store.add("carol@example.org", "")).rejects.toThrow(/empty/);
    await expect(store.setPassword("nobody@example.org", "pw")).rejects.toThrow(/no user/);
    expect(() => store.delete("nobody@example.org")).toThrow(/no user/);
  });
});
