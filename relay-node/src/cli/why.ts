// `npm run why -- <key> [logfile]`: why was this mail refused, told from the relay's log. The key is a
// tracking id (12345-67, from the reply or the postmaster page), a session id, a queue id, a client
// address or an e-mail address (what a refusal without an id names); the log is the file, or standard
// input without one (`journalctl -u edgemx -o cat | npm run why -- 12345-67`). Prints the story of each
// matching session (log/story.ts), the latest ten; exits 1 when none matches.
import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import { MAX_STORIES, renderStory, StoryCollector } from "../log/story.ts";

const USAGE = `usage: npm run why -- <tracking id | session id | queue id | client address | e-mail address> [logfile]

Reads the relay's JSON log from the file, or from standard input without one, and prints the
story of each session the key names: its refusals, its messages and their delivery.`;

const [key, file, ...extra] = process.argv.slice(2);
if (key === undefined || key === "" || key.startsWith("-") || extra.length > 0 || (file === undefined && process.stdin.isTTY)) {
  console.error(USAGE);
  process.exit(2);
}

const input = file === undefined || file === "-" ? process.stdin : createReadStream(file);
input.once("error", (err: Error) => {
  console.error(`edgemx why: cannot read ${file ?? "standard input"}: ${err.message}`);
  process.exit(2);
});
const collector = new StoryCollector(key);
for await (const line of createInterface({ input, crlfDelay: Infinity })) collector.add(line);

const { stories, dropped } = collector.result();
if (stories.length === 0) {
  console.error(`edgemx why: no line of ${file ?? "standard input"} names ${key}`);
  process.exit(1);
}
if (dropped > 0) console.log(`${dropped} earlier matching session(s) not shown: the latest ${MAX_STORIES} follow. A tracking id or a session id names one.\n`);
console.log(stories.map(renderStory).join("\n\n"));
