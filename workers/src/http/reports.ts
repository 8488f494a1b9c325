// POST /v1/reports: the relay's hand-over of a mail to a report address when it is the MX (the relay's
// reports deliverer). The raw message is the body, the envelope sender the Edgemx-Mail-From header;
// the bearer token is the REPORTS_TOKEN secret. The same intake as Email Routing's (reports/intake.ts).
import type { WorkerConfig } from "../../../core/config/worker.ts";
import type { Env } from "../runtime/env.ts";
import { secretsEqual } from "../runtime/secrets.ts";
import { receiveReportMail } from "../reports/intake.ts";
import { plain, readBounded } from "./respond.ts";

export const MAIL_FROM_HEADER = "edgemx-mail-from";

export async function serveReportIntake(request: Request, config: WorkerConfig, env: Env): Promise<Response> {
  if (!env.REPORTS_TOKEN) return plain(503, "The report intake is not configured: set the REPORTS_TOKEN secret");
  // RFC 6750 §2.1: the scheme name is case-insensitive (RFC 9110 §11.1), the token is not.
  const match = /^Bearer +([\x21-\x7e]+)$/i.exec(request.headers.get("authorization") ?? "");
  if (!match || !(await secretsEqual(match[1]!, env.REPORTS_TOKEN))) {
    return plain(401, "A valid bearer token is required", { "www-authenticate": 'Bearer realm="edgemx reports"' });
  }
  if (!env.REPORTS_DB) return plain(503, "The Worker has no REPORTS_DB binding to keep reports in; try again once it is bound");
  const limit = config.judge.maxMessageBytes;
  const raw = await readBounded(request, limit);
  if (raw === null) return plain(413, `The message is larger than ${limit} bytes`);
  if (raw.length === 0) return plain(400, "The body is empty; send the report mail as it was received (message/rfc822)");
  const result = await receiveReportMail(raw, request.headers.get(MAIL_FROM_HEADER) ?? "", config, env.REPORTS_DB, "relay");
  return new Response(JSON.stringify(result), { status: 200, headers: { "content-type": "application/json", "cache-control": "no-store" } });
}
