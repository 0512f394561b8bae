// A WHEP viewer (RFC 9725): the SDP offer goes to the URL StartLiveView
// returned (its one-time ticket in the query), the 201 answer comes back
// with every server candidate, and DELETE on its Location ends the session.

export interface WhepSession {
  /** The stream to show; it gets its track when the connection is up. */
  stream: MediaStream;
  pc: RTCPeerConnection;
  close(): void;
}

const gatherLimit = 2000;

export async function startWhep(url: string, signal: AbortSignal): Promise<WhepSession> {
  if (!url.startsWith("https://") && !url.startsWith("/")) {
    throw new Error("이 주소는 브라우저에서 열 수 없습니다 · not a browser (WHEP) URL");
  }
  const pc = new RTCPeerConnection({ bundlePolicy: "max-bundle" });
  const stream = new MediaStream();
  pc.addTransceiver("video", { direction: "recvonly" });
  pc.ontrack = (e) => stream.addTrack(e.track);
  let location = "";
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    pc.close();
    if (location) {
      void fetch(location, { method: "DELETE", credentials: "omit", keepalive: true }).catch(() => undefined);
    }
  };
  signal.addEventListener("abort", close);
  try {
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    const res = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/sdp" },
      body: pc.localDescription?.sdp ?? "",
      credentials: "omit",
      redirect: "error",
      signal,
    });
    if (res.status !== 201) {
      throw new Error(`WHEP ${res.status}: ${(await res.text()).slice(0, 200)}`);
    }
    const loc = res.headers.get("Location");
    if (loc) location = new URL(loc, url).toString();
    await pc.setRemoteDescription({ type: "answer", sdp: await res.text() });
    if (closed) throw new DOMException("aborted", "AbortError");
  } catch (err) {
    close();
    throw err;
  }
  return { stream, pc, close };
}

/** gathered waits for the offer's candidates (no trickle), at most gatherLimit. */
function gathered(pc: RTCPeerConnection): Promise<void> {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      if (pc.iceGatheringState === "complete") {
        pc.removeEventListener("icegatheringstatechange", done);
        resolve();
      }
    };
    pc.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, gatherLimit);
  });
}
