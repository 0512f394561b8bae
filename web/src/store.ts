// The console's one store: every screen reads from it and every change goes
// through set(). Components subscribe with useStore(selector).
import { useEffect, useState } from "preact/hooks";
import { CameraLifecycle, type Camera, type Site } from "./gen/gwanje/v1/device_pb";
import type { Alarm } from "./gen/gwanje/v1/events_pb";
import type { Purpose } from "./gen/gwanje/v1/common_pb";

export type Phase = "boot" | "login" | "locked" | "ready";
export type GroupBy = "site" | "purpose" | "department";
export type Layout = 1 | 4 | 9 | 16;

export interface Me {
  username: string;
  displayName: string;
  roles: string[];
  permissions: string[];
}

export interface Tile {
  cameraId: string;
  /** Bumped on every (re)open so the tile's player restarts. */
  key: number;
  url: string;
  sessionId: string;
  profile: string;
  state: "starting" | "playing" | "failed";
  error: string;
}

export interface StatedPurpose {
  purpose: Purpose;
  text: string;
}

export interface State {
  phase: Phase;
  me: Me | null;
  loginError: string;
  busy: boolean;
  /** The account name a locked screen unlocks. */
  lockedUser: string;
  cameras: Camera[];
  sites: Record<string, Site>;
  /** Camera id → state code (online, offline, …) from WatchEvents. */
  status: Record<string, string>;
  search: string;
  groupBy: GroupBy;
  /** The camera highlighted in the tree (Enter opens it). */
  picked: string;
  layout: Layout;
  tiles: (Tile | null)[];
  selected: number;
  enlarged: number | null;
  purpose: StatedPurpose | null;
  /** Set while the purpose dialog is open; the views to open once stated. */
  purposeAsked: { tile: number; cameraId: string }[] | null;
  alarms: Alarm[];
  /** The alarm whose acknowledgement form is open. */
  acking: string;
  notice: string;
}

const initial: State = {
  phase: "boot", me: null, loginError: "", busy: false, lockedUser: "",
  cameras: [], sites: {}, status: {}, search: "", groupBy: "site", picked: "",
  layout: 4, tiles: Array<Tile | null>(16).fill(null), selected: 0, enlarged: null,
  purpose: null, purposeAsked: null, alarms: [], acking: "", notice: "",
};

let state: State = initial;
const listeners = new Set<() => void>();

export function get(): State {
  return state;
}

export function set(patch: Partial<State> | ((s: State) => Partial<State>)): void {
  const p = typeof patch === "function" ? patch(state) : patch;
  state = { ...state, ...p };
  for (const l of listeners) l();
}

/** reset returns the store to its first state, keeping what is named. */
export function reset(keep: Partial<State>): void {
  state = { ...initial, tiles: Array<Tile | null>(16).fill(null), ...keep };
  for (const l of listeners) l();
}

export function useStore<T>(select: (s: State) => T): T {
  const [, force] = useState(0);
  const value = select(state);
  useEffect(() => {
    let last = select(state);
    const l = () => {
      const next = select(state);
      if (next !== last) {
        last = next;
        force((n) => n + 1);
      }
    };
    listeners.add(l);
    return () => void listeners.delete(l);
  }, [select]);
  return value;
}

/** cameraState is the badge of a camera: maintenance from the registry, else health's state. */
export function cameraState(s: State, c: Camera): string {
  if (c.fields?.lifecycle === CameraLifecycle.MAINTENANCE) return "maintenance";
  return s.status[c.id] ?? "unknown";
}
