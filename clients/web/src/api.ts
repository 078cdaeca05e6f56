// The gRPC-Web client: one transport to configd (same origin unless ?api= says otherwise),
// the bearer token on every call, and configd's rich errors decoded for display.

import { Code, ConnectError, createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { ConfigService } from "./gen/configd/v1/config_pb";
import { BadRequestSchema, ErrorInfoSchema, PreconditionFailureSchema } from "./gen/google/rpc/error_details_pb";

const TOKEN_KEY = "configd.token";

export type ConfigClient = Client<typeof ConfigService>;

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

export function makeClient(baseUrl: string): ConfigClient {
  const transport = createGrpcWebTransport({ baseUrl, useBinaryFormat: true, interceptors: [auth] });
  return createClient(ConfigService, transport);
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

export function codeName(code: Code): string {
  return Code[code]
    .replace(/([a-z])([A-Z])/g, "$1_$2")
    .toUpperCase();
}

export { Code };
