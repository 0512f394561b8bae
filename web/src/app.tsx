import { useEffect } from "preact/hooks";
import { askPurpose, closeTile, enlarge, lock, logout, setLayout } from "./actions";
import { Alarms } from "./alarms";
import { purposeLabels, text } from "./i18n";
import { Login } from "./login";
import { PurposeDialog } from "./purpose";
import { get, set, useStore, type Layout, type State } from "./store";
import { Tree } from "./tree";
import { Icon, L } from "./ui";
import { openPicked, Wall } from "./wall";

const phaseOf = (s: State) => s.phase;

export function App() {
  const phase = useStore(phaseOf);
  if (phase === "boot") return <main class="boot" aria-busy="true" />;
  if (phase === "login" || phase === "locked") return <Login />;
  return <Console />;
}

const sel = (s: State) => s;

function Console() {
  const s = useStore(sel);
  useIdleLock();
  useKeys();
  const purpose = s.purpose ? purposeLabels.find(([v]) => v === s.purpose?.purpose) : undefined;
  return (
    <div class="console">
      <header class="top">
        <h1><Icon name="camera" /> <L k="title" /></h1>
        <div class="purpose-now" id="purpose-now">
          <L k="purpose" />:{" "}
          {purpose ? <strong>{purpose[1]} <span class="en" lang="en">{purpose[2]}</span>{s.purpose?.text ? ` — ${s.purpose.text}` : ""}</strong> : <em>—</em>}
          <button type="button" onClick={askPurpose}><L k="change" /></button>
        </div>
        <span class="keys" title={text("keyHelp")}><L k="keys" />: <small>{text("keyHelp")}</small></span>
        <span class="me" id="me">{s.me?.displayName} <small>({s.me?.roles.join(", ")})</small></span>
        <button type="button" id="logout" onClick={() => void logout()}><Icon name="out" /> <L k="logout" /></button>
      </header>
      {s.notice ? <div class="notice" role="status" onClick={() => set({ notice: "" })}>{s.notice}</div> : null}
      <Tree />
      <Wall />
      <Alarms />
      {s.purposeAsked ? <PurposeDialog /> : null}
    </div>
  );
}

function idleLockSeconds(): number {
  const m = document.querySelector('meta[name="gwanje-idle-lock"]');
  const n = Number(m?.getAttribute("content") ?? "600");
  return Number.isFinite(n) && n > 0 ? n : 0;
}

/** useIdleLock locks the console after the configured time without input. */
function useIdleLock(): void {
  useEffect(() => {
    const limit = idleLockSeconds() * 1000;
    if (!limit) return;
    let last = Date.now();
    const seen = () => {
      last = Date.now();
    };
    const evs = ["keydown", "pointerdown", "pointermove", "wheel"] as const;
    for (const e of evs) window.addEventListener(e, seen, { passive: true });
    const t = setInterval(() => {
      if (Date.now() - last >= limit) void lock();
    }, Math.min(5000, limit / 4));
    return () => {
      clearInterval(t);
      for (const e of evs) window.removeEventListener(e, seen);
    };
  }, []);
}

const layoutKeys: Record<string, Layout> = { "1": 1, "4": 4, "9": 9, "6": 16 };

/** useKeys: the keyboard paths of repeated work. */
function useKeys(): void {
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const s = get();
      if (s.purposeAsked) return;
      const el = e.target as HTMLElement | null;
      const typing = el && (el.tagName === "INPUT" || el.tagName === "TEXTAREA" || el.tagName === "SELECT");
      if (e.altKey && layoutKeys[e.key]) {
        e.preventDefault();
        setLayout(layoutKeys[e.key]!);
        return;
      }
      if (typing || e.ctrlKey || e.metaKey || e.altKey) return;
      if (/^[1-9]$/.test(e.key)) {
        const i = Number(e.key) - 1;
        if (i < s.layout) {
          set({ selected: i });
          document.getElementById(`tile-${i}`)?.focus();
        }
      } else if (e.key === "Enter" && s.picked && !(el && el.tagName === "BUTTON")) {
        openPicked(s);
      } else if (e.key === "Delete" || e.key === "Backspace") {
        closeTile(s.selected);
      } else if (e.key === "f" || e.key === "F") {
        enlarge(s.enlarged === null ? s.selected : null);
      } else if (e.key === "Escape") {
        if (s.enlarged !== null) enlarge(null);
        set({ acking: "" });
      } else if (e.key === "a" || e.key === "A") {
        const first = s.alarms[0];
        if (first) {
          e.preventDefault();
          set({ acking: first.id });
        }
      } else if (e.key === "/") {
        e.preventDefault();
        document.getElementById("camera-search")?.focus();
      } else if (e.key === "ArrowRight" || e.key === "ArrowLeft") {
        const d = e.key === "ArrowRight" ? 1 : -1;
        set({ selected: (s.selected + d + s.layout) % s.layout });
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);
}
