package devices

import (
	"errors"
	"slices"
	"testing"
)

func TestBatchUpdate(t *testing.T) {
	e := newEnv(t)
	site := e.site("장흥읍 사거리")
	var ids []string
	for _, name := range []string{"1번", "2번", "3번", "4번"} {
		c, err := e.reg.CreateCamera(e.ctx, fields(site, name), e.actor)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.ID)
	}
	if _, err := e.reg.Decommission(e.ctx, ids[3], "철거", e.actor); err != nil {
		t.Fatal(err)
	}
	a := e.actor
	a.Reason = "운영현황 현행화: 보관기간 60일로 변경"
	change := CameraFields{RetentionDays: 60, RetentionReason: "방범 영상 수사 협조 기간", MonitoringPlace: "장흥군 CCTV 통합관제센터"}
	mask := []string{"retention_days", "retention_reason", "monitoring_place"}
	entries := func(typ string) int { return e.count(`select count(*) from test_audit where type=$1`, typ) }
	stored := func() int {
		return e.count(`select count(*) from devices_cameras where retention_days=60 and monitoring_place <> ''`)
	}

	for _, tc := range []struct {
		name string
		req  BatchUpdateRequest
		a    Actor
		want error
	}{
		{"a decommissioned camera refuses the batch", BatchUpdateRequest{IDs: ids, Fields: change, Mask: mask}, a, ErrConflict},
		{"an invalid result refuses the batch", BatchUpdateRequest{IDs: ids[:3], Fields: CameraFields{RetentionDays: 5000}, Mask: []string{"retention_days"}}, a, ErrInvalid},
		{"an unknown field", BatchUpdateRequest{IDs: ids[:3], Fields: change, Mask: []string{"colour"}}, a, ErrInvalid},
		{"no mask", BatchUpdateRequest{IDs: ids[:3], Fields: change}, a, ErrInvalid},
		{"no cameras", BatchUpdateRequest{Fields: change, Mask: mask}, a, ErrInvalid},
		{"an unknown camera", BatchUpdateRequest{IDs: append(slices.Clone(ids[:2]), newID()), Fields: change, Mask: mask}, a, ErrNotFound},
		{"no reason", BatchUpdateRequest{IDs: ids[:3], Fields: change, Mask: mask}, e.actor, ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := e.reg.BatchUpdate(e.ctx, tc.req, tc.a); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if n := stored(); n != 0 || entries("device.update.batch") != 0 {
				t.Fatalf("a refused batch changed %d cameras", n)
			}
		})
	}

	n, err := e.reg.BatchUpdate(e.ctx, BatchUpdateRequest{IDs: ids[:3], Fields: change, Mask: mask, ValidateOnly: true}, a)
	if err != nil || n != 3 || stored() != 0 || entries("device.update.batch") != 0 {
		t.Fatalf("validate only: %d %v, %d stored", n, err, stored())
	}
	// The same camera twice counts once.
	n, err = e.reg.BatchUpdate(e.ctx, BatchUpdateRequest{IDs: append(slices.Clone(ids[:3]), ids[0]), Fields: change, Mask: mask}, a)
	if err != nil || n != 3 || stored() != 3 {
		t.Fatalf("batch: %d %v, %d stored", n, err, stored())
	}
	if entries("device.update.batch") != 1 || entries("device.update") != 0 {
		t.Fatalf("%d batch entries, %d single entries", entries("device.update.batch"), entries("device.update"))
	}
	var cams []string
	var reason string
	if err := e.pool.QueryRow(e.ctx, `select cameras, reason from test_audit where type='device.update.batch'`).Scan(&cams, &reason); err != nil {
		t.Fatal(err)
	}
	slices.Sort(cams)
	want := slices.Clone(ids[:3])
	slices.Sort(want)
	if !slices.Equal(cams, want) || reason != a.Reason {
		t.Fatalf("the entry lists %v (%q), want %v", cams, reason, want)
	}
	// Fields outside the mask are kept.
	c, err := e.reg.Get(e.ctx, ids[1])
	if err != nil || c.Name != "2번" || c.StoragePlace != "장흥군 CCTV 통합관제센터" || c.MonitoringPlace != change.MonitoringPlace {
		t.Fatalf("camera after the batch: %+v %v", c.CameraFields, err)
	}

	sel, err := e.reg.SelectIDs(e.ctx, Filter{SiteID: site.ID}, MaxBatchUpdate)
	if err != nil || len(sel) != 3 {
		t.Fatalf("select: %v %v", sel, err)
	}
}
