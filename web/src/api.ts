// The console's only way to the server: the generated Connect clients on
// this origin's /api (control.BrowserHandler). The session is a cookie the
// page never sees; Connect's header and binary content type are what the
// server's cross-site check requires.
import { createClient, type Client, ConnectError, Code } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { AccessService } from "./gen/gwanje/v1/access_pb";
import { DeviceService } from "./gen/gwanje/v1/device_pb";
import { HealthService } from "./gen/gwanje/v1/health_pb";
import { StreamService } from "./gen/gwanje/v1/stream_pb";

const transport = createConnectTransport({
  baseUrl: "/api",
  useBinaryFormat: true,
  fetch: (input, init) => globalThis.fetch(input, { ...init, credentials: "same-origin", redirect: "error" }),
});

export const access: Client<typeof AccessService> = createClient(AccessService, transport);
export const device: Client<typeof DeviceService> = createClient(DeviceService, transport);
export const health: Client<typeof HealthService> = createClient(HealthService, transport);
export const stream: Client<typeof StreamService> = createClient(StreamService, transport);

/** isUnauthenticated: the session is over (logged out elsewhere, expired, revoked). */
export function isUnauthenticated(err: unknown): boolean {
  return err instanceof ConnectError && err.code === Code.Unauthenticated;
}

/** message: a line for people, from any error. */
export function message(err: unknown): string {
  if (err instanceof ConnectError) return err.rawMessage || Code[err.code];
  return err instanceof Error ? err.message : String(err);
}
