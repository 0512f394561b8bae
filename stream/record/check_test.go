package record

import (
	"context"
	"os"
	"testing"
	"time"
)

// crashPartial writes frames frames (25 fps) of a segment in progress,
// sealed every seal, and stops as a killed process does: no final chunk,
// the plaintext not yet sealed never written. It returns the .partial path
// and the footage sealed.
func crashPartial(t *testing.T, s *Store, cam string, start time.Time, frames int, seal time.Duration) (string, time.Duration) {
	t.Helper()
	c := loadClip(t)
	sf, err := s.openSegment(context.Background(), cam, start, c.track(), segmentOptions{Part: time.Second, Seal: seal, Sync: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := range frames {
		u := c.unit(i, 25, 0)
		ts := int64(u.PTS) * Timescale / int64(time.Second)
		if err := sf.add(&sample{dts: ts, pts: ts, key: u.Key, au: u.AU}); err != nil {
			t.Fatal(err)
		}
	}
	if err := sf.f.Close(); err != nil {
		t.Fatal(err)
	}
	return sf.partial, time.Duration(sf.sealedDTS) * time.Second / Timescale
}

// TestCheckKeepsTheSealedFootageOfACrashedSegment: the start-up check keeps
// a segment in progress at a crash up to its last seal and discards the
// torn chunk after it; removes one with nothing sealed; finishes a salvage
// that a second crash interrupted; quarantines what does not authenticate.
// Index and files agree and every segment verifies afterwards.
func TestCheckKeepsTheSealedFootageOfACrashedSegment(t *testing.T) {
	start := time.Date(2026, 11, 22, 9, 0, 0, 0, KST)
	cases := []struct {
		name string
		// crash leaves the files; it returns the footage that must be kept
		// (0: none).
		crash func(t *testing.T, s *Store) time.Duration
		want  CheckReport
		alarm string
	}{
		{"torn last chunk", func(t *testing.T, s *Store) time.Duration {
			p, sealed := crashPartial(t, s, "cam-1", start, 90, time.Second)
			f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			// The length of a chunk and part of its ciphertext: the write
			// the process died in.
			if _, err := f.Write([]byte{0, 0, 0x10, 0, 1, 2, 3, 4, 5, 6, 7}); err != nil {
				t.Fatal(err)
			}
			f.Close()
			return sealed
		}, CheckReport{Salvaged: 1}, ""},
		{"nothing sealed yet", func(t *testing.T, s *Store) time.Duration {
			_, sealed := crashPartial(t, s, "cam-1", start, 10, time.Second)
			if sealed != 0 {
				t.Fatalf("sealed %v", sealed)
			}
			return 0
		}, CheckReport{Discarded: 1}, ""},
		{"salvage interrupted by a second crash", func(t *testing.T, s *Store) time.Duration {
			p, sealed := crashPartial(t, s, "cam-1", start, 60, 500*time.Millisecond)
			if err := os.Rename(p, p+".salvage"); err != nil {
				t.Fatal(err)
			}
			// The rewrite had begun: a header and nothing sealed.
			crashPartial(t, s, "cam-1", start, 0, time.Second)
			return sealed
		}, CheckReport{Salvaged: 1}, ""},
		{"not a segment", func(t *testing.T, s *Store) time.Duration {
			p, _ := crashPartial(t, s, "cam-1", start, 60, time.Second)
			if err := os.WriteFile(p, []byte("GWREC1\n not sealed by us, and long enough to be a header"), 0o600); err != nil {
				t.Fatal(err)
			}
			return 0
		}, CheckReport{Quarantined: 1}, AlarmQuarantined},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			al := &alarms{}
			s := newTestStore(t, StoreConfig{Alarm: al.add, ChunkSize: 8 << 10})
			keep := tc.crash(t, s)
			rep, err := s.Check(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			want := tc.want
			want.Files = rep.Files
			if rep != want {
				t.Fatalf("check: %+v, want %+v", rep, want)
			}
			segs := checkAgree(t, s)
			if keep == 0 {
				if len(segs) != 0 {
					t.Fatalf("%d segments indexed", len(segs))
				}
			} else {
				if len(segs) != 1 {
					t.Fatalf("%d segments indexed", len(segs))
				}
				got := segs[0].End.Sub(segs[0].Start)
				if !segs[0].Start.Equal(start) || got != keep {
					t.Fatalf("salvaged %v from %v, want %v sealed from %v", got, segs[0].Start, keep, start)
				}
			}
			if (tc.alarm == "") != (len(al.a) == 0) || (tc.alarm != "" && al.count(tc.alarm) != 1) {
				t.Fatalf("alarms %+v, want %q", al.a, tc.alarm)
			}
		})
	}
}
