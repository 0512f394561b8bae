package record

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"
)

func TestRetentionSweep(t *testing.T) {
	now := time.Date(2026, 5, 20, 12, 0, 0, 0, KST)
	clock := newClock(now)
	s := newTestStore(t, StoreConfig{Now: clock.Now, ChunkSize: 8 << 10})
	ctx := context.Background()
	day := func(d int) time.Time { return now.AddDate(0, 0, d).Add(-time.Hour) }
	// One short segment per (camera, day offset).
	plan := map[string][]int{
		"cam-a": {-40, -31, -29, -1}, // 30 days
		"cam-b": {-10, -8, -6},       // 7 days
		"cam-c": {-1, 0},             // not stored
		"cam-d": {-10, -9},           // 7 days, a hold on day -10
	}
	written := map[string][]Segment{}
	for cam, days := range plan {
		for _, d := range days {
			written[cam] = append(written[cam], writeSegments(t, s, cam, day(d), 1, 10)...)
		}
	}
	// A copy of an expired file, as a backup or a stolen disk would keep it.
	stolen := written["cam-a"][0]
	copyPath := filepath.Join(t.TempDir(), "stolen.gseg")
	b, err := os.ReadFile(s.abs(stolen.Path))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(copyPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	held := written["cam-d"][0]
	hold, err := s.CreateHold(ctx, HoldRequest{Cameras: []string{"cam-d"}, From: held.Start.Add(-time.Minute),
		To: held.End.Add(time.Minute), CaseRef: "서울경찰청 2026-123", Reason: "절도 사건 수사", By: "manager-1"})
	if err != nil {
		t.Fatal(err)
	}
	cams := &mutableCameras{}
	cams.set(Camera{ID: "cam-a", RetentionDays: 30}, Camera{ID: "cam-b", RetentionDays: 7},
		Camera{ID: "cam-c", NotStored: true}, Camera{ID: "cam-d", RetentionDays: 7})
	aud := &memAuditor{}
	sw, err := NewSweeper(SweeperConfig{Store: s, Cameras: cams, Auditor: aud, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	over, err := sw.DailyCheck(ctx)
	if err != nil || len(over) != 4 {
		t.Fatalf("check before the sweep: %v %+v", err, over)
	}

	rep, err := sw.Sweep(ctx)
	if err != nil {
		t.Fatal(err)
	}
	remaining := map[string][]time.Time{}
	for _, sg := range allSegments(t, s) {
		remaining[sg.CameraID] = append(remaining[sg.CameraID], sg.Start)
	}
	want := map[string][]time.Time{
		"cam-a": {day(-29), day(-1)},
		"cam-b": {day(-6)},
		"cam-d": {day(-10)},
	}
	for cam := range plan {
		got, w := remaining[cam], want[cam]
		sort.Slice(got, func(i, j int) bool { return got[i].Before(got[j]) })
		if len(got) != len(w) {
			t.Fatalf("%s: remaining %v, want %v", cam, got, w)
		}
		for i := range w {
			if !got[i].Equal(w[i]) {
				t.Fatalf("%s: remaining %v, want %v", cam, got, w)
			}
		}
	}
	// Exactly the removed files are gone.
	for cam, segs := range written {
		for _, sg := range segs {
			_, err := os.Stat(s.abs(sg.Path))
			kept := false
			for _, w := range want[cam] {
				kept = kept || w.Equal(sg.Start)
			}
			if kept != (err == nil) {
				t.Fatalf("%s %s: kept %v, stat %v", cam, sg.Path, kept, err)
			}
		}
	}
	// Keys: every day whose segments are all gone and that ended, and only those.
	rows, err := s.pool.Query(ctx, `select camera_id, day, wrapped is null from recording_keys order by camera_id, day`)
	if err != nil {
		t.Fatal(err)
	}
	destroyed := map[string]bool{}
	for rows.Next() {
		var cam string
		var d time.Time
		var gone bool
		if err := rows.Scan(&cam, &d, &gone); err != nil {
			t.Fatal(err)
		}
		destroyed[cam+" "+d.Format(time.DateOnly)] = gone
	}
	ds := func(d int) string { return day(d).Format(time.DateOnly) }
	for k, w := range map[string]bool{
		"cam-a " + ds(-40): true, "cam-a " + ds(-31): true, "cam-a " + ds(-29): false, "cam-a " + ds(-1): false,
		"cam-b " + ds(-10): true, "cam-b " + ds(-8): true, "cam-b " + ds(-6): false,
		"cam-c " + ds(-1): true, "cam-c " + ds(0): false, // today has not ended: its key stays
		"cam-d " + ds(-10): false, "cam-d " + ds(-9): true,
	} {
		if g, ok := destroyed[k]; !ok || g != w {
			t.Errorf("key %s destroyed=%v (present %v), want %v", k, g, ok, w)
		}
	}
	// The copy cannot be decrypted any more.
	s.keys.forget(stolen.KeyID)
	stolen.Path = "../" + filepath.Base(copyPath)
	if _, err := s.keys.key(ctx, stolen.KeyID); !errors.Is(err, ErrKeyDestroyed) {
		t.Fatalf("destroyed key: %v", err)
	}
	// 파기 entries: one per camera with destroyed footage, with the ledger's details.
	entries := aud.ofType(EntryDestroy)
	byCam := map[string]int{}
	for _, e := range entries {
		byCam[e.Cameras[0]]++
		for _, k := range []string{"camera", "period", "file", "cycle", "checked_at"} {
			if e.Details[k] == nil || e.Details[k] == "" {
				t.Fatalf("entry without %s: %+v", k, e)
			}
		}
		if e.Details["cycle"] != rep.Cycle || e.Actor.Username != SweeperActor {
			t.Fatalf("entry %+v", e)
		}
		if files, ok := e.Details["files"].([]string); ok && (e.FootageFrom == nil || len(files) == 0) {
			t.Fatalf("footage entry without range or files: %+v", e)
		}
	}
	// cam-a, cam-b, cam-c, cam-d footage; and key entries for a, b, c, d.
	for _, cam := range []string{"cam-a", "cam-b", "cam-c", "cam-d"} {
		if byCam[cam] != 2 {
			t.Fatalf("entries per camera: %v", byCam)
		}
	}
	if rep.Held != 1 {
		t.Fatalf("held %d", rep.Held)
	}
	if over, err := sw.DailyCheck(ctx); err != nil || len(over) != 0 {
		t.Fatalf("check after the sweep: %v %+v", err, over)
	}

	// Shortening retention applies at the next sweep; the hold ends.
	cams.set(Camera{ID: "cam-a", RetentionDays: 1}, Camera{ID: "cam-b", RetentionDays: 7},
		Camera{ID: "cam-c", NotStored: true}, Camera{ID: "cam-d", RetentionDays: 7})
	if _, err := s.ReleaseHold(ctx, hold.ID, "manager-1", "사건 종결"); err != nil {
		t.Fatal(err)
	}
	if _, err := sw.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if n := countSegments(t, s, "cam-a"); n != 0 {
		t.Fatalf("cam-a after shortening: %d segments", n)
	}
	if n := countSegments(t, s, "cam-d"); n != 0 {
		t.Fatalf("cam-d after the hold was released: %d segments", n)
	}
	// A failing audit store stops destruction (fail closed).
	writeSegments(t, s, "cam-b", day(-20), 1, 10)
	aud.fail = errors.New("audit down")
	if _, err := sw.Sweep(ctx); err == nil {
		t.Fatal("sweep without audit succeeded")
	}
	if n := countSegments(t, s, "cam-b"); n != 2 {
		t.Fatalf("cam-b destroyed without its entry: %d segments left", n)
	}
}

func TestHoldValidation(t *testing.T) {
	s := newTestStore(t, StoreConfig{})
	ctx := context.Background()
	now := time.Now()
	for _, req := range []HoldRequest{
		{From: now, To: now.Add(time.Hour), CaseRef: "c", Reason: "r", By: "u"},
		{Cameras: []string{"a"}, From: now, To: now, CaseRef: "c", Reason: "r", By: "u"},
		{Cameras: []string{"a"}, From: now, To: now.Add(time.Hour), Reason: "r", By: "u"},
		{Cameras: []string{"a"}, From: now, To: now.Add(time.Hour), CaseRef: "c", By: "u"},
		{Cameras: []string{"a"}, From: now, To: now.Add(time.Hour), CaseRef: "c", Reason: "r"},
	} {
		if _, err := s.CreateHold(ctx, req); !errors.Is(err, ErrInvalid) {
			t.Fatalf("%+v: %v", req, err)
		}
	}
	until := now.Add(-time.Minute)
	h, err := s.CreateHold(ctx, HoldRequest{Cameras: []string{"a", "b"}, From: now, To: now.Add(time.Hour),
		CaseRef: "c", Reason: "r", By: "u", Until: &until})
	if err != nil {
		t.Fatal(err)
	}
	if act, _ := s.ListHolds(ctx, "a", true); len(act) != 0 {
		t.Fatalf("expired hold listed as active: %+v", act)
	}
	if all, _ := s.ListHolds(ctx, "b", false); len(all) != 1 || all[0].ID != h.ID {
		t.Fatalf("holds %+v", all)
	}
	if _, err := s.ReleaseHold(ctx, "hold-x", "u", ""); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
}
