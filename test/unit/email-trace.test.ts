// The client facts of the Email Routing path, read from the topmost Received field (RFC 5321 §4.4)
// that Cloudflare's MX prepends. Headers.get joins repeated fields with ", ", so only the first
// (topmost) field may count; Received-SPF is never read (a sender can write one).
import { describe, expect, it } from "vitest";
import { clientTrace, connectionFromReceived, connectionTrace, traceFromReceived } from "../../workers/src/email/trace.ts";

function headers(fields: [string, string][]): Headers {
  const h = new Headers();
  for (const [name, value] of fields) h.append(name, value);
  return h;
}

describe("Received (RFC 5321 §4.4)", () => {
  it("reads the HELO name and the IPv4 literal of the from clause", () => {
    expect(
      traceFromReceived("from mail.sender.test (mail.sender.test [192.0.2.1]) by mx.cloudflare.net with ESMTPS id x; Mon, 01 Jun 2026 10:00:00 +0000"),
    ).toEqual({
      helo: "mail.sender.test",
      clientIp: "192.0.2.1",
    });
  });

  it("reads an IPv6 literal, with or without the IPv6: tag", () => {
    expect(traceFromReceived("from mail.b.test (mail.b.test [IPv6:2001:db8::25]) by mx.cloudflare.net; Mon, 01 Jun 2026 10:00:00 +0000")).toEqual({
      helo: "mail.b.test",
      clientIp: "2001:db8::25",
    });
    expect(traceFromReceived("from mail.b.test (mail.b.test [2001:db8::25]) by mx.cloudflare.net; Mon, 01 Jun 2026 10:00:00 +0000")).toEqual({
      helo: "mail.b.test",
      clientIp: "2001:db8::25",
    });
  });

  it("strips the brackets of an address-literal HELO", () => {
    expect(traceFromReceived("from [192.0.2.1] (unknown [192.0.2.1]) by mx.cloudflare.net; Mon, 01 Jun 2026 10:00:00 +0000")).toEqual({
      helo: "192.0.2.1",
      clientIp: "192.0.2.1",
    });
  });

  it("gives the HELO without an address when the from clause has none", () => {
    expect(traceFromReceived("from localhost (localhost) by mx.cloudflare.net with SMTP; Mon, 01 Jun 2026 10:00:00 +0000")).toEqual({ helo: "localhost" });
  });

  it("never takes the address of the by clause", () => {
    expect(traceFromReceived("by mx.cloudflare.net ([203.0.113.9]) with ESMTP; Mon, 01 Jun 2026 10:00:00 +0000")).toEqual({});
    expect(traceFromReceived("from client.test (client.test) by relay.test ([203.0.113.9]); Mon, 01 Jun 2026 10:00:00 +0000")).toEqual({ helo: "client.test" });
  });

  it('reads only the topmost of several fields joined with ", "', () => {
    const joined = headers([
      ["Received", "from mail.sender.test (mail.sender.test [192.0.2.1]) by mx.cloudflare.net with ESMTPS id a; Mon, 01 Jun 2026 10:00:01 +0000"],
      ["Received", "from workstation (workstation [198.51.100.55]) by mail.sender.test with ESMTPSA id b; Mon, 01 Jun 2026 10:00:00 +0000"],
    ]).get("received")!;
    expect(joined).toContain("+0000, from workstation");
    expect(traceFromReceived(joined)).toEqual({ helo: "mail.sender.test", clientIp: "192.0.2.1" });
  });

  it("does not take a lower field's address when the topmost field has no by clause", () => {
    const joined = headers([
      ["Received", "from mail.sender.test (mail.sender.test); Mon, 01 Jun 2026 10:00:01 +0000"],
      ["Received", "from forged.test (forged.test [198.51.100.66]) by elsewhere.test; Mon, 01 Jun 2026 10:00:00 +0000"],
    ]).get("received")!;
    expect(traceFromReceived(joined)).toEqual({ helo: "mail.sender.test" });
  });
});

describe("Cloudflare's own form: the address in parentheses, no with clause", () => {
  // The shape of Email Routing's field in published messages (docs/email-routing.md, "What the trace field carries").
  const cloudflare = (from: string) =>
    `from ${from} by cloudflare-email.net (cloudflare) id X3lxaAB17rsc for <bob@example.org>; Thu, 23 Apr 2026 13:07:10 +0000`;

  it("reads the HELO name and the IPv4 address in parentheses", () => {
    expect(traceFromReceived(cloudflare("mail.sender.test (192.0.2.11)"))).toEqual({ helo: "mail.sender.test", clientIp: "192.0.2.11" });
  });

  it("reads an IPv6 address in parentheses", () => {
    expect(traceFromReceived(cloudflare("mail-oi1.example.test (2001:db8:4864:20::22f)"))).toEqual({
      helo: "mail-oi1.example.test",
      clientIp: "2001:db8:4864:20::22f",
    });
  });

  it("says nothing of TLS: the field has no with clause", () => {
    expect(connectionFromReceived(cloudflare("mail.sender.test (192.0.2.11)"))).toEqual({
      helo: "mail.sender.test",
      heloArgument: "mail.sender.test",
      clientIp: "192.0.2.11",
    });
  });

  it("never takes a parenthesized word that is no address", () => {
    expect(traceFromReceived(cloudflare("mail.sender.test (unknown)"))).toEqual({ helo: "mail.sender.test" });
  });
});

describe("the connection checks' view of the field", () => {
  it("keeps an address-literal HELO as given, and never takes the client's address from the HELO the client chose", () => {
    expect(connectionFromReceived("from [198.51.100.9] (192.0.2.11) by cloudflare-email.net (cloudflare) id x; Mon, 01 Jun 2026 10:00:00 +0000")).toEqual({
      helo: "198.51.100.9",
      heloArgument: "[198.51.100.9]",
      clientIp: "192.0.2.11",
    });
    expect(connectionFromReceived("from [198.51.100.9] (unknown) by cloudflare-email.net; Mon, 01 Jun 2026 10:00:00 +0000")).toEqual({
      helo: "198.51.100.9",
      heloArgument: "[198.51.100.9]",
    });
  });

  it("reads TLS from the with clause (RFC 3848): ESMTPS and ESMTPSA encrypted, SMTP and ESMTP not", () => {
    const withType = (type: string) =>
      connectionFromReceived(`from mail.sender.test (mail.sender.test [192.0.2.11]) by mx.example.org with ${type} id x; Mon, 01 Jun 2026 10:00:00 +0000`).tls;
    expect(["ESMTPS", "ESMTPSA", "esmtps", "UTF8SMTPS", "LMTPS"].map(withType)).toEqual([true, true, true, true, true]);
    expect(["SMTP", "ESMTP", "ESMTPA", "UTF8SMTP", "LMTP"].map(withType)).toEqual([false, false, false, false, false]);
    expect(withType("HTTP")).toBeUndefined();
  });

  it("reads no with clause from comments, from the client's words or from a lower field", () => {
    // Postfix's TLS comment says "with cipher": a comment, not the with clause.
    expect(
      connectionFromReceived(
        "from mail.sender.test (mail.sender.test [192.0.2.11]) (using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384) by mx.example.org id x; Mon, 01 Jun 2026 10:00:00 +0000",
      ).tls,
    ).toBeUndefined();
    expect(connectionFromReceived("from with (192.0.2.11) by cloudflare-email.net id x; Mon, 01 Jun 2026 10:00:00 +0000").tls).toBeUndefined();
    const joined = headers([
      ["Received", "from mail.sender.test (192.0.2.11) by cloudflare-email.net (cloudflare) id a; Mon, 01 Jun 2026 10:00:01 +0000"],
      ["Received", "from workstation (workstation [198.51.100.55]) by mail.sender.test with ESMTPSA id b; Mon, 01 Jun 2026 10:00:00 +0000"],
    ]);
    expect(connectionTrace(joined)).toEqual({ helo: "mail.sender.test", heloArgument: "mail.sender.test", clientIp: "192.0.2.11" });
  });
});

describe("clientTrace: which field counts", () => {
  it("ignores Received-SPF, which a sender can forge, and reads the topmost Received", () => {
    const h = headers([
      ["Received-SPF", "pass (forged by the sender) client-ip=192.0.2.1; envelope-from=a@b.test; helo=mail.b.test;"],
      ["Received", "from other.test (other.test [198.51.100.2]) by mx.cloudflare.net; Mon, 01 Jun 2026 10:00:00 +0000"],
    ]);
    expect(clientTrace(h)).toEqual({ clientIp: "198.51.100.2", helo: "other.test" });
  });

  it("names no client from Received-SPF alone", () => {
    expect(clientTrace(headers([["Received-SPF", "pass client-ip=192.0.2.1; helo=mail.b.test;"]]))).toEqual({});
  });

  it("reads an IPv6 literal of the topmost Received", () => {
    const h = headers([["Received", "from mail.b.test (mail.b.test [IPv6:2001:db8::25]) by mx.cloudflare.net; Mon, 01 Jun 2026 10:00:00 +0000"]]);
    expect(clientTrace(h)).toEqual({ clientIp: "2001:db8::25", helo: "mail.b.test" });
  });

  it("is empty without trace fields", () => {
    expect(clientTrace(new Headers({ from: "a@b.test" }))).toEqual({});
  });
});

describe("addresses the trace may name", () => {
  it("takes IPv6 in every RFC 4291 §2.2 form and nothing else", () => {
    const ip = (text: string) => traceFromReceived(`from h.test (h.test [IPv6:${text}]) by mx.test; Mon, 01 Jun 2026 10:00:00 +0000`).clientIp;
    for (const good of ["2001:db8:0:0:0:0:0:1", "2001:db8::1", "::1", "::", "fe80::", "::ffff:192.0.2.1", "64:ff9b::192.0.2.33", "1:2:3:4:5:6:192.0.2.1"]) {
      expect(ip(good), good).toBe(good);
    }
    for (const bad of [
      ":::",
      "2001:db8:::1",
      "2001::db8::1",
      "1:2:3:4:5:6:7",
      "1:2:3:4:5:6:7:8:9",
      "12345::1",
      "::ffff:192.0.2.256",
      "g::1",
      "1:2:3:4:5:6:7:192.0.2.1",
    ]) {
      expect(ip(bad), bad).toBeUndefined();
    }
  });
});
