package devices

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/gwanje/gwanje/camsim"
)

func TestCameraLifecycleAndList(t *testing.T) {
	e := newEnv(t)
	s1, s2 := e.site("군청앞"), e.site("해수욕장")
	mk := func(site Site, name, purpose, dept string, labels ...string) Camera {
		f := fields(site, name)
		f.Purpose, f.Department, f.Labels = purpose, dept, labels
		c, err := e.reg.CreateCamera(e.ctx, f, e.actor)
		if err != nil {
			t.Fatalf("CreateCamera %s: %v", name, err)
		}
		return c
	}
	a := mk(s1, "정문", "방범", "안전총괄과", "sensitive")
	b := mk(s1, "후문", "방범", "안전총괄과")
	c := mk(s2, "산불1", "산불감시", "산림과")
	if a.Lifecycle != Planned || c.NationalPurpose != NationalDisaster || c.LegalBasis != BasisFacilitySafety {
		t.Fatalf("created %+v / %+v", a.CameraFields, c)
	}
	list := func(f Filter) []string {
		t.Helper()
		var names []string
		for {
			p, err := e.reg.List(e.ctx, f)
			if err != nil {
				t.Fatalf("List(%+v): %v", f, err)
			}
			for _, c := range p.Cameras {
				names = append(names, c.Name)
			}
			if p.NextCursor == "" {
				return names
			}
			f.Cursor = p.NextCursor
		}
	}
	for _, tc := range []struct {
		f    Filter
		want int
	}{
		{Filter{}, 3}, {Filter{Limit: 1}, 3}, {Filter{SiteID: s1.ID}, 2}, {Filter{Purpose: "산불감시"}, 1},
		{Filter{NationalPurpose: NationalLivingCrime}, 2}, {Filter{Department: "산림과"}, 1},
		{Filter{Label: "SENSITIVE"}, 1}, {Filter{Text: "후"}, 1}, {Filter{Text: "%"}, 0},
		{Filter{Lifecycle: Planned}, 3}, {Filter{Lifecycle: Active}, 0}, {Filter{ContractorID: "c-1"}, 3},
		{Filter{SiteIDs: []string{s2.ID}}, 1}, {Filter{SiteID: "nonsense"}, 0},
	} {
		if got := list(tc.f); len(got) != tc.want {
			t.Errorf("List(%+v) = %v, want %d", tc.f, got, tc.want)
		}
	}
	if _, err := e.reg.List(e.ctx, Filter{Cursor: "garbage"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad cursor: %v", err)
	}

	// Update: a masked change, validated as a whole.
	upd := CameraFields{Lifecycle: Active, RetentionDays: 60, RetentionReason: "주요 범죄 다발 지역", Schedule: "평일 07:00~09:00"}
	got, err := e.reg.Update(e.ctx, UpdateRequest{ID: b.ID, Fields: upd, Mask: []string{"lifecycle", "retention_days", "retention_reason", "schedule"}}, e.actor)
	if err != nil || got.Lifecycle != Active || got.RetentionDays != 60 || got.Name != "후문" || got.Schedule != "평일 07:00~09:00" {
		t.Fatalf("Update: %+v %v", got.CameraFields, err)
	}
	for _, bad := range []UpdateRequest{
		{ID: b.ID, Fields: CameraFields{RetentionDays: 90}, Mask: []string{"retention_days", "retention_reason"}},
		{ID: b.ID, Fields: CameraFields{Position: &Position{126.9, 37.5}}, Mask: []string{"position"}},
		{ID: b.ID, Fields: CameraFields{Purpose: "감시"}, Mask: []string{"purpose"}},
		{ID: b.ID, Fields: CameraFields{Schedule: "단속기간 내"}, Mask: []string{"schedule"}},
		{ID: b.ID, Fields: CameraFields{Lifecycle: Decommissioned}, Mask: []string{"lifecycle"}},
		{ID: b.ID, Fields: CameraFields{LegalBasis: 6}, Mask: []string{"legal_basis"}},
		{ID: b.ID, Fields: CameraFields{InstallYM: "202613"}, Mask: []string{"install_ym"}},
		{ID: b.ID, Mask: []string{"colour"}},
	} {
		if _, err := e.reg.Update(e.ctx, bad, e.actor); !errors.Is(err, ErrInvalid) {
			t.Errorf("Update(%+v): %v, want ErrInvalid", bad.Mask, err)
		}
	}
	if _, err := e.reg.Update(e.ctx, UpdateRequest{ID: b.ID, Fields: CameraFields{NotStored: true}, Mask: []string{"not_stored"}}, e.actor); err != nil {
		t.Errorf("not stored: %v", err)
	}
	if _, err := e.reg.Update(e.ctx, UpdateRequest{ID: b.ID, Fields: CameraFields{SiteID: newID()}, Mask: []string{"site_id"}}, e.actor); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown site: %v", err)
	}
	if _, err := e.reg.Get(e.ctx, newID()); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get unknown: %v", err)
	}

	// Decommission keeps the row.
	d, err := e.reg.Decommission(e.ctx, a.ID, "철거 (도로 확장 공사)", e.actor)
	if err != nil || d.Lifecycle != Decommissioned || d.DecommissionedAt == nil {
		t.Fatalf("Decommission: %+v %v", d, err)
	}
	if _, err := e.reg.Decommission(e.ctx, a.ID, "again", e.actor); !errors.Is(err, ErrConflict) {
		t.Errorf("second Decommission: %v", err)
	}
	if _, err := e.reg.Update(e.ctx, UpdateRequest{ID: a.ID, Fields: CameraFields{Name: "x"}, Mask: []string{"name"}}, e.actor); !errors.Is(err, ErrConflict) {
		t.Errorf("Update decommissioned: %v", err)
	}
	if got := list(Filter{}); len(got) != 2 {
		t.Errorf("List after decommission: %v", got)
	}
	if got := list(Filter{IncludeDecommissioned: true}); len(got) != 3 {
		t.Errorf("List with decommissioned: %v", got)
	}
	if n := e.count(`select count(*) from devices_cameras`); n != 3 {
		t.Errorf("%d rows", n)
	}
	for typ, want := range map[string]int{"site.create": 2, "device.create": 3, "device.update": 2, "device.decommission": 1} {
		if n := e.count(`select count(*) from test_audit where type=$1`, typ); n != want {
			t.Errorf("%d %s audit entries, want %d", n, typ, want)
		}
	}
	// A failing audit store changes nothing.
	e.aud.fail.Store(true)
	if _, err := e.reg.Update(e.ctx, UpdateRequest{ID: c.ID, Fields: CameraFields{Name: "renamed"}, Mask: []string{"name"}}, e.actor); err == nil {
		t.Fatal("Update without audit succeeded")
	}
	if got, _ := e.reg.Get(e.ctx, c.ID); got.Name != "산불1" {
		t.Fatalf("changed without audit: %q", got.Name)
	}
}

func TestCredentialKey(t *testing.T) {
	e := newEnv(t)
	site := e.site("site")
	cam := startCam(t, camsim.Config{Dialect: camsim.DialectDahua})
	dir := t.TempDir()
	reg, err := New(Config{Pool: e.pool, Auditor: e.aud, DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	keyPath := filepath.Join(dir, KeyFileName)
	st, err := os.Stat(keyPath)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", st, err)
	}
	res, err := reg.Register(e.ctx, RegisterRequest{DeviceURL: cam.DeviceServiceURL(), Username: "admin", Password: "camsim",
		Fields: fields(site, "cam")}, e.actor)
	if err != nil {
		t.Fatal(err)
	}
	// The same key file (given explicitly) opens the credentials; another key does not.
	reg2, err := New(Config{Pool: e.pool, Auditor: e.aud, KeyFile: keyPath})
	if err != nil {
		t.Fatal(err)
	}
	if c, err := reg2.Credentials(e.ctx, res.Camera.ID); err != nil || c.Password != "camsim" {
		t.Fatalf("Credentials with the key file: %v", err)
	}
	if _, err := e.reg.Credentials(e.ctx, res.Camera.ID); err == nil {
		t.Fatal("another key opened the credentials")
	}
	// Rotation: the env registry's key is new, the old one is previous.
	rot, err := New(Config{Pool: e.pool, Auditor: e.aud, DataDir: e.dataDir, PreviousKeyFiles: []string{keyPath}})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := rot.ResealCredentials(e.ctx, e.actor); err != nil || n != 1 {
		t.Fatalf("ResealCredentials: %d %v", n, err)
	}
	if c, err := e.reg.Credentials(e.ctx, res.Camera.ID); err != nil || c.Password != "camsim" {
		t.Fatalf("after reseal, the new key: %v", err)
	}
	if n, err := rot.ResealCredentials(e.ctx, e.actor); err != nil || n != 0 {
		t.Fatalf("second ResealCredentials: %d %v", n, err)
	}
	if c, err := reg2.Credentials(e.ctx, res.Camera.ID); err == nil {
		t.Fatalf("the old key alone still opens resealed credentials: %v", c)
	}
	if _, err := rot.ResealCredentials(e.ctx, e.actor); err != nil {
		t.Fatal(err)
	}
	// Back to the old key for the rest of the test.
	back, err := New(Config{Pool: e.pool, Auditor: e.aud, KeyFile: keyPath, PreviousKeyFiles: []string{filepath.Join(e.dataDir, KeyFileName)}})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := back.ResealCredentials(e.ctx, e.actor); err != nil || n != 1 {
		t.Fatalf("reseal back: %d %v", n, err)
	}
	// New credentials replace the old ones, audited without them.
	if err := reg2.SetCredentials(e.ctx, res.Camera.ID, Credentials{Username: "operator", Password: "n3w-secret"}, e.actor); err != nil {
		t.Fatal(err)
	}
	if c, err := reg2.Credentials(e.ctx, res.Camera.ID); err != nil || c.Username != "operator" || c.Password != "n3w-secret" {
		t.Fatalf("after SetCredentials: %v %v", c, err)
	}
	if n := e.count(`select count(*) from test_audit where details::text like '%n3w-secret%'`); n != 0 {
		t.Fatal("password in the audit trail")
	}
	// A decommissioned camera frees its device URL for a new registration.
	if _, err := reg.Decommission(e.ctx, res.Camera.ID, "교체", e.actor); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Register(e.ctx, RegisterRequest{DeviceURL: cam.DeviceServiceURL(), Username: "admin", Password: "camsim",
		Fields: fields(site, "replacement")}, e.actor); err != nil {
		t.Fatalf("register after decommission: %v", err)
	}
	reg.Close()
	reg.Close()
	if _, err := reg.Register(e.ctx, RegisterRequest{}, e.actor); err == nil {
		t.Fatal("closed registry registered")
	}
}
