// `edgemx queue`: the command line, the control requests the relay accepts, and what people see.
import { describe, expect, it } from "vitest";
import { formatQueueEntry, formatQueueList, formatSpan, parseQueueCommand } from "../../relay-node/src/cli/queue-commands.ts";
import { headerSection, parseControlRequest } from "../../relay-node/src/control/control.ts";
import type { QueueEntry } from "../../relay-node/src/queue/spool.ts";

const ID = "19AC6F0B8C0A3F29C1";
const NOW = Date.parse("2026-03-04T12:00:00Z");
const ENTRY: QueueEntry = {
  id: ID,
  envelope: { mailFrom: "bob@sender.test", rcptTo: ["alice@example.org", "carol@example.org"] },
  createdAt: NOW - 125_000,
  size: 1234,
  attempts: 2,
  lastAttemptAt: NOW - 5_000,
  nextAttemptAt: NOW + 115_000,
  recipients: [
    { rcpt: "alice@example.org", status: "pending", reply: "451 4.3.2 try later" },
    { rcpt: "carol@example.org", status: "delivered", reply: "250 2.0.0 Ok" },
  ],
  delayWarned: false,
};

describe("queue command line", () => {
  it("parses each command and the socket and spool options", () => {
    expect(parseQueueCommand(["list"])).toEqual({ request: { op: "list" } });
    expect(parseQueueCommand(["show", ID])).toEqual({ request: { op: "show", id: ID } });
    expect(parseQueueCommand(["flush"])).toEqual({ request: { op: "flush" } });
    expect(parseQueueCommand(["--socket", "/x/control.sock", "flush", ID, "--spool", "/x/spool"])).toEqual({
      request: { op: "flush", id: ID },
      socket: "/x/control.sock",
      spool: "/x/spool",
    });
    expect(parseQueueCommand(["delete", ID])).toEqual({ request: { op: "delete", id: ID } });
  });

  it("parses dmarc-send with and without a day, and keeps --day to the report commands", () => {
    expect(parseQueueCommand(["dmarc-send"])).toEqual({ request: { op: "dmarc-send" } });
    expect(parseQueueCommand(["dmarc-send", "--day", "2026-03-04"])).toEqual({ request: { op: "dmarc-send", day: "2026-03-04" } });
    expect(parseQueueCommand(["dmarc-send", "--day", "yesterday"])).toBe("--day needs a day YYYY-MM-DD");
    expect(parseQueueCommand(["list", "--day", "2026-03-04"])).toBe("--day belongs to tlsrpt-send and dmarc-send");
    expect(parseControlRequest('{"op":"dmarc-send","day":"2026-03-04"}')).toEqual({ op: "dmarc-send", day: "2026-03-04" });
    expect(parseControlRequest('{"op":"dmarc-send","day":"4.3.2026"}')).toBe("day must be YYYY-MM-DD");
  });

  it("refuses what it does not understand", () => {
    expect(parseQueueCommand([])).toBe("no command");
    expect(parseQueueCommand(["show"])).toMatch(/missing id/);
    expect(parseQueueCommand(["delete"])).toMatch(/missing id/);
    expect(parseQueueCommand(["delete", "../etc/passwd"])).toMatch(/not a queue id/);
    expect(parseQueueCommand(["list", ID])).toMatch(/unknown command/);
    expect(parseQueueCommand(["show", ID, "more"])).toMatch(/too many/);
    expect(parseQueueCommand(["--socket"])).toMatch(/needs a value/);
  });
});

describe("control requests", () => {
  it("accepts the four operations and refuses anything else", () => {
    expect(parseControlRequest('{"op":"list"}')).toEqual({ op: "list" });
    expect(parseControlRequest(`{"op":"delete","id":"${ID}"}`)).toEqual({ op: "delete", id: ID });
    expect(parseControlRequest('{"op":"delete"}')).toMatch(/unknown request/);
    expect(parseControlRequest('{"op":"rm -rf"}')).toMatch(/unknown request/);
    expect(parseControlRequest('{"op":"show","id":5}')).toMatch(/id must be a string/);
    expect(parseControlRequest("list")).toBe("not JSON");
    expect(parseControlRequest("null")).toBe("not an object");
  });

  it("cuts the header section at the first empty line", () => {
    expect(headerSection(Buffer.from("Subject: a\r\nFrom: b\r\n\r\nbody\r\n"))).toBe("Subject: a\r\nFrom: b");
    expect(headerSection(Buffer.from("Subject: a\n\nbody"))).toBe("Subject: a");
  });
});

describe("queue formatting", () => {
  it("spans in the largest unit that fits", () => {
    expect([formatSpan(-5), formatSpan(45_000), formatSpan(125_000), formatSpan(3 * 3600_000), formatSpan(50 * 3600_000)]).toEqual([
      "0s",
      "45s",
      "2m",
      "3h",
      "2d",
    ]);
  });

  it("lists id, age, size, attempts, next attempt, sender and each recipient's state", () => {
    const text = formatQueueList([ENTRY], NOW);
    const lines = text.split("\n");
    expect(lines[1]).toMatch(new RegExp(`^${ID}\\s+2m\\s+1234\\s+2\\s+in 1m\\s+<bob@sender.test>$`));
    expect(lines[2]).toBe("    alice@example.org  pending  451 4.3.2 try later");
    expect(lines[3]).toBe("    carol@example.org  delivered  250 2.0.0 Ok");
    expect(lines[4]).toBe("1 entry");
    expect(formatQueueList([], NOW)).toBe("the queue is empty");
  });

  it("shows the entry and the headers", () => {
    const text = formatQueueEntry(ENTRY, "Subject: hello", NOW);
    expect(text).toContain(`id:            ${ID}`);
    expect(text).toContain("next attempt:  2026-03-04T12:01:55.000Z (in 1m)");
    expect(text).toContain("    alice@example.org  pending  451 4.3.2 try later");
    expect(text.endsWith("\nSubject: hello")).toBe(true);
  });
});
