// The video wall: 1, 4, 9 or 16 tiles; a camera dropped (or opened from the
// tree) on a tile starts a live view over WebRTC (WHEP); double-click
// enlarges a tile to the whole wall.
import { useEffect, useRef } from "preact/hooks";
import { closeTile, enlarge, openOnTile, setLayout, updateTile } from "./actions";
import { stateLabels, text } from "./i18n";
import { cameraState, set, useStore, type Layout, type State, type Tile } from "./store";
import { dragType } from "./tree";
import { Badge, Icon, L } from "./ui";
import { startWhep } from "./whep";

const sel = (s: State) => s;
export const layouts: Layout[] = [1, 4, 9, 16];

export function Wall() {
  const s = useStore(sel);
  const cols = Math.sqrt(s.layout);
  // Every tile of the layout stays mounted (an unmounted tile would end its
  // view); an enlarged wall hides the others.
  const shown = Array.from({ length: Math.max(s.layout, (s.enlarged ?? 0) + 1) }, (_, i) => i);
  return (
    <section class="wall-area" aria-label={text("wall")}>
      <div class="wall-bar">
        <span class="wall-title"><L k="wall" /></span>
        <div role="group" aria-label={text("layout")} class="layouts">
          {layouts.map((n) => (
            <button type="button" key={n} id={`layout-${n}`} class={s.layout === n ? "on" : ""} aria-pressed={s.layout === n}
              title={`${n} (Alt+${n === 16 ? 6 : n})`} onClick={() => setLayout(n)}>
              {n}
            </button>
          ))}
        </div>
      </div>
      <div class={`wall ${s.enlarged !== null ? "enlarged" : ""}`} data-layout={s.layout}
        style={{ gridTemplateColumns: `repeat(${s.enlarged !== null ? 1 : cols}, 1fr)` }}>
        {shown.map((i) => (
          <TileView key={i} index={i} tile={s.tiles[i] ?? null} selected={s.selected === i} hidden={s.enlarged !== null && s.enlarged !== i} s={s} />
        ))}
      </div>
    </section>
  );
}

function TileView({ index, tile, selected, hidden, s }: { index: number; tile: Tile | null; selected: boolean; hidden: boolean; s: State }) {
  const cam = tile ? s.cameras.find((c) => c.id === tile.cameraId) : undefined;
  const st = cam ? cameraState(s, cam) : "unknown";
  const lb = stateLabels[st] ?? stateLabels.unknown!;
  return (
    <div class={`tile ${selected ? "selected" : ""} ${hidden ? "hidden" : ""}`} id={`tile-${index}`} hidden={hidden} data-tile={index} data-camera={tile?.cameraId ?? ""}
      data-state={tile?.state ?? "empty"} tabIndex={0} role="group"
      aria-label={`${index + 1}: ${cam?.fields?.name ?? text("emptyTile")}`}
      onClick={() => set({ selected: index })}
      onDblClick={() => enlarge(s.enlarged === index ? null : index)}
      onDragOver={(e) => {
        if (e.dataTransfer?.types.includes(dragType)) e.preventDefault();
      }}
      onDrop={(e) => {
        const id = e.dataTransfer?.getData(dragType);
        if (id) {
          e.preventDefault();
          set({ selected: index });
          void openOnTile(index, id);
        }
      }}>
      {tile ? (
        <>
          <Player index={index} tile={tile} />
          <div class="tile-head">
            <span class="tile-no">{index + 1}</span>
            <span class="tile-name">{cam?.fields?.name ?? tile.cameraId}</span>
            <Badge state={st}>{lb[0]}</Badge>
            <span class="tile-profile">{tile.profile}</span>
            <button type="button" class="tile-close" aria-label={`${text("close")} ${index + 1}`}
              onClick={(e) => {
                e.stopPropagation();
                closeTile(index);
              }}>
              <Icon name="close" />
            </button>
          </div>
          {tile.state !== "playing" ? (
            <div class={`tile-msg ${tile.state}`} role={tile.state === "failed" ? "alert" : "status"}>
              {tile.state === "failed" ? <><L k="failed" /><br /><small>{tile.error}</small></> : <L k="starting" />}
            </div>
          ) : null}
        </>
      ) : (
        <div class="tile-empty"><span class="tile-no">{index + 1}</span><small><L k="emptyTile" /></small></div>
      )}
    </div>
  );
}

/** Player runs the tile's WHEP session and reports when frames decode. */
function Player({ index, tile }: { index: number; tile: Tile }) {
  const video = useRef<HTMLVideoElement>(null);
  useEffect(() => {
    if (!tile.url) return;
    const ctl = new AbortController();
    const key = tile.key;
    let stopFrames = () => {};
    startWhep(tile.url, ctl.signal)
      .then((sess) => {
        const v = video.current;
        if (!v || ctl.signal.aborted) return sess.close();
        v.srcObject = sess.stream;
        void v.play().catch(() => undefined);
        // Playing means a decoded frame, not a connected peer.
        const onFrame = () => {
          if (ctl.signal.aborted) return;
          updateTile(index, key, { state: "playing" });
        };
        if ("requestVideoFrameCallback" in v) {
          const h = v.requestVideoFrameCallback(onFrame);
          stopFrames = () => v.cancelVideoFrameCallback(h);
        } else {
          (v as HTMLVideoElement).addEventListener("playing", onFrame, { once: true });
        }
        sess.pc.addEventListener("connectionstatechange", () => {
          const cs = sess.pc.connectionState;
          if (cs === "failed" || cs === "closed") {
            updateTile(index, key, { state: "failed", error: `WebRTC ${cs}` });
          }
        });
      })
      .catch((err: unknown) => {
        if (ctl.signal.aborted) return;
        updateTile(index, key, { state: "failed", error: err instanceof Error ? err.message : String(err) });
      });
    return () => {
      stopFrames();
      ctl.abort();
      if (video.current) video.current.srcObject = null;
    };
  }, [tile.url, tile.key, index]);
  return <video ref={video} class="tile-video" muted playsInline autoPlay data-key={tile.key} />;
}

export function openPicked(s: State): void {
  if (s.picked) void openOnTile(s.selected, s.picked);
}
