// The gRPC-Web client: one transport to configd (same origin unless ?api= says otherwise),
// the bearer token on every call, and configd's rich errors decoded for display.

import { Code, ConnectError, createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { ConfigService } from "./gen/configd/v1/config_pb";
import { ReleaseService } from "./gen/configd/v1/release_pb";
import { BadRequestSchema, ErrorInfoSchema, PreconditionFailureSchema } from "./gen/google/rpc/error_details_pb";

const TOKEN_KEY = "configd.token";

export type ConfigClient = Client<typeof ConfigService>;
export type ReleaseApi = Client<typeof ReleaseService>;

/** Where configd's gRPC-Web endpoint is: the page's origin, or `?api=<origin>`. */
export function apiBaseUrl(location: Location = window.location): string {
  const param = new URLSearchParams(location.search).get("api");
  return (param ?? location.origin).replace(/\/+$/, "");
}

export function getToken(): string {
  return sessionStorage.getItem(TOKEN_KEY) ?? "";
}

export function setToken(token: string): void {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

const auth: Interceptor = (next) => async (req) => {
  const token = getToken();
  if (token) req.header.set("authorization", `Bearer ${token}`);
  return next(req);
};

// The endpoint makeClient was given, named in the messages for network failures.
let apiBase = "";

function transportFor(baseUrl: string): ReturnType<typeof createGrpcWebTransport> {
  apiBase = baseUrl;
  return createGrpcWebTransport({ baseUrl, useBinaryFormat: true, interceptors: [auth] });
}

export function makeClient(baseUrl: string): ConfigClient {
  return createClient(ConfigService, transportFor(baseUrl));
}

/** configd.v1.ReleaseService at the same endpoint, with the same token. */
export function makeReleaseClient(baseUrl: string): ReleaseApi {
  return createClient(ReleaseService, transportFor(baseUrl));
}

/** A field violation from google.rpc.BadRequest: JSON pointer, schema keyword, message. */
export interface Violation {
  path: string;
  keyword: string;
  message: string;
}

/** What the console shows for a failed call. */
export interface ApiError {
  code: Code;
  codeName: string;
  reason: string;
  message: string;
  violations: Violation[];
}

export function toApiError(err: unknown): ApiError {
  const ce = ConnectError.from(err);
  const info = ce.findDetails(ErrorInfoSchema)[0];
  const violations: Violation[] = [];
  for (const bad of ce.findDetails(BadRequestSchema)) {
    for (const v of bad.fieldViolations) {
      violations.push({ path: v.field, keyword: v.reason, message: v.description });
    }
  }
  let message = ce.rawMessage || Code[ce.code];
  for (const pf of ce.findDetails(PreconditionFailureSchema)) {
    for (const v of pf.violations) message += `\n${v.subject}: ${v.description}`;
  }
  if (ce.code === Code.Unauthenticated || ce.code === Code.PermissionDenied) {
    message += getToken() ? " (check the token above)" : " (enter a token above)";
  }
  return { code: ce.code, codeName: codeName(ce.code), reason: info?.reason ?? "", message, violations };
}

/** The call got no HTTP answer the page may read: fetch itself failed (TypeError). */
export function isNetworkFailure(err: unknown): boolean {
  const ce = ConnectError.from(err);
  return ce.code === Code.Unknown && ce.cause instanceof TypeError;
}

/** Marks an ApiError built by describeError for a network failure (cleared on reconnect). */
export const NETWORK_REASON = "network";

/**
 * Like toApiError, but a network failure ("Failed to fetch") becomes an explanation a user can
 * act on. The browser hides why a call failed, so one probe tells the cases apart: a no-cors
 * GET succeeds whenever something answers at the address, CORS or not.
 */
export async function describeError(err: unknown): Promise<ApiError> {
  if (!isNetworkFailure(err)) return toApiError(err);
  const base = apiBase || window.location.origin;
  const page = window.location.origin;
  const answers = await answersAt(base);
  let message: string;
  let label = "NOT CONNECTED";
  if (!answers) {
    message = `cannot reach configd at ${base}: is the server running, and is this its HTTP address?`;
  } else if (new URL(base).origin !== page) {
    label = "BLOCKED";
    message =
      `configd at ${base} answers, but the browser blocked this page's call to it. ` +
      `The usual cause is that the server does not allow this page's origin: ` +
      `start it with \`--cors-origin ${page}\``;
  } else {
    message = `the connection to configd at ${base} failed (the server answers again now)`;
  }
  return { code: Code.Unavailable, codeName: label, reason: NETWORK_REASON, message, violations: [] };
}

async function answersAt(base: string): Promise<boolean> {
  try {
    await fetch(`${base}/healthz`, { mode: "no-cors", cache: "no-store", signal: AbortSignal.timeout(5_000) });
    return true;
  } catch {
    return false;
  }
}

export function codeName(code: Code): string {
  return Code[code]
    .replace(/([a-z])([A-Z])/g, "$1_$2")
    .toUpperCase();
}

export { Code };
