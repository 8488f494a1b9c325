// The fault suite's checker (test/faults/support/checker.ts) and the crash-point hook's variable
// (relay-node/src/queue/crash-point.ts): what counts as lost, duplicated and delivered without a 250,
// and which EDGEMX_CRASH_AT values are taken.
import { describe, expect, it } from "vitest";
import { parseCrashAt } from "../../relay-node/src/queue/crash-point.ts";
import { countIds, formatRow, messageId, tally } from "../faults/support/checker.ts";

const at = 0;

describe("the fault suite's tally", () => {
  const outcomes = [
    { id: "c.0", code: 250, at, ms: 5 },
    { id: "c.1", code: 250, at, ms: 5 },
    { id: "c.2", code: 250, at, ms: 5 },
    { id: "c.3", code: 452, at, ms: 5 },
    { id: "c.4", code: 554, at, ms: 5 },
    { id: "c.5", code: null, at, ms: 5 },
  ];

  it("counts a 250 neither delivered nor queued as lost, copies beyond the first as duplicates", () => {
    const copies = new Map([
      ["c.0", 2],
      ["c.5", 1],
      ["other.9", 1],
    ]);
    const row = tally("case", outcomes, copies, new Set(["c.1"]), 1500);
    expect(row).toEqual({
      fault: "case",
      sent: 6,
      accepted: 3,
      delivered: 2,
      tempfail: 1,
      permfail: 1,
      noReply: 1,
      queued: 1,
      lost: 1,
      duplicated: 1,
      deliveredWithout250: 1,
      recoveryMs: 1500,
    });
    expect(formatRow(row)).toBe("| case | 6 | 3 | 2 | 1 | 1 | 1 | 1 | 1 | 1 | 1 | 1.50 s |");
  });

  it("finds the id in the header section only", () => {
    expect(messageId("X-Fault-Id: a.1\r\nSubject: x\r\n\r\nbody")).toBe("a.1");
    expect(messageId("Subject: x\r\n\r\nX-Fault-Id: a.1\r\n")).toBeUndefined();
    expect(countIds(["X-Fault-Id: a.1\r\n\r\n", "X-Fault-Id: a.1\r\n\r\n", "Subject: none\r\n\r\n"])).toEqual(new Map([["a.1", 2]]));
  });
});

describe("EDGEMX_CRASH_AT", () => {
  it("is off when unset or empty", () => {
    expect(parseCrashAt(undefined)).toBeUndefined();
    expect(parseCrashAt("")).toBeUndefined();
  });

  it("names a step and a count", () => {
    expect(parseCrashAt("directory-fsync:12")).toEqual({ step: "directory-fsync", count: 12 });
  });

  it.for(["fsync", "fsync:0", "fsync:x", "sync:3", "fsync:3:4"])("refuses %j, naming the variable and the steps", (text) => {
    expect(() => parseCrashAt(text)).toThrow(/EDGEMX_CRASH_AT must be <step>:<n> with a step of write, fsync, rename, directory-fsync, delivery, removal/);
  });
});
