// `npm run bench -- <name> [flags]`: runs bench/<name>.ts, or lists the benchmarks.
interface Benchmark {
  summary: string;
  load: () => Promise<{ run: (args: string[]) => Promise<number> }>;
}

const BENCHMARKS = new Map<string, Benchmark>([
  [
    "http",
    {
      summary: "the Worker's endpoints in workerd against a one-line Worker and a static Node http server",
      load: () => import("./http.ts"),
    },
  ],
  [
    "judge",
    {
      summary: "CPU per verdict in workerd (10 KB, 256 KB, 5 MB messages) against mailauth + postal-mime in Node, and peak memory for 25 MB",
      load: () => import("./judge.ts"),
    },
  ],
  [
    "spam",
    {
      summary:
        "rspamd through edgemx on the SpamAssassin public corpus: precision and recall after learning, messages/s through the relay with rspamd on and off",
      load: () => import("./spam.ts"),
    },
  ],
  [
    "mx",
    {
      summary: "inbound SMTP: messages/s and CPU per message of the relay (every check on) against Haraka, Postfix and smtp-sink",
      load: () => import("./mx.ts"),
    },
  ],
  [
    "outbound",
    {
      summary:
        "submission to remote delivery: messages/s and CPU per message of the relay (DKIM+ARC, clamd on/off) against Postfix outbound, and the DKIM+ARC signing cost",
      load: () => import("./outbound.ts"),
    },
  ],
  [
    "scale",
    {
      summary:
        "1, 2 and 3 relays sharing their state in one Redis on this machine: messages/s, CPU per message, and Redis commands and round trips per message",
      load: () => import("./scale.ts"),
    },
  ],
]);

function listBenchmarks(): string {
  const width = Math.max(...[...BENCHMARKS.keys()].map((name) => name.length));
  const lines = [...BENCHMARKS].map(([name, b]) => `  ${name.padEnd(width)}  ${b.summary}`);
  return `usage: npm run bench -- <name> [flags]\n\nbenchmarks:\n${lines.join("\n")}`;
}

async function main([name, ...args]: string[]): Promise<number> {
  if (name === undefined) {
    console.log(listBenchmarks());
    return 0;
  }
  const benchmark = BENCHMARKS.get(name);
  if (benchmark === undefined) {
    console.error(`no benchmark named ${JSON.stringify(name)}\n\n${listBenchmarks()}`);
    return 2;
  }
  const { run } = await benchmark.load();
  return run(args);
}

void main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
