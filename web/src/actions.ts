// Everything the console does on the server, through the generated
// clients, and what it does to the store.
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { access, device, health, isUnauthenticated, message, stream } from "./api";
import { Transport } from "./gen/gwanje/v1/stream_pb";
import { AlarmState, CameraState, type Alarm } from "./gen/gwanje/v1/events_pb";
import type { Camera, Site } from "./gen/gwanje/v1/device_pb";
import { Purpose } from "./gen/gwanje/v1/common_pb";
import { get, reset, set, type Layout, type Tile } from "./store";
import { labels } from "./i18n";

let watchAbort: AbortController | null = null;
let tileKeys = 0;

/** boot asks who the cookie belongs to: the console or the login screen. */
export async function boot(): Promise<void> {
  try {
    await enter();
  } catch {
    set({ phase: "login" });
  }
}

async function enter(): Promise<void> {
  const who = await access.whoAmI({});
  const p = who.principal;
  set({
    phase: "ready", loginError: "", busy: false,
    me: {
      username: p?.username ?? "", displayName: who.user?.displayName || p?.username || "",
      roles: p?.roles ?? [], permissions: who.permissions,
    },
  });
  void loadCameras();
  void loadAlarms();
  startWatch();
}

export async function login(username: string, password: string, totpCode: string): Promise<void> {
  set({ busy: true, loginError: "" });
  try {
    await access.login({ username, password, totpCode });
  } catch (err) {
    set({ busy: false, loginError: isUnauthenticated(err) ? labels.loginFailed.join(" · ") : message(err) });
    return;
  }
  const restore = get().phase === "locked" ? get().tiles : null;
  try {
    await enter();
  } catch (err) {
    set({ busy: false, phase: "login", loginError: message(err) });
    return;
  }
  if (restore) {
    // The wall as it was before the lock, each view a new audited session.
    restore.forEach((t, i) => {
      if (t) void openOnTile(i, t.cameraId);
    });
  }
}

/** endLocal forgets the session's screens; the server has ended its views. */
function endLocal(phase: "login" | "locked", keep: { lockedUser?: string; tiles?: (Tile | null)[]; purpose?: ReturnType<typeof get>["purpose"]; layout?: Layout; notice?: string }): void {
  watchAbort?.abort();
  watchAbort = null;
  reset({ phase, ...keep });
}

/** logout ends the session: the server ends its live views and clears the cookie. */
export async function logout(): Promise<void> {
  try {
    await access.logout({});
  } catch {
    // Already over: the screen still goes.
  }
  endLocal("login", {});
}

/** lock logs out after the idle time and keeps what the wall showed, to reopen after the password. */
export async function lock(): Promise<void> {
  const s = get();
  if (s.phase !== "ready") return;
  const tiles = s.tiles.map((t) => (t ? { ...t, state: "starting" as const, url: "", sessionId: "" } : null));
  try {
    await access.logout({});
  } catch {
    // Over already.
  }
  endLocal("locked", { lockedUser: s.me?.username ?? "", tiles, purpose: s.purpose, layout: s.layout });
}

function sessionLost(err: unknown): boolean {
  if (!isUnauthenticated(err)) return false;
  endLocal("login", { notice: labels.sessionEnded.join(" · ") });
  return true;
}

export async function loadCameras(): Promise<void> {
  try {
    const cameras: Camera[] = [];
    let pageToken = "";
    do {
      const r = await device.listCameras({ pageSize: 1000, pageToken });
      cameras.push(...r.cameras);
      pageToken = r.nextPageToken;
    } while (pageToken);
    const sites: Record<string, Site> = {};
    try {
      for (const s of (await device.listSites({})).sites) sites[s.id] = s;
    } catch {
      // Sites name the groups; without them the ids do.
    }
    cameras.sort((a, b) => (a.fields?.name ?? "").localeCompare(b.fields?.name ?? "", "ko"));
    set({ cameras, sites });
  } catch (err) {
    if (!sessionLost(err)) set({ notice: message(err) });
  }
}

export async function loadAlarms(): Promise<void> {
  try {
    const r = await health.listAlarms({ openOnly: true });
    set({ alarms: sortAlarms(r.alarms.filter(isOpen)) });
  } catch (err) {
    if (!sessionLost(err)) set({ notice: message(err) });
  }
}

function isOpen(a: Alarm): boolean {
  return a.state === AlarmState.RAISED;
}

function sortAlarms(as: Alarm[]): Alarm[] {
  const t = (a: Alarm) => (a.raisedAt ? timestampDate(a.raisedAt).getTime() : 0);
  return [...as].sort((a, b) => t(b) - t(a));
}

const stateCodes: Record<number, string> = {
  [CameraState.ONLINE]: "online", [CameraState.DEGRADED]: "degraded", [CameraState.OFFLINE]: "offline",
  [CameraState.UNAUTHORIZED]: "unauthorized", [CameraState.STREAM_FAILED]: "stream_failed",
  [CameraState.STALLED]: "stalled", [CameraState.MAINTENANCE]: "maintenance",
};

/** startWatch follows WatchEvents (state badges, alarms), resuming after a break. */
function startWatch(): void {
  watchAbort?.abort();
  const ctl = new AbortController();
  watchAbort = ctl;
  let resumeFrom = 0n;
  void (async () => {
    let backoff = 500;
    while (!ctl.signal.aborted) {
      try {
        for await (const m of health.watchEvents({ resumeFrom }, { signal: ctl.signal })) {
          backoff = 500;
          if (m.seq > resumeFrom) resumeFrom = m.seq;
          const u = m.update;
          if (u.case === "status") {
            const code = stateCodes[u.value.state] ?? "unknown";
            const id = u.value.cameraId;
            set((s) => ({ status: { ...s.status, [id]: code } }));
          } else if (u.case === "alarm") {
            const a = u.value;
            set((s) => {
              const rest = s.alarms.filter((x) => x.id !== a.id);
              return { alarms: sortAlarms(isOpen(a) ? [a, ...rest] : rest) };
            });
          }
        }
      } catch (err) {
        if (ctl.signal.aborted) return;
        if (sessionLost(err)) return;
      }
      await new Promise((r) => setTimeout(r, backoff));
      backoff = Math.min(backoff * 2, 10_000);
    }
  })();
}

export async function acknowledge(alarmId: string, note: string): Promise<void> {
  try {
    const a = await health.acknowledgeAlarm({ alarmId, note });
    set((s) => ({ alarms: s.alarms.filter((x) => x.id !== a.id), acking: "" }));
  } catch (err) {
    if (!sessionLost(err)) set({ notice: message(err) });
  }
}

export function setLayout(layout: Layout): void {
  const prev = get().enlarged;
  set((s) => ({ layout, selected: Math.min(s.selected, layout - 1), enlarged: null }));
  if (prev !== null) void switchProfile(prev, "sub");
}

/** openOnTile starts a live view of camera on tile i, asking for the purpose first if none is stated. */
export async function openOnTile(i: number, cameraId: string): Promise<void> {
  const s = get();
  if (!s.purpose) {
    set({ purposeAsked: [...(s.purposeAsked ?? []), { tile: i, cameraId }] });
    return;
  }
  const old = s.tiles[i];
  if (old?.sessionId) void stopView(old.sessionId);
  const key = ++tileKeys;
  const tile: Tile = { cameraId, key, url: "", sessionId: "", profile: "sub", state: "starting", error: "" };
  putTile(i, tile);
  const next = nextEmpty(i);
  set({ selected: next });
  // Transport WEBRTC: the URL is a WHEP endpoint the tile posts its offer to.
  try {
    const r = await stream.startLiveView({
      cameraId, profile: "sub", purpose: s.purpose.purpose, purposeText: s.purpose.text, transport: Transport.WEBRTC,
    });
    updateTile(i, key, { url: r.url, sessionId: r.sessionId, profile: r.profile || "sub" });
    if (r.notice) set({ notice: r.notice });
  } catch (err) {
    if (!sessionLost(err)) updateTile(i, key, { state: "failed", error: message(err) });
  }
}

/** enlarge shows tile i alone (main stream) or, with null, the whole wall again (sub streams). */
export function enlarge(i: number | null): void {
  const s = get();
  const prev = s.enlarged;
  set({ enlarged: i, selected: i ?? s.selected });
  if (prev !== null && prev !== i) void switchProfile(prev, "sub");
  if (i !== null) void switchProfile(i, "main");
}

/** switchProfile moves a tile's open view to another profile: the same view and audit session, no new purpose. */
async function switchProfile(i: number, profile: string): Promise<void> {
  const t = get().tiles[i];
  if (!t?.sessionId || t.profile === profile) return;
  try {
    await stream.switchLiveProfile({ sessionId: t.sessionId, profile });
    updateTile(i, t.key, { profile });
  } catch (err) {
    // A camera with one profile keeps showing it.
    if (!sessionLost(err)) set({ notice: message(err) });
  }
}

function nextEmpty(from: number): number {
  const s = get();
  for (let k = 1; k <= s.layout; k++) {
    const j = (from + k) % s.layout;
    if (!s.tiles[j]) return j;
  }
  return from;
}

function putTile(i: number, t: Tile | null): void {
  set((s) => {
    const tiles = [...s.tiles];
    tiles[i] = t;
    return { tiles };
  });
}

/** updateTile changes tile i if it still shows the view key opened. */
export function updateTile(i: number, key: number, patch: Partial<Tile>): void {
  set((s) => {
    const t = s.tiles[i];
    if (!t || t.key !== key) return {};
    const tiles = [...s.tiles];
    tiles[i] = { ...t, ...patch };
    return { tiles };
  });
}

export function closeTile(i: number): void {
  const t = get().tiles[i];
  if (t?.sessionId) void stopView(t.sessionId);
  putTile(i, null);
  set((s) => ({ enlarged: s.enlarged === i ? null : s.enlarged }));
}

async function stopView(sessionId: string): Promise<void> {
  try {
    await stream.stopLiveView({ sessionId, reason: "tile closed" });
  } catch {
    // The view may have ended on its own (its peer connection closed).
  }
}

/** statePurpose records the purpose and opens the views that waited for it. */
export function statePurpose(purpose: Purpose, text: string): void {
  const waiting = get().purposeAsked ?? [];
  set({ purpose: { purpose, text }, purposeAsked: null });
  for (const w of waiting) void openOnTile(w.tile, w.cameraId);
}

export function askPurpose(): void {
  set({ purposeAsked: [] });
}

export { Purpose };
