// The layout's rules (docs/architecture.md), checked by `npm run lint` (depcruise). Each rule's name and
// comment are what a breaking import is told.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "core-imports-neither-half",
      severity: "error",
      comment: "core/ is the logic both runtimes share: it may import core/ and npm packages, never workers/ or relay-node/",
      from: { path: "^core/" },
      to: { path: "^(workers|relay-node|scripts|test|bench)/" },
    },
    {
      name: "core-does-no-io",
      severity: "error",
      comment:
        "core/ runs inside workerd as well as Node: no sockets, files, processes or system DNS (node:buffer, crypto, zlib, url and net's address parsers are what it uses); the I/O belongs to workers/ or relay-node/",
      from: { path: "^core/" },
      to: { path: "^node:(fs|fs/promises|dgram|tls|sqlite|child_process|http|https|http2|os|worker_threads|cluster|dns|dns/promises|readline|process)$" },
    },
    {
      name: "worker-never-imports-relay",
      severity: "error",
      comment: "the Worker is deployed alone: workers/ may import core/ and npm packages, never relay-node/",
      from: { path: "^workers/" },
      to: { path: "^(relay-node|scripts|test|bench)/" },
    },
    {
      name: "relay-never-imports-worker",
      severity: "error",
      comment: "what the relay shares with the Worker lives in core/: relay-node/ never imports workers/",
      from: { path: "^relay-node/" },
      to: { path: "^(workers|scripts|test|bench)/" },
    },
    {
      name: "relay-runs-on-dependencies",
      severity: "error",
      comment:
        "the relay runs from a production install (npm ci --omit=dev, docs/deploy.md): relay-node/ and core/ import only packages of `dependencies`, never of `devDependencies` (types aside)",
      from: { path: "^(relay-node|core)/" },
      to: { dependencyTypes: ["npm-dev"], dependencyTypesNot: ["type-only"] },
    },
    {
      name: "no-folder-cycle",
      severity: "error",
      comment: "folders form layers: no folder may reach back to a folder that imports it (docs/architecture.md draws the layers)",
      scope: "folder",
      from: { path: "^(core|workers|relay-node)/" },
      to: { circular: true },
    },
    {
      name: "no-module-cycle",
      severity: "error",
      comment: "no module may import itself through others",
      from: { path: "^(core|workers|relay-node|scripts)/" },
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    // npm packages stay in the graph as leaves (doNotFollow), so that relay-runs-on-dependencies sees them.
    exclude: { path: "\\.generated\\.json$" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { extensions: [".ts", ".js", ".json", ".d.ts"] },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
