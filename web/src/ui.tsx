// Small pieces every screen uses.
import type { ComponentChildren } from "preact";
import { labels, type LabelKey } from "./i18n";

/** L shows a label Korean first with its English beside. */
export function L({ k }: { k: LabelKey }) {
  const [ko, en] = labels[k];
  return (
    <span class="lbl">
      {ko} <span class="en" lang="en">{en}</span>
    </span>
  );
}

export function Pair({ ko, en }: { ko: string; en: string }) {
  return (
    <span class="lbl">
      {ko} <span class="en" lang="en">{en}</span>
    </span>
  );
}

/** Icon: inline SVG paths, bundled (no icon font, no CDN). */
const paths = {
  camera: "M4 7h11l5-3v16l-5-3H4z",
  search: "M10 4a6 6 0 1 0 3.9 10.6l4.8 4.8 1.4-1.4-4.8-4.8A6 6 0 0 0 10 4zm0 2a4 4 0 1 1 0 8 4 4 0 0 1 0-8z",
  bell: "M12 3a6 6 0 0 0-6 6v4l-2 3h16l-2-3V9a6 6 0 0 0-6-6zm-2 15a2 2 0 0 0 4 0z",
  close: "M6 5l13 13-1 1L5 6zm12 0l1 1L6 19l-1-1z",
  lock: "M7 10V8a5 5 0 0 1 10 0v2h1v10H6V10zm2 0h6V8a3 3 0 0 0-6 0z",
  out: "M10 4h8v16h-8v-2h6V6h-6zM9 8l1.4 1.4L8.8 11H15v2H8.8l1.6 1.6L9 16l-4-4z",
} as const;

export function Icon({ name, title }: { name: keyof typeof paths; title?: string }) {
  return (
    <svg class="icon" viewBox="0 0 24 24" aria-hidden={title ? undefined : "true"} role={title ? "img" : undefined}>
      {title ? <title>{title}</title> : null}
      <path d={paths[name]} fill="currentColor" />
    </svg>
  );
}

export function Badge({ state, children }: { state: string; children?: ComponentChildren }) {
  return <span class={`badge st-${state}`} data-state={state}>{children}</span>;
}
