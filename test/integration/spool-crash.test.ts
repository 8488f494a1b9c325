// "A 250 means the message is on disk": a process enqueueing a burst is killed with SIGKILL, and every
// message whose enqueue() had resolved (printed by the child) must be in the reopened spool, intact.
//
// SIGKILL proves the order of events — nothing is acknowledged before its rename — and the recovery
// of half-written files; the page cache survives it, so it cannot prove the fsyncs against power loss
// (docs/queue.md: durability argument).
import { spawn } from "node:child_process";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, expect, it } from "vitest";
import { Spool } from "../../relay-node/src/queue/spool.ts";
import { burstMessage } from "../fixtures/spool-burst-message.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const NODE = join(ROOT, "node_modules/.bin/node");
const PLANNED = 1000;
const PARALLEL = 16;
const KILL_AFTER_ACKS = 300;

const dir = await mkdtemp(join(tmpdir(), "edgemx-spool-crash-"));
afterAll(() => rm(dir, { recursive: true, force: true }));

/** Runs the burst, SIGKILLs it after `killAfter` acknowledgements; returns the acknowledged ids. */
function burstUntilKilled(killAfter: number): Promise<{ acked: Map<string, number>; signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(NODE, [join(ROOT, "test/fixtures/spool-burst.ts"), dir, String(PLANNED), String(PARALLEL)], { stdio: ["ignore", "pipe", "inherit"] });
    const acked = new Map<string, number>();
    let partial = "";
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk: string) => {
      const lines = (partial + chunk).split("\n");
      partial = lines.pop()!;
      for (const line of lines) {
        const [id, n] = line.split(" ");
        acked.set(id!, Number(n));
      }
      if (acked.size >= killAfter && child.exitCode === null && !child.killed) child.kill("SIGKILL");
    });
    child.on("error", reject);
    child.on("close", (_code, signal) => resolve({ acked, signal }));
  });
}

it(`loses no acknowledged message when the process is SIGKILLed mid-burst (${PLANNED} planned)`, async () => {
  const { acked, signal } = await burstUntilKilled(KILL_AFTER_ACKS);
  expect(signal).toBe("SIGKILL");

  const spool = await Spool.open(dir);
  const present = new Set(spool.list().map((entry) => entry.id));
  const lost = [...acked.keys()].filter((id) => !present.has(id));
  for (const [id, n] of acked) {
    const stored = await spool.read(id);
    expect(Buffer.from(stored!.message).equals(burstMessage(n)), `message ${n} (${id}) intact`).toBe(true);
    expect(stored!.entry.envelope.rcptTo).toEqual([`rcpt${n}@example.org`]);
  }
  // Written and renamed but killed before the acknowledgement reached us: present, never acknowledged.
  const unacknowledged = present.size - (acked.size - lost.length);
  console.log(
    `spool crash: ${acked.size} acknowledged, ${present.size} present (${unacknowledged} beyond the acknowledgements), ` +
      `${lost.length} lost, ${PLANNED - present.size} never written; recovery ${JSON.stringify(spool.recovery)}`,
  );
  expect(lost).toEqual([]);
  expect(acked.size).toBeGreaterThanOrEqual(KILL_AFTER_ACKS);
  expect(acked.size).toBeLessThan(PLANNED);
  expect(await readdir(join(dir, "queue"))).toHaveLength(present.size);
});
