package stream

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
)

// TestTapSharesTheUpstreamWithViewers: an in-process reader (the recorder)
// and a viewer of the same camera share one camera connection; the reader
// gets whole access units from a keyframe on, with rising timestamps, and
// learns when the camera connection drops.
func TestTapSharesTheUpstreamWithViewers(t *testing.T) {
	e := newEnv(t, 1)
	v, err := play(e.ticket("u1", "s1", "cam1", "main").URL, gortsplib.ProtocolTCP)
	if err != nil {
		t.Fatal(err)
	}
	defer v.close()
	eventually(t, 10*time.Second, "viewer decodes", v.decodable)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tap, err := e.relay.Tap(ctx, "cam1", "main")
	if err != nil {
		t.Fatal(err)
	}
	defer tap.Close()
	if f, ok := tap.Format().(*format.H264); !ok || len(f.SPS) == 0 || len(f.PPS) == 0 {
		t.Fatalf("tap format %#v", tap.Format())
	}
	var last time.Duration
	for i := 0; i < 40; i++ {
		au, err := tap.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 && !au.Key {
			t.Fatal("the tap did not start at a keyframe")
		}
		if i > 0 && au.PTS <= last {
			t.Fatalf("access unit %d: PTS %v after %v", i, au.PTS, last)
		}
		if len(au.NALUs) == 0 {
			t.Fatalf("access unit %d has no NAL units", i)
		}
		last = au.PTS
	}
	if n := e.cams.lookups.Load(); n != 1 {
		t.Errorf("camera connections = %d, want 1 shared by the viewer and the tap", n)
	}

	e.cam("cam1").Reboot()
	for {
		_, err := tap.Next(ctx)
		if errors.Is(err, ErrUpstreamLost) {
			break
		}
		if err != nil {
			t.Fatalf("want ErrUpstreamLost, got %v", err)
		}
	}
	tap.Close()
	tap.Close()
}
