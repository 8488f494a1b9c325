// The relay's hand-over of report mail: when the relay is the MX, mail to our report addresses (the
// mailto: of our DMARC rua/ruf and TLS-RPT rua, core/reports/addresses.ts) goes to the Worker's intake
// (POST reports.intakeUrl, the bearer token in EDGEMX_REPORTS_TOKEN) instead of the mailbox host, so
// reports that come through the relay and those Email Routing takes end in one store (docs/reports.md).
import type { Deliverer, RecipientResult } from "../queue/deliverer.ts";

export const REPORTS_TOKEN_ENV = "EDGEMX_REPORTS_TOKEN";
const TIMEOUT_MS = 60_000;

export interface ReportIntakeSettings {
  url: string;
  token: string;
  timeoutMs?: number;
}

/** RFC 5321 §4.2.1: the intake's answer as the outcome of each recipient. */
function outcome(status: number, text: string): Pick<RecipientResult, "status" | "reply"> {
  const said = text.trim().split("\n")[0]!.slice(0, 200);
  if (status === 200) return { status: "delivered", reply: `250 2.0.0 Kept by the report intake: ${said}` };
  // RFC 3463 §3.4: 5.3.4 message too big; a body the intake cannot take at all is permanent too.
  if (status === 413) return { status: "failed", reply: `552 5.3.4 The report intake refused the size: ${said}` };
  if (status === 400) return { status: "failed", reply: `554 5.6.0 The report intake refused the message: ${said}` };
  // A wrong token, a missing database, an outage: the operator's to fix, the mail waits in the spool.
  return { status: "deferred", reply: `451 4.3.0 The report intake answered ${status}: ${said}` };
}

export function reportIntakeDeliverer(settings: ReportIntakeSettings): Deliverer {
  const where = new URL(settings.url).host;
  return async (message) => {
    let result: Pick<RecipientResult, "status" | "reply">;
    try {
      const response = await fetch(settings.url, {
        method: "POST",
        body: message.message,
        headers: { authorization: `Bearer ${settings.token}`, "content-type": "message/rfc822", "edgemx-mail-from": message.envelope.mailFrom },
        signal: AbortSignal.timeout(settings.timeoutMs ?? TIMEOUT_MS),
      });
      result = outcome(response.status, await response.text());
    } catch (err) {
      result = { status: "deferred", reply: `451 4.4.1 The report intake at ${where} cannot be reached: ${err instanceof Error ? err.message : String(err)}` };
    }
    return message.envelope.rcptTo.map((rcpt) => ({ rcpt, ...result, remoteMta: where }));
  };
}

/**
 * Recipients that are report addresses go to `intake`, the others to `next`; the results are joined.
 * `reportAddresses` is asked per message: a reload may change them.
 */
export function routeReports(reportAddresses: () => ReadonlySet<string>, intake: Deliverer, next: Deliverer): Deliverer {
  return async (message) => {
    const addresses = reportAddresses();
    const reports = message.envelope.rcptTo.filter((rcpt) => addresses.has(rcpt.toLowerCase()));
    const others = message.envelope.rcptTo.filter((rcpt) => !addresses.has(rcpt.toLowerCase()));
    const send = (deliverer: Deliverer, rcptTo: string[]): Promise<RecipientResult[]> =>
      rcptTo.length === 0 ? Promise.resolve([]) : deliverer({ ...message, envelope: { ...message.envelope, rcptTo } });
    const [toIntake, toNext] = await Promise.all([send(intake, reports), send(next, others)]);
    return [...toIntake, ...toNext];
  };
}
