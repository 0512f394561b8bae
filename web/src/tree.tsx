// The camera tree: grouped by site, purpose or department, searched, with a
// state badge per camera fed by WatchEvents.
import { useMemo } from "preact/hooks";
import type { Camera } from "./gen/gwanje/v1/device_pb";
import { openOnTile } from "./actions";
import { stateLabels, text } from "./i18n";
import { cameraState, set, useStore, type GroupBy, type State } from "./store";
import { Badge, Icon, L } from "./ui";

const sel = (s: State) => s;

export const dragType = "application/x-gwanje-camera";

function groupOf(s: State, c: Camera, by: GroupBy): string {
  const f = c.fields;
  if (by === "purpose") return f?.purpose || "—";
  if (by === "department") return f?.department || "—";
  const site = s.sites[f?.siteId ?? ""];
  return site?.fields?.name || f?.siteId || "—";
}

function matches(c: Camera, q: string): boolean {
  if (!q) return true;
  const f = c.fields;
  const hay = [c.id, f?.name, f?.managementNo, f?.roadAddress, f?.lotAddress, f?.purpose, f?.department, ...(f?.labels ?? [])]
    .join(" ").toLowerCase();
  return q.toLowerCase().split(/\s+/).every((w) => hay.includes(w));
}

export function Tree() {
  const s = useStore(sel);
  const groups = useMemo(() => {
    const m = new Map<string, Camera[]>();
    for (const c of s.cameras) {
      if (!matches(c, s.search.trim())) continue;
      const g = groupOf(s, c, s.groupBy);
      const list = m.get(g) ?? [];
      list.push(c);
      m.set(g, list);
    }
    return [...m.entries()].sort(([a], [b]) => a.localeCompare(b, "ko"));
  }, [s.cameras, s.sites, s.search, s.groupBy]);
  const by = (g: GroupBy, k: "bySite" | "byPurpose" | "byDepartment") => (
    <button type="button" role="tab" aria-selected={s.groupBy === g} class={s.groupBy === g ? "on" : ""} onClick={() => set({ groupBy: g })}>
      <L k={k} />
    </button>
  );
  return (
    <nav class="tree" aria-label={text("cameras")}>
      <h2><Icon name="camera" /> <L k="cameras" /> <span class="count">{s.cameras.length}</span></h2>
      <label class="search">
        <Icon name="search" />
        <input id="camera-search" type="search" placeholder={text("searchPlaceholder")} aria-label={text("search")}
          value={s.search} onInput={(e) => set({ search: e.currentTarget.value })}
          onKeyDown={(e) => {
            if (e.key === "Enter") {
              const first = groups[0]?.[1][0];
              if (first) {
                set({ picked: first.id });
                void openOnTile(s.selected, first.id);
              }
            }
          }} />
      </label>
      <div class="groupby" role="tablist">{by("site", "bySite")}{by("purpose", "byPurpose")}{by("department", "byDepartment")}</div>
      <div class="groups">
        {groups.length === 0 ? <p class="hint"><L k="noCameras" /></p> : null}
        {groups.map(([g, cams]) => (
          <section key={g} class="group">
            <h3>{g} <span class="count">{cams.length}</span></h3>
            <ul>
              {cams.map((c) => {
                const st = cameraState(s, c);
                const lb = stateLabels[st] ?? stateLabels.unknown!;
                return (
                  <li key={c.id}>
                    <button type="button" class={`cam ${s.picked === c.id ? "picked" : ""}`} draggable data-camera={c.id}
                      title={`${c.fields?.name ?? c.id} — ${lb[0]} (${lb[1]})`}
                      onDragStart={(e) => e.dataTransfer?.setData(dragType, c.id)}
                      onClick={() => {
                        set({ picked: c.id });
                        void openOnTile(s.selected, c.id);
                      }}>
                      <Badge state={st}>{lb[0]}</Badge>
                      <span class="name">{c.fields?.name || c.id}</span>
                      <span class="sub">{c.fields?.managementNo}</span>
                    </button>
                  </li>
                );
              })}
            </ul>
          </section>
        ))}
      </div>
    </nav>
  );
}
