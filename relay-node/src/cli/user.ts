// `npm run user -- add|passwd|del|list`: the submission users of relay.users.path (users/store.ts).
// The password is read from the terminal without echo (asked twice), or with --password-stdin as the
// first line of standard input, for scripts — never from the command line, where `ps` and the shell
// history would show it. Exit status 1 on a refused change, 2 on bad usage.
import { parseArgs } from "node:util";
import { ConfigError } from "../../../core/config/load.ts";
import { CONFIG_OPTIONS, ConfigChoiceError, configFilePath, loadConfigFile } from "../config/file.ts";
import { UserStore, UserStoreError } from "../users/store.ts";

const USAGE = `usage: npm run user -- add <address> [--alias <address>]... [--password-stdin]
       npm run user -- passwd <address> [--password-stdin]
       npm run user -- del <address>
       npm run user -- list
  each may add --config <file> (or --example)

  Manages the submission users in relay.users.path of the relay's configuration: --config, else
  $EDGEMX_CONFIG, else ./edgemx.yaml; a relative path in it is taken from the file's folder.
  The user name is the full address; aliases are further addresses the user may send as.`;

class UsageError extends Error {}

/** One line of standard input (a pipe): the password as a script hands it over. */
async function passwordFromStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8").split(/\r?\n/)[0] ?? "";
}

/** Reads one line from the terminal in raw mode, echoing nothing. */
function readHidden(prompt: string): Promise<string> {
  const input = process.stdin;
  if (!input.isTTY) throw new UsageError("standard input is not a terminal: use --password-stdin");
  process.stderr.write(prompt);
  input.setRawMode(true);
  input.resume();
  return new Promise((resolve, reject) => {
    let typed = "";
    const onData = (chunk: Buffer): void => {
      for (const char of chunk.toString("utf8")) {
        if (char === "\r" || char === "\n") {
          finish();
          return resolve(typed);
        }
        if (char === "\u0003") {
          finish();
          return reject(new UsageError("interrupted"));
        }
        typed = char === "\u007f" || char === "\b" ? typed.slice(0, -1) : typed + char;
      }
    };
    const finish = (): void => {
      input.off("data", onData);
      input.setRawMode(false);
      input.pause();
      process.stderr.write("\n");
    };
    input.on("data", onData);
  });
}

async function askPassword(fromStdin: boolean): Promise<string> {
  if (fromStdin) return passwordFromStdin();
  const first = await readHidden("Password: ");
  const second = await readHidden("Again: ");
  if (first !== second) throw new UsageError("the two passwords differ");
  return first;
}

async function main(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: { ...CONFIG_OPTIONS, alias: { type: "string", multiple: true }, "password-stdin": { type: "boolean" } },
    });
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n${USAGE}`);
  }
  const { positionals, values } = parsed;
  const [command, address, ...rest] = positionals;
  const needsAddress = command === "add" || command === "passwd" || command === "del";
  if (!(needsAddress || command === "list") || (needsAddress && address === undefined) || rest.length > 0 || (command === "list" && address !== undefined)) {
    throw new UsageError(USAGE);
  }
  const config = loadConfigFile(configFilePath(values));
  const users = config.relay.users;
  if (users.type === "imap") throw new UsageError(`relay.users is the IMAP host ${users.host}: its users are managed there, not with this command`);
  const store = new UserStore(users.path);
  try {
    switch (command) {
      case "add":
        await store.add(address!, await askPassword(values["password-stdin"] === true), values.alias ?? []);
        console.log(`added ${address!.toLowerCase()}`);
        break;
      case "passwd":
        await store.setPassword(address!, await askPassword(values["password-stdin"] === true));
        console.log(`password changed for ${address!.toLowerCase()}`);
        break;
      case "del":
        store.delete(address!);
        console.log(`deleted ${address!.toLowerCase()}`);
        break;
      case "list":
        for (const user of store.list()) console.log(user.aliases.length > 0 ? `${user.address}  (aliases: ${user.aliases.join(", ")})` : user.address);
        break;
    }
  } finally {
    store.close();
  }
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (!(err instanceof UsageError) && !(err instanceof UserStoreError) && !(err instanceof ConfigError) && !(err instanceof ConfigChoiceError)) throw err;
    console.error(err.message);
    process.exitCode = err instanceof UsageError ? 2 : 1;
  },
);
