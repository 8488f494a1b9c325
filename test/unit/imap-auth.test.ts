// Authentication against the IMAP host (relay-node/src/users/imap.ts): quoting and literals, reply
// parsing, and the client against a small fake IMAP server (test/harness/imap-server.ts) over implicit
// TLS and STARTTLS, with LOGIN (quoted strings and literals) and AUTHENTICATE PLAIN.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../core/config/load.ts";
import {
  capabilitiesOf,
  ImapAuthenticator,
  imapQuoted,
  loginOutcome,
  loginPassword,
  parseImapResponse,
  type ImapUsersConfig,
} from "../../relay-node/src/users/imap.ts";
import { startImapServer } from "../harness/imap-server.ts";

const dir = mkdtempSync(join(tmpdir(), "edgemx-imap-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const USERS = { "alice@example.org": 'pa"ss\\word', "bob@example.org": "bøb-pässword" };
/** Bob's password as a literal announces it: its UTF-8 octets, not its characters. */
const BOB_OCTETS = Buffer.byteLength(USERS["bob@example.org"], "utf8");
const config = parseConfig({
  hostname: "mx.example.org",
  domains: [{ name: "example.org", mx: ["mx.example.org"], aliases: { info: "alice", sales: "alice@example.org", other: "bob" } }],
});

function authenticator(port: number, caFile: string, tls: "implicit" | "starttls", timeoutMs = 3000): ImapAuthenticator {
  const options: ImapUsersConfig = { type: "imap", host: "127.0.0.1", port, tls, timeoutMs, caFile };
  return new ImapAuthenticator(options, () => config.domains);
}

describe("IMAP syntax", () => {
  it("quotes user and password (RFC 3501 §9), refusing what a quoted string cannot hold", () => {
    expect(imapQuoted("alice@example.org")).toBe('"alice@example.org"');
    expect(imapQuoted('a"b\\c d')).toBe('"a\\"b\\\\c d"');
    expect(imapQuoted("line\r\nbreak")).toBeNull();
    expect(imapQuoted("nul\0")).toBeNull();
    expect(imapQuoted("pässword")).toBeNull();
  });

  it("sends a password a quoted string cannot hold as a literal (RFC 3501 §4.3), non-synchronizing with LITERAL+ or a short one with LITERAL- (RFC 7888)", () => {
    const none = new Set<string>();
    expect(loginPassword('pa"ss', none)).toEqual({ quoted: '"pa\\"ss"' });
    expect(loginPassword("pässword", none)).toEqual({ literal: { bytes: Buffer.from("pässword", "utf8"), synchronizing: true } });
    expect(loginPassword("line\r\nbreak", none)).toEqual({ literal: { bytes: Buffer.from("line\r\nbreak"), synchronizing: true } });
    expect(loginPassword("pässword", new Set(["LITERAL+"]))).toMatchObject({ literal: { synchronizing: false } });
    expect(loginPassword("pässword", new Set(["LITERAL-"]))).toMatchObject({ literal: { synchronizing: false } });
    expect(loginPassword("ä".repeat(2049), new Set(["LITERAL-"]))).toMatchObject({ literal: { synchronizing: true } });
  });

  it("parses tagged, untagged and continuation replies with response codes", () => {
    expect(parseImapResponse("a2 NO [AUTHENTICATIONFAILED] Authentication failed.")).toEqual({
      tag: "a2",
      status: "NO",
      code: "AUTHENTICATIONFAILED",
      text: "Authentication failed.",
    });
    expect(parseImapResponse("* BYE Logging out")).toEqual({ tag: "*", status: "BYE", code: null, text: "Logging out" });
    expect(parseImapResponse("+ ")).toEqual({ tag: "+", status: null, code: null, text: "" });
    expect(capabilitiesOf(parseImapResponse("* CAPABILITY IMAP4rev1 SASL-IR auth=plain"))).toEqual(new Set(["IMAP4REV1", "SASL-IR", "AUTH=PLAIN"]));
    expect(capabilitiesOf(parseImapResponse("* OK [CAPABILITY IMAP4rev1 STARTTLS] ready"))).toEqual(new Set(["IMAP4REV1", "STARTTLS"]));
    expect(loginOutcome(parseImapResponse("a3 OK Logged in"))).toBe("ok");
    expect(loginOutcome(parseImapResponse("a3 NO [AUTHENTICATIONFAILED] no"))).toBe("invalid");
    expect(loginOutcome(parseImapResponse("a3 NO [UNAVAILABLE] backend down"))).toBe("temporary");
    expect(loginOutcome(parseImapResponse("a3 BAD syntax"))).toBe("temporary");
  });

  it("gives the user the login address and the aliases of our domains that point to it", () => {
    expect(
      new ImapAuthenticator({ type: "imap", host: "127.0.0.1", port: 1, tls: "implicit", timeoutMs: 1000 }, () => config.domains).ownedAddresses(
        "Alice@Example.org",
      ),
    ).toEqual(new Set(["alice@example.org", "info@example.org", "sales@example.org"]));
  });
});

describe("the IMAP host decides", () => {
  it("over implicit TLS with LOGIN: ok, wrong password, unknown user; never a foreign domain", async () => {
    const server = await startImapServer(dir, { users: USERS, implicitTls: true, authPlain: false });
    try {
      const auth = authenticator(server.port, server.caFile, "implicit");
      const ok = await auth.authenticate("alice@example.org", USERS["alice@example.org"]);
      expect(ok).toEqual({ status: "ok", user: { address: "alice@example.org", aliases: ["info@example.org", "sales@example.org"] } });
      expect(server.commands).toContain('a2 LOGIN "alice@example.org" "pa\\"ss\\\\word"');
      expect(await auth.authenticate("alice@example.org", "wrong")).toEqual({ status: "invalid" });
      // An 8-bit password cannot be a quoted string and the host offers no AUTH=PLAIN: a literal carries it.
      expect(await auth.authenticate("bob@example.org", USERS["bob@example.org"])).toMatchObject({ status: "ok" });
      expect(await auth.authenticate("bob@example.org", "wröng")).toEqual({ status: "invalid" });
      // A NUL fits neither a literal nor PLAIN: refused without asking the host.
      const asked = server.commands.length;
      expect(await auth.authenticate("alice@example.org", "nul\0")).toEqual({ status: "invalid" });
      expect(server.commands.length).toBe(asked);
      const before = server.commands.length;
      expect(await auth.authenticate("alice@example.net", "x")).toEqual({ status: "invalid" });
      expect(server.commands.length).toBe(before);
    } finally {
      await server.close();
    }
  });

  it("logs in with an 8-bit UTF-8 password where the host offers no AUTH=PLAIN: a synchronizing literal, or one with LITERAL+", async () => {
    for (const literalPlus of [false, true]) {
      const server = await startImapServer(dir, { users: USERS, implicitTls: true, authPlain: false, literalPlus });
      try {
        const auth = authenticator(server.port, server.caFile, "implicit");
        expect(await auth.authenticate("bob@example.org", USERS["bob@example.org"]), `LITERAL+ ${literalPlus}`).toEqual({
          status: "ok",
          user: { address: "bob@example.org", aliases: ["other@example.org"] },
        });
        expect(server.commands).toContain(`a2 LOGIN "bob@example.org" {${BOB_OCTETS}${literalPlus ? "+" : ""}}`);
        // Not as raw UTF-8 in a quoted string, which RFC 3501 §9 does not allow (the fake host answers that with BAD).
        expect(server.commands.some((c) => c.includes(USERS["bob@example.org"]))).toBe(false);
      } finally {
        await server.close();
      }
    }
  });

  it("over STARTTLS with AUTHENTICATE PLAIN after the continuation, and with SASL-IR", async () => {
    for (const saslIr of [false, true]) {
      const server = await startImapServer(dir, { users: USERS, implicitTls: false, saslIr });
      try {
        const auth = authenticator(server.port, server.caFile, "starttls");
        expect((await auth.authenticate("bob@example.org", USERS["bob@example.org"])).status).toBe("ok");
        expect(server.commands[0]).toBe("a1 STARTTLS");
        expect(server.commands.some((c) => c.startsWith(saslIr ? "a3 AUTHENTICATE PLAIN " : "a3 AUTHENTICATE PLAIN"))).toBe(true);
        expect(server.commands.some((c) => c.includes("LOGIN"))).toBe(false);
        expect(await auth.authenticate("bob@example.org", "wrong")).toEqual({ status: "invalid" });
      } finally {
        await server.close();
      }
    }
  });

  it("is temporary when the host is down, greets with BYE, is silent, or the certificate is not trusted", async () => {
    const server = await startImapServer(dir, { users: USERS, implicitTls: true });
    try {
      const auth = authenticator(server.port, server.caFile, "implicit", 500);
      for (const mode of ["down", "bye", "silent"] as const) {
        server.mode = mode;
        expect((await auth.authenticate("alice@example.org", USERS["alice@example.org"])).status, mode).toBe("temporary");
      }
      server.mode = "up";
      const untrusted = new ImapAuthenticator({ type: "imap", host: "127.0.0.1", port: server.port, tls: "implicit", timeoutMs: 2000 }, () => config.domains);
      const outcome = await untrusted.authenticate("alice@example.org", USERS["alice@example.org"]);
      expect(outcome.status).toBe("temporary");
      expect(server.commands).toHaveLength(0);
    } finally {
      await server.close();
    }
  });
});
