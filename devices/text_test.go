package devices

import (
	"errors"
	"strings"
	"testing"
)

// TestBidiControlsRefused (issue 14, finding 9): site and camera names and
// other displayed fields holding bidirectional formatting characters are
// refused with ErrInvalid, through every way in (the API and the open-data
// CSV import), and nothing is stored.
func TestBidiControlsRefused(t *testing.T) {
	e := newEnv(t)
	site := e.site("중앙로 사거리")
	for _, tc := range []struct {
		name string
		do   func() error
	}{
		{"site name", func() error {
			_, err := e.reg.CreateSite(e.ctx, SiteFields{Name: "시민공원\u202e", Department: "안전총괄과"}, e.actor)
			return err
		}},
		{"site update", func() error {
			_, err := e.reg.UpdateSite(e.ctx, site.ID, SiteFields{Name: "\u2068중앙로", Department: "안전총괄과"}, e.actor)
			return err
		}},
		{"camera name", func() error {
			_, err := e.reg.CreateCamera(e.ctx, fields(site, "광장\u202a1"), e.actor)
			return err
		}},
		{"camera manager", func() error {
			f := fields(site, "광장2")
			f.Manager = "홍\u200f길동"
			_, err := e.reg.CreateCamera(e.ctx, f, e.actor)
			return err
		}},
		{"open-data CSV import", func() error {
			csv := strings.Replace(goodCSV, "서울특별시 종로구청", "서울특별시 종로구청\u202e", 1)
			_, err := e.reg.ImportOpenData(e.ctx, strings.NewReader(csv), ImportOptions{}, e.actor)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.do(); !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
		})
	}
	if n := e.count(`select count(*) from devices_sites`); n != 1 {
		t.Fatalf("%d sites stored, want only the first", n)
	}
	if n := e.count(`select count(*) from devices_cameras`); n != 0 {
		t.Fatalf("%d cameras stored", n)
	}
	if n := e.count(`select count(*) from devices_sites where name like '%중앙로%' and name <> '중앙로 사거리'`); n != 0 {
		t.Fatal("site renamed")
	}
}
