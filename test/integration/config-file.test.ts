// One configuration file, one set of files: the relay started in its own folder and the tools typed in
// another (`npm run user`, `npm run queue`) read the file they are given and the users.sqlite, spool
// and Maildir it names beside itself — relative paths are the file's, not the working folder's. And
// the example configuration is refused unless asked for (`--example`), never fallen back to.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, inject, it } from "vitest";
import { freePort } from "../harness/process.ts";
import { LOCAL, maildirMessages, relayDocument, testMessage } from "../harness/relay.ts";
import { npmRun, REPO_ROOT, startRelayProcess } from "../harness/relay-process.ts";
import { runSwaks, writeSwaksData } from "../harness/swaks.ts";

const harness = inject("harness");
const dir = mkdtempSync(join(tmpdir(), "edgemx-config-file-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const PASSWORD = "correct horse battery";

describe("relative paths, from wherever each program runs", () => {
  it("npm run user typed in one folder and the relay started in another use the same users.sqlite, spool and Maildir", async () => {
    const [etc, typedIn, runsIn, state] = ["etc", "home", "run", "state"].map((name) => join(dir, name)) as [string, string, string, string];
    for (const folder of [etc, typedIn, runsIn]) mkdirSync(folder);
    const [mx, submission] = [await freePort(), await freePort()];
    const document = relayDocument(state, harness.dnsPort, {
      listeners: { mx: { host: "127.0.0.1", port: mx }, submission: { host: "127.0.0.1", port: submission } },
      spool: "../state/spool",
      nextHop: { type: "maildir", path: "../state/Maildir" },
      users: { path: "../state/users.sqlite" },
    });
    writeFileSync(join(etc, "edgemx.yaml"), JSON.stringify(document));

    const added = npmRun("user", ["--config", "../etc/edgemx.yaml", "add", LOCAL.mailbox, "--password-stdin"], typedIn, `${PASSWORD}\n`);
    expect(added, added.stderr).toMatchObject({ status: 0, stdout: `added ${LOCAL.mailbox}\n` });
    expect(existsSync(join(state, "users.sqlite"))).toBe(true);

    const relay = await startRelayProcess({ args: ["--config", join(etc, "edgemx.yaml")], cwd: runsIn });
    try {
      // The relay finds the user the tool added: AUTH over STARTTLS, then the message is queued.
      const data = join(dir, "message.eml");
      writeSwaksData(data, testMessage({ from: LOCAL.mailbox, to: LOCAL.mailbox, subject: "one users.sqlite" }));
      const sent = await runSwaks([
        ...["--server", `127.0.0.1:${submission}`, "--tls", "--auth", "PLAIN", "--auth-user", LOCAL.mailbox, "--auth-password", PASSWORD],
        ...["--from", LOCAL.mailbox, "--to", LOCAL.mailbox, "--data", `@${data}`],
      ]);
      expect(sent.exchanges.find((e) => e.command.startsWith("AUTH"))?.reply, sent.transcript).toMatch(/^235 /);
      expect(sent.status, sent.transcript).toBe(0);
      await relay.waitForLog((line) => line.msg === "delivery attempt" && line.done === true);
      expect(maildirMessages(join(state, "Maildir"), LOCAL.mailbox)).toHaveLength(1);

      // `npm run queue` finds the running relay's control socket beside the same spool.
      const queue = npmRun("queue", ["--config", "../etc/edgemx.yaml", "list"], typedIn);
      expect(queue).toMatchObject({ status: 0, stdout: "the queue is empty\n", stderr: "" });
    } finally {
      expect(await relay.stop()).toBe(0);
    }
    // Nothing landed where the programs ran, nor beside the configuration as a default would have.
    expect(readdirSync(typedIn)).toEqual([]);
    expect(readdirSync(runsIn)).toEqual([]);
    expect(readdirSync(etc)).toEqual(["edgemx.yaml"]);
  }, 90_000);
});

describe("the example configuration, only when asked for", () => {
  const empty = mkdtempSync(join(dir, "empty-"));

  it("is refused by the relay and the tools when nothing names a file, or when the example is named", async () => {
    const none = npmRun("config:check", [], empty);
    expect(none.status).toBe(1);
    expect(none.stderr).toMatch(/^no configuration file: no --config <file>, \$EDGEMX_CONFIG is not set, and there is no \.\/edgemx\.yaml\. /);
    for (const tool of ["user", "queue"]) {
      const named = npmRun(tool, ["--config", join(REPO_ROOT, "config/example.yaml"), "list"], empty);
      expect(named.status, tool).toBe(1);
      expect(named.stderr, tool).toBe(
        `${join(REPO_ROOT, "config/example.yaml")} is the example configuration (example.org is nobody's domain): copy it to edgemx.yaml and make it yours, or pass --example to run on it as it is\n`,
      );
    }
    await expect(startRelayProcess({ args: ["--config", join(REPO_ROOT, "config/example.yaml")], cwd: empty })).rejects.toThrow(
      /edgemx relay: .*config\/example\.yaml is the example configuration/,
    );
  }, 60_000);

  it("is read with --example", () => {
    const checked = npmRun("config:check", ["--example"], empty);
    expect(checked).toMatchObject({ status: 0, stdout: "config/example.yaml: valid — 1 domain(s): example.org\n" });
  }, 30_000);
});
