package policy

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/gwanje/gwanje/devices"
)

func TestDiffLines(t *testing.T) {
	for _, tc := range []struct {
		name string
		a, b []string
		want []Hunk
	}{
		{"equal", []string{"a", "b"}, []string{"a", "b"}, nil},
		{"changed line", []string{"a", "b", "c"}, []string{"a", "B", "c"}, []Hunk{{Before: []string{"b"}, After: []string{"B"}}}},
		{"added", []string{"a"}, []string{"a", "b"}, []Hunk{{After: []string{"b"}}}},
		{"removed", []string{"a", "b"}, []string{"b"}, []Hunk{{Before: []string{"a"}}}},
		{"two hunks", []string{"a", "b", "c", "d"}, []string{"A", "b", "c", "D"},
			[]Hunk{{Before: []string{"a"}, After: []string{"A"}}, {Before: []string{"d"}, After: []string{"D"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := diffLines(tc.a, tc.b); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParticles(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"장흥군", "장흥군은"}, {"인천광역시", "인천광역시는"}, {"○○시", "○○시는"}, {"gwanje", "gwanje는"}, {"미추홀구", "미추홀구는"},
	} {
		if got := topic(tc.in); got != tc.want {
			t.Errorf("topic(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestProposeRevision(t *testing.T) {
	st := Change{Kind: KindStatus}
	out := Change{Kind: KindOutsourcing}
	txt := Change{Kind: KindText, Label: "7. 영상정보의 안전성 확보조치"}
	for _, tc := range []struct {
		name    string
		first   bool
		changes []Change
		want    string
	}{
		{"first", true, nil, "제정"},
		{"status", false, []Change{st, st}, "설치 및 운영현황 현행화"},
		{"outsourcing", false, []Change{out}, "위탁에 관한 사항 현행화"},
		{"both", false, []Change{out, st}, "설치 및 운영현황 현행화; 위탁에 관한 사항 현행화"},
		{"text too", false, []Change{st, txt}, "설치 및 운영현황 현행화; 영상정보의 안전성 확보조치 변경"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ProposeRevision(tc.first, tc.changes); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestNum(t *testing.T) {
	for in, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 3278: "3,278", 370000: "370,000", 1234567: "1,234,567"} {
		if got := num(in); got != want {
			t.Errorf("num(%d) = %q, want %q", in, got, want)
		}
	}
}

// bigReport is shaped like 인천 미추홀구 (1,995 sites, 3,278 cameras).
func bigReport() *devices.InstallationReport {
	rep := &devices.InstallationReport{}
	purposes := []struct{ local, national, dept string }{
		{"방범", devices.NationalLivingCrime, "안전총괄과"}, {"어린이보호", devices.NationalChild, "안전총괄과"},
		{"주정차단속", devices.NationalTrafficEnf, "교통행정과"}, {"쓰레기단속", devices.NationalWaste, "자원순환과"},
		{"시설물관리", devices.NationalFacility, "총무과"},
	}
	sites := map[string]bool{}
	for i := range 3278 {
		p := purposes[i%len(purposes)]
		site := fmt.Sprintf("s%04d", i%1995)
		sites[site] = true
		c := devices.ReportCamera{SiteName: "개소 " + site}
		c.SiteID, c.Purpose, c.NationalPurpose, c.Department = site, p.local, p.national, p.dept
		c.LegalBasis, c.RetentionDays, c.Schedule, c.StoragePlace = devices.BasisCrime, 30, "24시간", "미추홀구청 CCTV 통합관제센터"
		c.Manager, c.ManagerPhone, c.Coverage, c.Signage = "관리자", "032-880-4000", "반경 100M 이내", devices.SignagePhysical
		rep.Cameras = append(rep.Cameras, c)
	}
	rep.Total = devices.Total{Key: "합계", Sites: len(sites), Cameras: len(rep.Cameras)}
	return rep
}

func TestBuildLargeRegistry(t *testing.T) {
	d := Build(Institution{Name: "인천광역시 미추홀구"}, bigReport(), nil)
	md := RenderMarkdown(&d, VersionInfo{}, nil, nil)
	if !strings.Contains(md, "총 1,995개소 3,278대") || !strings.Contains(md, "개소") || !strings.Contains(md, " 외 ") {
		t.Errorf("large document:\n%.2000s", md)
	}
	if len(md) > 64<<10 {
		t.Errorf("the document lists every site: %d bytes", len(md))
	}
}

func BenchmarkBuildAndRender(b *testing.B) {
	rep := bigReport()
	for b.Loop() {
		d := Build(Institution{Name: "인천광역시 미추홀구"}, rep, nil)
		if _, err := RenderHTML(&d, VersionInfo{Number: 1}, nil, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func TestRetentionSummary(t *testing.T) {
	rc := func(site string, days int, notStored bool, reason string) *devices.ReportCamera {
		return &devices.ReportCamera{SiteName: site, Camera: devices.Camera{CameraFields: devices.CameraFields{
			RetentionDays: days, NotStored: notStored, RetentionReason: reason}}}
	}
	many := func(site string, n, days int) []*devices.ReportCamera {
		var out []*devices.ReportCamera
		for i := 0; i < n; i++ {
			out = append(out, rc(site, days, false, ""))
		}
		return out
	}
	for _, tc := range []struct {
		name string
		cams []*devices.ReportCamera
		want string
	}{
		{"one", many("a", 3, 30), "촬영일로부터 30일"},
		{"not stored with its qualifier", []*devices.ReportCamera{rc("a", 0, true, "위반차량 사진자료 준영구 보관")},
			"미보유 (위반차량 사진자료 준영구 보관)"},
		{"an exception at one site", append(many("본관", 6, 30), many("○○전수관", 1, 21)...), "촬영일로부터 30일 (*○○전수관 21일)"},
		// 7 sorts before 30 and 90 by duration, not as text ("30" < "7").
		{"by duration", append(append(many("a", 3, 90), many("b", 3, 7)...), append(many("c", 3, 30), rc("d", 0, true, ""))...),
			"촬영일로부터 7일 (3대), 촬영일로부터 30일 (3대), 촬영일로부터 90일 (3대), 미보유 (저장하지 않음) (1대)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := retentionSummary(tc.cams); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestOutsourcingRowPerFacility: a contract whose facilities have their own
// contacts is published one row per facility; one with a single contact is
// one row naming the number of facilities.
func TestOutsourcingRowPerFacility(t *testing.T) {
	rc := func(site, contact, phone string) *devices.ReportCamera {
		return &devices.ReportCamera{SiteName: site, Camera: devices.Camera{CameraFields: devices.CameraFields{SiteID: "id-" + site}},
			Contractor: devices.Contractor{Name: "한국시설관리(주)", Contact: contact, Phone: phone}}
	}
	cams := []*devices.ReportCamera{rc("문학경기장", "이정비", "032-1"), rc("삼산월드체육관", "김정비", "032-2"), rc("중앙공원", "", "")}
	cl := outsourcingClause(Institution{Name: "인천광역시"}.withDefaults(), cams, []Outsourcing{
		{Contractor: "한국시설관리(주)", Work: "경기장 CCTV 유지보수", Contact: "박유지", Phone: "032-9", Sites: []string{"id-문학경기장", "id-삼산월드체육관"}},
		{Contractor: "새롬정보기술", Work: "통합관제센터 유지보수", Contact: "서저장", Phone: "032-6", Sites: []string{"id-중앙공원", "id-x"}},
	})
	got := cl.Lines()
	for _, want := range []string{
		"수탁업체 | 위탁업무명 | 담당자 | 연락처 | 비고",
		"한국시설관리(주) | 경기장 CCTV 유지보수 | 김정비 | 032-2 | 삼산월드체육관",
		"한국시설관리(주) | 경기장 CCTV 유지보수 | 이정비 | 032-1 | 문학경기장",
		"새롬정보기술 | 통합관제센터 유지보수 | 서저장 | 032-6 | 중앙공원",
	} {
		if !strings.Contains(strings.Join(got, "\n"), want) {
			t.Errorf("lacks %q:\n%s", want, strings.Join(got, "\n"))
		}
	}
}
