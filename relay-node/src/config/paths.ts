// The configuration's relative paths, taken from the configuration file's folder: the relay started by
// systemd in its state folder and `npm run user` typed in the checkout then open the same users.sqlite,
// spool and Maildir. Every field of the schema whose kind is "path" is here (test/unit/config-paths.test.ts
// fails when one is added to the schema and not here).
import { resolve } from "node:path";
import type { EdgemxConfig } from "../../../core/config/schema.ts";

/** `config` with each relative path made absolute against `folder`; absolute paths stay as they are. */
export function resolveConfigPaths(config: EdgemxConfig, folder: string): EdgemxConfig {
  const at = (path: string): string => resolve(folder, path);
  /** An optional path field: resolved when set, left out when not (no key holding undefined). */
  const optional = <K extends string>(key: K, path: string | undefined): Partial<Record<K, string>> =>
    (path === undefined ? {} : { [key]: at(path) }) as Partial<Record<K, string>>;
  const { relay } = config;
  const { users, nextHop, tls, acme, outbound } = relay;
  const { store } = relay;
  return {
    ...config,
    domains: config.domains.map((domain) => {
      const { dkim } = domain;
      if (dkim === undefined) return domain;
      const ed25519 = dkim.ed25519 === undefined ? {} : { ed25519: { ...dkim.ed25519, ...optional("privateKeyFile", dkim.ed25519.privateKeyFile) } };
      return { ...domain, dkim: { ...dkim, ...optional("privateKeyFile", dkim.privateKeyFile), ...ed25519 } };
    }),
    relay: {
      ...relay,
      ...(tls === undefined ? {} : { tls: { cert: at(tls.cert), key: at(tls.key) } }),
      ...(acme === undefined ? {} : { acme: { ...acme, ...optional("dir", acme.dir), ...optional("caFile", acme.caFile) } }),
      nextHop: nextHop.type === "maildir" ? { ...nextHop, path: at(nextHop.path) } : nextHop,
      spool: at(relay.spool),
      store: store.type === "sqlite" ? { ...store, path: at(store.path) } : store,
      users: users.type === "imap" ? { ...users, ...optional("caFile", users.caFile) } : { ...users, path: at(users.path) },
      outbound: { ...outbound, ...optional("tlsRptPath", outbound.tlsRptPath), ...optional("mtaStsCachePath", outbound.mtaStsCachePath) },
      ...optional("arcSealKeyFile", relay.arcSealKeyFile),
      dmarcReports: { ...relay.dmarcReports, ...optional("path", relay.dmarcReports.path) },
      ...(relay.scanListener === undefined ? {} : { scanListener: { ...relay.scanListener, ...optional("clientCaFile", relay.scanListener.clientCaFile) } }),
    },
  };
}
