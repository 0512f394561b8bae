// 열람목적: stated once before the first view and applied to the views
// opened under it until changed; each view is still its own audited session.
import { useEffect, useRef, useState } from "preact/hooks";
import { statePurpose } from "./actions";
import { purposeLabels, text } from "./i18n";
import { Purpose } from "./gen/gwanje/v1/common_pb";
import { get, set } from "./store";
import { L } from "./ui";

export function PurposeDialog() {
  const cur = get().purpose;
  const [p, setP] = useState<number>(cur?.purpose ?? 0);
  const [t, setT] = useState(cur?.text ?? "");
  const first = useRef<HTMLInputElement>(null);
  useEffect(() => first.current?.focus(), []);
  const ok = p !== 0 && (p !== Purpose.OTHER || t.trim() !== "");
  return (
    <div class="modal" role="dialog" aria-modal="true" aria-labelledby="purpose-title">
      <form class="modal-box" id="purpose-form" onSubmit={(e) => {
        e.preventDefault();
        if (ok) statePurpose(p as Purpose, p === Purpose.OTHER ? t.trim() : "");
      }} onKeyDown={(e) => {
        if (e.key === "Escape") set({ purposeAsked: null });
      }}>
        <h2 id="purpose-title"><L k="purpose" /></h2>
        <p class="hint"><L k="purposePrompt" /></p>
        <fieldset>
          {purposeLabels.map(([v, ko, en], i) => (
            <label key={v} class="radio">
              <input ref={i === 0 ? first : undefined} type="radio" name="purpose" value={v} checked={p === v}
                data-purpose={v} onChange={() => setP(v)} />
              <span>{i + 1}. {ko} <span class="en" lang="en">{en}</span></span>
            </label>
          ))}
        </fieldset>
        {p === Purpose.OTHER ? (
          <label>
            <L k="purposeText" />
            <input id="purpose-text" value={t} maxLength={200} required onInput={(e) => setT(e.currentTarget.value)} aria-label={text("purposeText")} />
          </label>
        ) : null}
        <div class="row">
          <button type="submit" id="purpose-ok" disabled={!ok}><L k="confirm" /></button>
          <button type="button" onClick={() => set({ purposeAsked: null })}><L k="cancel" /></button>
        </div>
      </form>
    </div>
  );
}
