import { createHash, generateKeyPairSync } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../core/config/load.ts";
import type { ConfigInput } from "../../core/config/schema.ts";
import { domainRecords, toZoneText, txtValue, type ZoneRecord } from "../../core/records/records.ts";
import { loadConfigFile } from "../../relay-node/src/config/file.ts";
import { recordFactsFromConfig, spkiSha256Hex } from "../../relay-node/src/tls/tlsa.ts";
import { makeSelfSignedCertificate } from "../harness/certificate.ts";

const example = loadConfigFile("config/example.yaml");
const exampleDomain = example.domains[0]!;
const EXAMPLE_KEY = exampleDomain.dkim!.publicKey;

/** RFC 8461 §3.1 id as edgemx derives it, computed here with node:crypto from the policy text. */
function policyId(policy: string): string {
  return createHash("sha256").update(policy).digest("hex").slice(0, 32);
}

/** The character-strings of a TXT value, unquoted (none of these values contain escapes). */
function strings(value: string): string[] {
  return [...value.matchAll(/"([^"]*)"/g)].map((m) => m[1]!);
}

function configWith(domain: Partial<ConfigInput["domains"][number]>, rest: Partial<ConfigInput> = {}) {
  return parseConfig({ hostname: "mx.example.org", domains: [{ name: "example.org", mx: ["mx.example.org"], catchAll: true, ...domain }], ...rest });
}

async function recordsOf(config: ReturnType<typeof parseConfig>, facts = {}): Promise<ZoneRecord[]> {
  return domainRecords(config.domains[0]!, config, facts);
}

const byName = (records: ZoneRecord[], name: string, type?: string) => records.filter((r) => r.name === name && (!type || r.type === type));

describe("the DNS records of the example configuration", () => {
  it("are exactly these, in this order", async () => {
    const dkimText = `v=DKIM1; k=rsa; p=${EXAMPLE_KEY}`;
    const id = policyId("version: STSv1\r\nmode: testing\r\nmx: mx.example.org\r\nmax_age: 86401\r\n");
    const records = await domainRecords(exampleDomain, example, {});
    expect(records.map(({ name, type, value, ttl, createdByCloudflare }) => ({ name, type, value, ttl, createdByCloudflare }))).toEqual([
      { name: "example.org.", type: "MX", value: "10 mx.example.org." },
      { name: "example.org.", type: "TXT", value: '"v=spf1 mx a:mx.example.org -all"' },
      { name: "mx.example.org.", type: "TXT", value: '"v=spf1 a -all"' },
      { name: "1546251274._domainkey.example.org.", type: "TXT", value: `"${dkimText.slice(0, 255)}" "${dkimText.slice(255)}"` },
      {
        name: "_dmarc.example.org.",
        type: "TXT",
        value: '"v=DMARC1; p=reject; adkim=s; aspf=s; rua=mailto:dmarc-reports@example.org; ruf=mailto:dmarc-reports@example.org; rf=afrf; pct=100"',
      },
      { name: "_mta-sts.example.org.", type: "TXT", value: `"v=STSv1; id=${id}"` },
      { name: "_smtp._tls.example.org.", type: "TXT", value: '"v=TLSRPTv1; rua=mailto:tls-reports@example.org"' },
      { name: "_submissions._tcp.example.org.", type: "SRV", value: "0 1 465 mx.example.org." },
      { name: "_submission._tcp.example.org.", type: "SRV", value: "10 1 587 mx.example.org." },
      { name: "_imaps._tcp.example.org.", type: "SRV", value: "0 1 993 mx.example.org." },
      { name: "_imap._tcp.example.org.", type: "SRV", value: "10 1 143 mx.example.org." },
      { name: "_sieve._tcp.example.org.", type: "SRV", value: "0 1 4190 mx.example.org." },
      { name: "_autodiscover._tcp.example.org.", type: "SRV", value: "0 1 443 autodiscover.example.org." },
      { name: "autoconfig.example.org.", type: "CNAME", value: "example.org.", createdByCloudflare: true },
      { name: "autodiscover.example.org.", type: "CNAME", value: "example.org.", createdByCloudflare: true },
      { name: "mta-sts.example.org.", type: "CNAME", value: "example.org.", createdByCloudflare: true },
    ]);
  });

  it("gives every record a comment and absolute names", async () => {
    for (const r of await domainRecords(exampleDomain, example, {})) {
      expect(r.comment, r.name).toMatch(/\S/);
      expect(r.comment, r.name).not.toMatch(/\n/);
      expect(r.name, r.name).toMatch(/\.$/);
    }
  });

  it("renders zone text with the default TTL, one commented record per block", async () => {
    const text = toZoneText(await domainRecords(exampleDomain, example, {}), "DNS records for example.org");
    expect(text.startsWith("; DNS records for example.org\n\n; MX (RFC 5321 §5.1): the host that receives mail for example.org\n")).toBe(true);
    expect(text).toContain("\nexample.org.\t3600\tIN\tMX\t10 mx.example.org.\n");
    expect(text).toContain('\n_smtp._tls.example.org.\t3600\tIN\tTXT\t"v=TLSRPTv1; rua=mailto:tls-reports@example.org"\n');
    expect(text).toContain("\n; autoconfig.example.org.\t3600\tIN\tCNAME\texample.org.\n");
    expect(text.endsWith("; mta-sts.example.org.\t3600\tIN\tCNAME\texample.org.\n")).toBe(true);
  });
});

describe("toZoneText", () => {
  it("writes an explicit TTL, a record without comment, and a multi-line heading", () => {
    const text = toZoneText(
      [
        { name: "a.example.org.", type: "A", value: "192.0.2.1", ttl: 300 },
        { name: "b.example.org.", type: "CNAME", value: "a.example.org.", comment: "made by Cloudflare", createdByCloudflare: true },
      ],
      "line one\n\nline three",
    );
    expect(text).toBe(
      "; line one\n;\n; line three\n\na.example.org.\t300\tIN\tA\t192.0.2.1\n\n; made by Cloudflare\n; b.example.org.\t3600\tIN\tCNAME\ta.example.org.\n",
    );
  });
});

describe("TXT character-strings (RFC 1035 §3.3.14)", () => {
  it("keeps a short text in one string and escapes quote, backslash and non-ASCII octets", () => {
    expect(txtValue("v=spf1 -all")).toBe('"v=spf1 -all"');
    expect(txtValue('a"b\\c')).toBe('"a\\"b\\\\c"');
    expect(txtValue("ä")).toBe('"\\195\\164"');
  });

  it("splits a 4096-bit DKIM key into strings of at most 255 octets that join to the record", async () => {
    const { publicKey } = generateKeyPairSync("rsa", { modulusLength: 4096 });
    const key = publicKey.export({ type: "spki", format: "der" }).toString("base64");
    const config = configWith({ dkim: { selector: "s2026", algorithm: "rsa", publicKey: key } });
    const [dkim] = byName(await recordsOf(config), "s2026._domainkey.example.org.", "TXT");
    const parts = strings(dkim!.value);
    expect(parts.length).toBe(3);
    expect(parts.map((p) => p.length)).toEqual([255, 255, `v=DKIM1; k=rsa; p=${key}`.length - 510]);
    expect(parts.join("")).toBe(`v=DKIM1; k=rsa; p=${key}`);
  });

  it("writes an Ed25519 key with k=ed25519 (RFC 8463 §4.2) in one string", async () => {
    const raw = Buffer.alloc(32, 7).toString("base64");
    const config = configWith({ dkim: { selector: "ed", algorithm: "ed25519", publicKey: raw } });
    expect(byName(await recordsOf(config), "ed._domainkey.example.org.")[0]?.value).toBe(`"v=DKIM1; k=ed25519; p=${raw}"`);
  });

  it("adds the key record of the optional second, Ed25519 signature under its own selector", async () => {
    const raw = Buffer.alloc(32, 9).toString("base64");
    const config = configWith({ dkim: { selector: "s2026", algorithm: "rsa", publicKey: EXAMPLE_KEY, ed25519: { selector: "s2026e", publicKey: raw } } });
    const records = await recordsOf(config);
    expect(byName(records, "s2026._domainkey.example.org.", "TXT")).toHaveLength(1);
    expect(byName(records, "s2026e._domainkey.example.org.", "TXT").map((r) => r.value)).toEqual([`"v=DKIM1; k=ed25519; p=${raw}"`]);
  });
});

describe("optional parts of a domain", () => {
  it("leaves out DKIM, TLS-RPT, TLSA and empty DMARC report addresses when not configured", async () => {
    const records = await recordsOf(configWith({}));
    expect(records.map((r) => r.name)).not.toContain("_smtp._tls.example.org.");
    expect(records.some((r) => r.name.endsWith("._domainkey.example.org."))).toBe(false);
    expect(records.some((r) => r.type === "TLSA")).toBe(false);
    expect(byName(records, "_dmarc.example.org.")[0]?.value).toBe('"v=DMARC1; p=reject; adkim=s; aspf=s; rf=afrf; pct=100"');
    expect(byName(records, "example.org.", "TXT")[0]?.value).toBe('"v=spf1 mx -all"');
  });

  it("writes sp= after p= and joins several report URIs with commas (RFC 7489 §6.4, RFC 8460 §3)", async () => {
    const config = configWith({
      dmarc: { p: "quarantine", sp: "reject", adkim: "r", rua: ["mailto:a@example.net", "https://r.example.net/dmarc"], pct: 50 },
      tlsRpt: { rua: ["mailto:tls@example.net", "https://r.example.net/tls"] },
    });
    const records = await recordsOf(config);
    expect(byName(records, "_dmarc.example.org.")[0]?.value).toBe(
      '"v=DMARC1; p=quarantine; sp=reject; adkim=r; aspf=s; rua=mailto:a@example.net,https://r.example.net/dmarc; rf=afrf; pct=50"',
    );
    expect(byName(records, "_smtp._tls.example.org.")[0]?.value).toBe('"v=TLSRPTv1; rua=mailto:tls@example.net,https://r.example.net/tls"');
  });

  it('answers a port set to null with the target "." (RFC 6186 §4) and uses each service\'s host', async () => {
    const config = configWith({
      mx: ["mx1.example.org", "mx2.example.org"],
      imap: { host: "imap.example.net", starttlsPort: null },
      smtp: { sslPort: null },
      sieve: { port: null },
    });
    const srv = Object.fromEntries((await recordsOf(config)).filter((r) => r.type === "SRV").map((r) => [r.name, r.value]));
    expect(srv).toEqual({
      "_submissions._tcp.example.org.": "0 0 0 .",
      "_submission._tcp.example.org.": "10 1 587 mx1.example.org.",
      "_imaps._tcp.example.org.": "0 1 993 imap.example.net.",
      "_imap._tcp.example.org.": "0 0 0 .",
      "_sieve._tcp.example.org.": "0 0 0 .",
      "_autodiscover._tcp.example.org.": "0 1 443 autodiscover.example.org.",
    });
  });

  it("numbers MX preferences 10, 20, … in the configured order", async () => {
    const records = await recordsOf(configWith({ mx: ["mx1.example.org", "mx2.example.net", "mx3.example.org"] }));
    expect(byName(records, "example.org.", "MX").map((r) => r.value)).toEqual(["10 mx1.example.org.", "20 mx2.example.net.", "30 mx3.example.org."]);
  });

  it("publishes the HELO name's SPF only in the domain that holds the host name", async () => {
    const inside = await recordsOf(configWith({}, { hostname: "relay.mail.example.org" }));
    expect(byName(inside, "relay.mail.example.org.", "TXT")[0]?.value).toBe('"v=spf1 a -all"');
    const outside = await recordsOf(configWith({}, { hostname: "relay.example.net" }));
    expect(outside.some((r) => r.name === "relay.example.net.")).toBe(false);
  });

  it("never publishes a second SPF record at a mail domain's own name (RFC 7208 §4.5)", async () => {
    const apex = await recordsOf(configWith({}, { hostname: "example.org" }));
    expect(byName(apex, "example.org.", "TXT").map((r) => r.value)).toEqual(['"v=spf1 mx -all"']);
    const config = parseConfig({
      hostname: "mail.example.org",
      domains: [
        { name: "example.org", mx: ["mail.example.org"], catchAll: true },
        { name: "mail.example.org", mx: ["mail.example.org"], catchAll: true },
      ],
    });
    const records = (await Promise.all(config.domains.map((d) => domainRecords(d, config, {})))).flat();
    expect(byName(records, "mail.example.org.", "TXT").map((r) => r.value)).toEqual(['"v=spf1 mx -all"']);
  });
});

describe("TLSA for DANE (RFC 7672 §3.1.1)", () => {
  const dir = mkdtempSync(join(tmpdir(), "edgemx-tlsa-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const cert = makeSelfSignedCertificate(dir);

  it("hashes the certificate's SubjectPublicKeyInfo as openssl does, also from the first PEM of a chain", () => {
    expect(spkiSha256Hex(readFileSync(cert.certPath))).toBe(cert.spkiSha256);
    const other = makeSelfSignedCertificate(mkdtempSync(join(dir, "other-")), "other.example.org");
    const chain = join(dir, "chain.pem");
    writeFileSync(chain, readFileSync(cert.certPath, "utf8") + readFileSync(other.certPath, "utf8"));
    expect(spkiSha256Hex(readFileSync(chain, "utf8"))).toBe(cert.spkiSha256);
  });

  it("publishes 3 1 1 <digest> at _25._tcp of each MX host that is the relay's own name", async () => {
    const config = configWith({ mx: ["mx.example.org", "backup.example.net"] }, { relay: { tls: { cert: cert.certPath, key: cert.keyPath } } });
    const { facts, warning } = recordFactsFromConfig(config);
    expect(warning).toBeUndefined();
    expect(facts).toEqual({ tlsaSpkiSha256: cert.spkiSha256 });
    const tlsa = (await recordsOf(config, facts)).filter((r) => r.type === "TLSA");
    expect(tlsa.map(({ name, value }) => ({ name, value }))).toEqual([{ name: "_25._tcp.mx.example.org.", value: `3 1 1 ${cert.spkiSha256}` }]);
  });

  it("explains in one line why there is no digest", () => {
    expect(recordFactsFromConfig(configWith({}))).toEqual({ facts: {}, warning: "no TLSA record: relay.tls.cert is not configured" });
    const missing = configWith({}, { relay: { tls: { cert: join(dir, "absent.pem"), key: cert.keyPath } } });
    expect(recordFactsFromConfig(missing).warning).toBe(`no TLSA record: cannot read relay.tls.cert ${join(dir, "absent.pem")} (ENOENT)`);
    const notACert = configWith({}, { relay: { tls: { cert: cert.keyPath, key: cert.keyPath } } });
    expect(recordFactsFromConfig(notACert)).toEqual({ facts: {}, warning: `no TLSA record: relay.tls.cert ${cert.keyPath} holds no PEM certificate` });
  });
});
