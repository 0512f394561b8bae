package playback

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"

	"github.com/gwanje/gwanje/stream/record"
)

func TestSpanSetUnion(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	for _, tc := range []struct {
		name string
		add  [][2]float64
		want [][2]float64
	}{
		{"one", [][2]float64{{0, 5}}, [][2]float64{{0, 5}}},
		{"disjoint, out of order", [][2]float64{{10, 12}, {0, 5}}, [][2]float64{{0, 5}, {10, 12}}},
		{"overlap", [][2]float64{{0, 5}, {3, 8}}, [][2]float64{{0, 8}}},
		{"touching", [][2]float64{{0, 5}, {5, 6}}, [][2]float64{{0, 6}}},
		{"inside", [][2]float64{{0, 10}, {2, 3}}, [][2]float64{{0, 10}}},
		{"bridges two", [][2]float64{{0, 2}, {4, 6}, {1, 5}}, [][2]float64{{0, 6}}},
		{"empty ignored", [][2]float64{{3, 3}, {5, 4}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s spanSet
			for _, a := range tc.add {
				s.add(at(a[0]), at(a[1]))
			}
			if len(s) != len(tc.want) {
				t.Fatalf("got %v, want %v", s, tc.want)
			}
			for i, w := range tc.want {
				if !s[i].From.Equal(at(w[0])) || !s[i].To.Equal(at(w[1])) {
					t.Fatalf("span %d: %v–%v, want %v", i, s[i].From, s[i].To, w)
				}
			}
		})
	}
}

// browserFix serves f's playback server's Handler over HTTPS.
func browserFix(t *testing.T) (*fixture, *httptest.Server) {
	f := setup(t)
	hs := httptest.NewTLSServer(f.srv.Handler())
	t.Cleanup(hs.Close)
	if err := f.store.RegisterBrowserURL(context.Background(), hs.URL); err != nil {
		t.Fatal(err)
	}
	return f, hs
}

func (f *fixture) browserTicket(t *testing.T, from, to time.Time) Ticket {
	t.Helper()
	tk, err := f.tickets.IssueTicket(context.Background(), TicketRequest{UserID: "u-1", Username: "kim",
		CameraID: "cam-pb", From: from, To: to, Purpose: "crime_prevention", AuditSeq: 9, Transport: TransportMSE})
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func get(t *testing.T, c *http.Client, url string) (int, []byte, error) {
	t.Helper()
	res, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, b, err
}

func openManifest(t *testing.T, c *http.Client, url string) Manifest {
	t.Helper()
	code, b, err := get(t, c, url)
	if err != nil || code != http.StatusOK {
		t.Fatalf("manifest: %d %s %v", code, b, err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// splitInit splits an fMP4 stream at its first moof.
func splitInit(t *testing.T, b []byte) ([]byte, []byte) {
	t.Helper()
	for off := 0; off+8 <= len(b); {
		size := int(binary.BigEndian.Uint32(b[off:]))
		if string(b[off+4:off+8]) == "moof" {
			return b[:off], b[off:]
		}
		if size < 8 {
			break
		}
		off += size
	}
	t.Fatal("no moof in the stream")
	return nil, nil
}

// TestBrowserStreamIsTheRecording: the media stream is the recorded frames,
// byte for byte, from the keyframe at the position, on the footage's
// timeline, and playback.end lists what was sent.
func TestBrowserStreamIsTheRecording(t *testing.T) {
	f, hs := browserFix(t)
	c := hs.Client()
	from, to := f.segs[0].Start, f.segs[len(f.segs)-1].End
	tk := f.browserTicket(t, from, to)
	if !strings.HasPrefix(tk.URL, hs.URL+MSEPrefix+"cam-pb?ticket=") {
		t.Fatalf("URL %s", tk.URL)
	}
	m := openManifest(t, c, tk.URL)
	if !strings.HasPrefix(m.MIME, `video/mp4; codecs="avc1.`) || len(m.Spans) == 0 || m.FromMS != from.UnixMilli() {
		t.Fatalf("manifest %+v", m)
	}
	var want []record.Frame
	for _, sg := range f.segs {
		r, err := f.store.OpenSegment(context.Background(), sg)
		if err != nil {
			t.Fatal(err)
		}
		for {
			fr, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, fr)
		}
		r.Close()
	}
	// From 1.5 s in, at ×8: the keyframe at or before it (every second).
	at := from.Add(1500 * time.Millisecond)
	res, err := c.Get(hs.URL + m.Media + "&rate=8&at=" + strconv.FormatInt(at.UnixMilli(), 10))
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil || res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "video/mp4" {
		t.Fatalf("media: %d %v", res.StatusCode, err)
	}
	startMS, _ := strconv.ParseInt(res.Header.Get("Gwanje-Start"), 10, 64)
	if startMS > at.UnixMilli() || startMS < at.Add(-time.Second).UnixMilli() {
		t.Fatalf("started at %d, want the keyframe at or before %d", startMS, at.UnixMilli())
	}
	initB, rest := splitInit(t, body)
	var in fmp4.Init
	if err := in.Unmarshal(bytes.NewReader(initB)); err != nil || len(in.Tracks) != 1 {
		t.Fatalf("init: %v", err)
	}
	var parts fmp4.Parts
	if err := parts.Unmarshal(rest); err != nil {
		t.Fatal(err)
	}
	k := -1
	for i, fr := range want {
		if fr.Time.UnixMilli() == startMS && fr.Key {
			k = i
		}
	}
	if k < 0 || len(parts) != len(want)-k {
		t.Fatalf("%d fragments from frame %d of %d", len(parts), k, len(want))
	}
	for i, p := range parts {
		fr, smp := want[k+i], p.Tracks[0].Samples[0]
		var au h264.AVCC
		if err := au.Unmarshal(smp.Payload); err != nil {
			t.Fatal(err)
		}
		if !sameNALs(au, fr.AU) || smp.IsNonSyncSample == fr.Key || p.Tracks[0].BaseTime != uint64(ticks(fr.Time.Sub(from))) {
			t.Fatalf("fragment %d is not recorded frame %d (time %v)", i, k+i, fr.Time)
		}
	}
	// Outside the range, bad speeds, foreign sessions.
	for _, tc := range []struct {
		url  string
		want int
	}{
		{m.Media + "&at=" + strconv.FormatInt(from.Add(-time.Second).UnixMilli(), 10), http.StatusRequestedRangeNotSatisfiable},
		{m.Media + "&at=" + strconv.FormatInt(to.Add(time.Millisecond).UnixMilli(), 10), http.StatusRequestedRangeNotSatisfiable},
		{m.Media + "&rate=3", http.StatusBadRequest},
		{m.Media + "&at=x", http.StatusBadRequest},
		{strings.Replace(m.Media, "session=", "session=x", 1), http.StatusForbidden},
		{strings.Replace(m.Media, "ticket=", "ticket=A", 1), http.StatusForbidden},
		{strings.Replace(m.Media, "/cam-pb/", "/cam-other/", 1), http.StatusForbidden},
	} {
		if code, b, _ := get(t, c, hs.URL+tc.url); code != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.url, code, b, tc.want)
		}
	}
	// End, then nothing more.
	res, err = c.Post(hs.URL+m.End, "", nil)
	if err != nil || res.StatusCode != http.StatusNoContent {
		t.Fatalf("end: %v %v", res, err)
	}
	res.Body.Close()
	if code, b, _ := get(t, c, hs.URL+m.Media); code != http.StatusGone || !strings.Contains(string(b), `"closed"`) {
		t.Fatalf("media after the end: %d %s", code, b)
	}
	ends := f.aud.ends()
	if len(ends) != 1 {
		t.Fatalf("%d playback.end", len(ends))
	}
	d := ends[0].Details
	rs := d["ranges"].([]map[string]any)
	if d["transport"] != TransportMSE || d["reason"] != "closed" || d["frames"].(int64) != int64(len(parts)) || len(rs) != 1 ||
		rs[0]["from"] != want[k].Time.UTC().Format(time.RFC3339Nano) || d["start_seq"].(int64) != 9 {
		t.Fatalf("playback.end %v", d)
	}
}

// TestBrowserTicketRules: one use, one transport each way, expiry.
func TestBrowserTicketRules(t *testing.T) {
	f, hs := browserFix(t)
	c := hs.Client()
	from, to := f.segs[0].Start, f.segs[len(f.segs)-1].End
	// An RTSP ticket opens no browser session and stays usable over RTSP.
	rtsp := f.ticket(t, from, to)
	tok := rtsp.URL[strings.Index(rtsp.URL, "ticket=")+len("ticket="):]
	if code, _, _ := get(t, c, hs.URL+MSEPrefix+"cam-pb?ticket="+tok); code != http.StatusForbidden {
		t.Fatalf("RTSP ticket at the browser door: %d", code)
	}
	if _, err := openReader(t, rtsp.URL); err != nil {
		t.Fatalf("the RTSP ticket was spent by the browser door: %v", err)
	}
	// A browser ticket opens nothing over RTSP, then opens once here.
	mse := f.browserTicket(t, from, to)
	rtspURL := URL(f.srv.URL(), "cam-pb", mse.URL[strings.Index(mse.URL, "ticket=")+len("ticket="):])
	if _, err := openReader(t, rtspURL); err == nil {
		t.Fatal("a browser ticket opened an RTSP playback")
	}
	openManifest(t, c, mse.URL)
	if code, b, _ := get(t, c, mse.URL); code != http.StatusForbidden || !strings.Contains(string(b), "ticket_used") {
		t.Fatalf("replay: %d %s", code, b)
	}
	exp, err := f.tickets.IssueTicket(context.Background(), TicketRequest{UserID: "u-1", CameraID: "cam-pb", From: from, To: to,
		AuditSeq: 9, TTL: time.Millisecond, Transport: TransportMSE})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	if code, b, _ := get(t, c, exp.URL); code != http.StatusForbidden || !strings.Contains(string(b), "ticket_expired") {
		t.Fatalf("expired: %d %s", code, b)
	}
	if _, err := f.tickets.IssueTicket(context.Background(), TicketRequest{UserID: "u-1", CameraID: "cam-pb", From: from, To: to,
		AuditSeq: 9, Transport: "hls"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("unknown transport: %v", err)
	}
}

// TestBrowserTamperedSegment: the stream is reset at the segment that does
// not authenticate, never completed; the session ends "tampered".
func TestBrowserTamperedSegment(t *testing.T) {
	f, hs := browserFix(t)
	c := hs.Client()
	path := f.store.Dir() + "/" + f.segs[1].Path
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-40] ^= 0x01
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	from, to := f.segs[0].Start, f.segs[len(f.segs)-1].End
	m := openManifest(t, c, f.browserTicket(t, from, to).URL)
	res, err := c.Get(hs.URL + m.Media + "&rate=8")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err == nil {
		t.Fatalf("the stream over a tampered segment completed (%d bytes)", len(body))
	}
	select {
	case a := <-f.alarms:
		if a.Kind != record.AlarmTampered {
			t.Fatalf("alarm %+v", a)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no tamper alarm")
	}
	if code, b, _ := get(t, c, hs.URL+m.Media); code != http.StatusGone || !strings.Contains(string(b), "tampered") {
		t.Fatalf("after the tamper: %d %s", code, b)
	}
	poll(t, 10*time.Second, "playback.end", func() bool { return len(f.aud.ends()) == 1 })
	d := f.aud.ends()[0].Details
	if d["reason"] != "tampered" {
		t.Fatalf("playback.end %v", d)
	}
	for _, r := range d["ranges"].([]map[string]any) {
		if end, err := time.Parse(time.RFC3339Nano, r["to"].(string)); err != nil || end.After(f.segs[1].End) {
			t.Fatalf("footage after the tampered segment was sent: %v", r)
		}
	}
}
