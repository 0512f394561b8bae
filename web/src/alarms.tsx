// The alarm queue: open alarms newest first, live from WatchEvents;
// acknowledge with a note (A opens the first one's form).
import { useEffect, useRef, useState } from "preact/hooks";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { acknowledge } from "./actions";
import { alarmLabels, seoul, text } from "./i18n";
import { set, useStore, type State } from "./store";
import { Icon, L, Pair } from "./ui";

const sel = (s: State) => s;

export function Alarms() {
  const s = useStore(sel);
  return (
    <aside class="alarms" aria-label={text("alarms")}>
      <h2><Icon name="bell" /> <L k="alarms" /> <span class={`count ${s.alarms.length ? "hot" : ""}`} id="alarm-count">{s.alarms.length}</span></h2>
      {s.alarms.length === 0 ? <p class="hint"><L k="noAlarms" /></p> : null}
      <ol>
        {s.alarms.map((a) => {
          const cam = s.cameras.find((c) => c.id === a.cameraId);
          const kind = alarmLabels[a.kind] ?? ["알람", "alarm"];
          return (
            <li key={a.id} class="alarm" data-alarm={a.id} data-camera={a.cameraId}>
              <div class="alarm-head">
                <strong><Pair ko={kind[0]} en={kind[1]} /></strong>
                <time>{seoul(a.raisedAt ? timestampDate(a.raisedAt) : undefined)}</time>
              </div>
              <div class="alarm-cam">{cam?.fields?.name ?? a.source}{place(s, cam?.fields?.siteId ?? a.site)}</div>
              {a.cause ? <div class="alarm-cause" title={a.cause}>{a.cause}</div> : null}
              {s.acking === a.id ? (
                <AckForm id={a.id} />
              ) : (
                <button type="button" class="ack" onClick={() => set({ acking: a.id })}><L k="acknowledge" /></button>
              )}
            </li>
          );
        })}
      </ol>
    </aside>
  );
}

// place names the camera's site for the operator (never its id).
function place(s: State, siteId: string | undefined): string {
  const name = siteId ? s.sites[siteId]?.fields?.name : undefined;
  return name ? ` · ${name}` : "";
}

function AckForm({ id }: { id: string }) {
  const [note, setNote] = useState("");
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => input.current?.focus(), []);
  return (
    <form class="ack-form" onSubmit={(e) => {
      e.preventDefault();
      void acknowledge(id, note.trim());
    }}>
      <label>
        <L k="ackNote" />
        <input ref={input} class="ack-note" value={note} maxLength={500} placeholder={text("ackNotePlaceholder")}
          onInput={(e) => setNote(e.currentTarget.value)}
          onKeyDown={(e) => {
            if (e.key === "Escape") set({ acking: "" });
          }} />
      </label>
      <div class="row">
        <button type="submit" class="ack-submit"><L k="acknowledge" /></button>
        <button type="button" onClick={() => set({ acking: "" })}><L k="cancel" /></button>
      </div>
    </form>
  );
}
