// The report intake: a mail to one of our report addresses (core/reports/addresses.ts) is read as
// reports (core/reports/intake.ts) and kept in D1 instead of being forwarded. Both inbound paths end
// here: Cloudflare Email Routing's email() (email/reports.ts) and the relay's hand-over when it is the
// MX (POST /v1/reports, http/reports.ts), so there is one store whichever way a report came.
import type { WorkerConfig } from "../../../core/config/worker.ts";
import { isOurDomain } from "../../../core/reports/addresses.ts";
import { readReportMessage, type ReportItem } from "../../../core/reports/intake.ts";
import { storeReportMail, type ReceivedVia, type StoreOutcome } from "./store.ts";

export interface IntakeResult extends StoreOutcome {
  /** What each item was, for the log and the intake's answer: its kind and report id, or the reason it was refused. */
  items: { kind: ReportItem["kind"]; id: string | null; reason?: string }[];
}

/** Reports about domains that are not ours are refused: our rua is not theirs to fill (RFC 7489 §7.1). */
function withinOurDomains(item: ReportItem, config: WorkerConfig): ReportItem {
  const foreign = (domains: readonly string[]) => domains.filter((d) => !isOurDomain(d, config));
  const refuse = (as: "dmarc-aggregate" | "dmarc-failure" | "tlsrpt", name: string | null, domains: string[]): ReportItem => ({
    kind: "refused",
    as,
    name,
    reason: `about ${[...new Set(domains)].join(", ")}, not a domain configured here`,
  });
  switch (item.kind) {
    case "dmarc-aggregate": {
      const domains = foreign([item.report.policy.domain]);
      return domains.length > 0 ? refuse("dmarc-aggregate", item.name, domains) : item;
    }
    case "tlsrpt": {
      const domains = foreign(item.report.policies.map((p) => p.policy["policy-domain"]));
      return domains.length > 0 ? refuse("tlsrpt", item.name, domains) : item;
    }
    case "dmarc-failure": {
      const reported = item.report.reportedDomains;
      return reported.length > 0 && foreign(reported).length === reported.length ? refuse("dmarc-failure", null, reported) : item;
    }
    case "refused":
      return item;
  }
}

function idOf(item: ReportItem): string | null {
  if (item.kind === "dmarc-aggregate") return item.report.reportId;
  if (item.kind === "tlsrpt") return item.report["report-id"];
  if (item.kind === "dmarc-failure") return item.report.sourceIp;
  return item.name;
}

/** Reads a report mail and keeps what it holds; throws only when D1 fails (the caller answers "try again"). */
export async function receiveReportMail(
  raw: Uint8Array,
  envelopeFrom: string,
  config: WorkerConfig,
  db: D1Database,
  via: ReceivedVia,
  now: Date = new Date(),
): Promise<IntakeResult> {
  const message = await readReportMessage(raw);
  const items = message.items.map((item) => withinOurDomains(item, config));
  const outcome = await storeReportMail(db, { message, raw, envelopeFrom, receivedAt: now.toISOString(), via }, items);
  const result: IntakeResult = {
    ...outcome,
    items: items.map((item) => ({ kind: item.kind, id: idOf(item), ...(item.kind === "refused" ? { reason: item.reason } : {}) })),
  };
  console.log(JSON.stringify({ msg: "report mail", via, from: message.from ?? envelopeFrom, subject: message.subject, ...result }));
  return result;
}
