// Who may read the postmaster dashboard (/admin and /admin/api/…): a request that Cloudflare Access let
// through, proven by its Cf-Access-Jwt-Assertion (an RS256 JWT signed with the team's keys, for the
// application's audience), or one with the DASHBOARD_TOKEN secret as a bearer token (RFC 6750 §2.1).
// Nothing is shown without one of them: no credentials is 401, wrong ones 403.
import { createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey } from "jose";
import type { WorkerConfig } from "../../../core/config/worker.ts";
import type { Env } from "../runtime/env.ts";
import { secretsEqual } from "../runtime/secrets.ts";

export type Access = { ok: true; who: string } | { ok: false; status: 401 | 403 | 503; reason: string };

export const ACCESS_JWT_HEADER = "cf-access-jwt-assertion";

type AccessSettings = NonNullable<WorkerConfig["reports"]["dashboard"]["access"]>;

/** The team's keys, fetched once per isolate and URL; jose refetches them when a token names an unknown key. */
const keySets = new Map<string, JWTVerifyGetKey>();

function teamKeys(access: AccessSettings): JWTVerifyGetKey {
  const url = access.certsUrl ?? `https://${access.teamDomain}/cdn-cgi/access/certs`;
  let keys = keySets.get(url);
  if (keys === undefined) {
    keys = createRemoteJWKSet(new URL(url));
    keySets.set(url, keys);
  }
  return keys;
}

/** Cloudflare Access: the issuer is the team domain, the audience the application's AUD tag. */
async function verifyAccessJwt(token: string, access: AccessSettings, keys: JWTVerifyGetKey): Promise<Access> {
  try {
    const { payload } = await jwtVerify(token, keys, { algorithms: ["RS256"], issuer: `https://${access.teamDomain}`, audience: access.aud });
    const who = typeof payload["email"] === "string" ? payload["email"] : (payload.sub ?? "an Access identity");
    return { ok: true, who };
  } catch (err) {
    return { ok: false, status: 403, reason: `the Cloudflare Access token is not valid here (${err instanceof Error ? err.message : String(err)})` };
  }
}

export async function authorizeDashboard(
  request: Request,
  config: WorkerConfig,
  env: Env,
  keysFor: (a: AccessSettings) => JWTVerifyGetKey = teamKeys,
): Promise<Access> {
  const access = config.reports.dashboard.access;
  if (!access && !env.DASHBOARD_TOKEN) {
    return { ok: false, status: 503, reason: "the dashboard is not configured: set reports.dashboard.access or the DASHBOARD_TOKEN secret" };
  }
  const jwt = request.headers.get(ACCESS_JWT_HEADER);
  if (jwt !== null && access) return verifyAccessJwt(jwt, access, keysFor(access));
  const authorization = request.headers.get("authorization");
  if (authorization !== null) {
    const match = /^Bearer +([\x21-\x7e]+)$/i.exec(authorization);
    if (env.DASHBOARD_TOKEN && match && (await secretsEqual(match[1]!, env.DASHBOARD_TOKEN))) return { ok: true, who: "the dashboard token" };
    return { ok: false, status: 403, reason: "the bearer token is not the dashboard's" };
  }
  return { ok: false, status: 401, reason: "sign in through Cloudflare Access, or send the dashboard's bearer token" };
}
