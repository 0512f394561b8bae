package policy_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gwanje/gwanje/devices"
	"github.com/gwanje/gwanje/privacy/policy"
)

// cityRegistry loads a registry shaped like a large city's published
// policy: several departments, one of which runs two operation tables
// (its 교통정보수집 cameras and its 버스전용차로 단속 cameras with a BRT
// part), 1,233 cameras: 안전정책과's in three retention bands (868 / 150 /
// 6), cameras that store nothing ("미보유 (위반차량 사진자료 준영구 보관)"), a
// site that keeps footage less long ("30일 (*문학경기장 21일)"), and a
// contractor maintaining 14 facilities, each with its own contact.
func cityRegistry(e *env) []policy.Outsourcing {
	e.t.Helper()
	active := devices.Active
	cam := func(purpose, dept, sched string, days int, storage, manager, phone string) devices.CameraFields {
		return devices.CameraFields{Purpose: purpose, Department: dept, Schedule: sched, RetentionDays: days, StoragePlace: storage,
			Manager: manager, ManagerPhone: phone, Coverage: "반경 100M 이내", MonitoringMethod: "상시 모니터링",
			AccessPersons: []string{"관제요원", dept + " 담당자"}, Lifecycle: active}
	}
	// 안전정책과: 방범, 30 days, 868 cameras at 124 sites; 문학경기장 keeps 21 days.
	for i := 1; i <= 124; i++ {
		s := e.site(devices.SiteFields{Name: fmt.Sprintf("방범 %03d", i), Department: "안전정책과", RoadAddress: fmt.Sprintf("인천 남동구 방범로 %d", i)})
		e.cameras(s, 7, cam("방범", "안전정책과", "24시간", 30, "인천광역시 통합관제센터", "안전정책과장", "032-440-2111"))
	}
	// 150 cameras keep 90 days and 6 keep 180 (bands: 1개월 이내, 1~3개월, 3개월~1년).
	for i := 1; i <= 30; i++ {
		s := e.site(devices.SiteFields{Name: fmt.Sprintf("우범지역 %02d", i), Department: "안전정책과"})
		c := cam("방범", "안전정책과", "24시간", 90, "인천광역시 통합관제센터", "안전정책과장", "032-440-2111")
		c.RetentionReason = "우범지역 수사 협조"
		e.cameras(s, 5, c)
	}
	for i := 1; i <= 2; i++ {
		s := e.site(devices.SiteFields{Name: fmt.Sprintf("청사 주변 %d", i), Department: "안전정책과"})
		c := cam("방범", "안전정책과", "24시간", 180, "인천광역시 통합관제센터", "안전정책과장", "032-440-2111")
		c.RetentionReason = "청사 방호"
		e.cameras(s, 3, c)
	}
	mh := e.site(devices.SiteFields{Name: "문학경기장", Department: "시설관리과", RoadAddress: "인천 미추홀구 매소홀로 618"})
	e.cameras(mh, 4, cam("시설물관리", "시설관리과", "24시간", 21, "각 주차장 관리실", "시설관리과장", "032-440-5011"))
	// 교통정보과: 방범 (its own table) and 버스전용차로 단속 with a BRT part.
	for i := 1; i <= 20; i++ {
		s := e.site(devices.SiteFields{Name: fmt.Sprintf("교차로 %02d", i), Department: "교통정보과"})
		c := cam("교통정보수집", "교통정보과", "24시간", 60, "교통정보센터", "교통정보과장", "032-440-3811")
		c.RetentionReason = "교통사고 분석"
		e.cameras(s, 5, c)
	}
	for i := 1; i <= 10; i++ {
		s := e.site(devices.SiteFields{Name: fmt.Sprintf("버스전용차로 %02d", i), Department: "교통정보과"})
		e.cameras(s, 4, devices.CameraFields{Purpose: "불법주정차단속 (주정차단속)", Department: "교통정보과", Schedule: "평일 07:00~09:00, 17:00~20:00",
			NotStored: true, RetentionReason: "위반차량 사진자료 준영구 보관", StoragePlace: "교통정보센터", Manager: "교통정보과장",
			ManagerPhone: "032-440-3811", Coverage: "차로 1개", Lifecycle: active})
	}
	for i := 1; i <= 3; i++ {
		s := e.site(devices.SiteFields{Name: fmt.Sprintf("BRT 정류장 %d", i), Department: "교통정보과"})
		e.cameras(s, 2, devices.CameraFields{Purpose: "불법주정차단속 (주정차단속)", Department: "교통정보과", Schedule: "24시간",
			NotStored: true, RetentionReason: "위반차량 사진자료 준영구 보관", StoragePlace: "교통정보센터", Manager: "교통정보과장",
			ManagerPhone: "032-440-3811", Coverage: "차로 1개", Lifecycle: active})
	}
	// 녹지정책과: 산불감시, 180 days, homepage signage; 6 cameras.
	for i := 1; i <= 3; i++ {
		s := e.site(devices.SiteFields{Name: fmt.Sprintf("산불감시 %d", i), Department: "녹지정책과"})
		c := cam("산불감시", "녹지정책과", "24시간", 180, "녹지정책과 서버실", "녹지정책과장", "032-440-4011")
		c.RetentionReason = "산불 원인 조사"
		c.Signage = devices.SignageHomepage
		e.cameras(s, 2, c)
	}
	// 시설관리과: 15 parking lots, 50 cameras, 30 days; one company maintains
	// 14 of them, each with its own contact (the 15th is run directly).
	var facilities []string
	for i := 1; i <= 15; i++ {
		f := devices.SiteFields{Name: fmt.Sprintf("공영주차장 %02d", i), Department: "시설관리과"}
		if i <= 14 {
			f.Contractor = devices.Contractor{Name: "(주)인천시설관리", Contact: fmt.Sprintf("현장소장 %02d", i), Phone: fmt.Sprintf("032-500-%04d", 1000+i)}
		}
		s := e.site(f)
		n := 3
		if i <= 8 {
			n = 4
		}
		e.cameras(s, n, cam("시설물관리", "시설관리과", "24시간", 30, "각 주차장 관리실", "시설관리과장", "032-440-5011"))
		facilities = append(facilities, s.ID)
	}
	return []policy.Outsourcing{
		{Contractor: "(주)인천시설관리", Work: "공영주차장 영상정보처리기기 운영 및 유지보수", Sites: facilities[:14],
			StartsOn: start.AddDate(0, -2, 0), EndsOn: start.AddDate(1, 0, 0)},
		{Contractor: "(주)제이한테크", Work: "CCTV 통합관제센터 유지보수", Contact: "김유지", Phone: "032-868-9166",
			StartsOn: start.AddDate(0, -1, 0), EndsOn: start.AddDate(0, 11, 0)},
	}
}

func citySettings() policy.Institution {
	return policy.Institution{Name: "인천광역시", Scope: "본청, 소속기관 미포함", Homepage: "https://www.incheon.go.kr",
		CPO: policy.Officer{Name: "이보호", Title: "기획조정실장", Department: "정보화담당관", Phone: "032-440-2000"},
		Staff: []policy.Staff{
			{Role: policy.RoleManager, Title: "안전정책과장", Department: "안전정책과", Phone: "032-440-2111"},
			{Role: policy.RoleManager, Title: "교통정보과장", Department: "교통정보과", Phone: "032-440-3811"},
			{Role: policy.RoleAccess, Title: "통합관제담당", Department: "안전정책과", Phone: "032-440-2121"},
			{Role: policy.RoleAccess, Title: "주무관", Department: "안전정책과", Phone: "032-440-2122", Note: "관제요원 관리"},
		},
		ControlCenter: "인천광역시 통합관제센터", RequestPlace: "안전정책과 통합관제팀", ReviewPlace: "인천광역시 통합관제센터 열람실",
		Statutes: map[string]string{"불법주정차단속": "「도로교통법」 제32조, 「수도권대기환경개선에 관한 특별법」", "산불감시": "「산림보호법」 제34조"},
		Tables: []policy.OperationTable{{Name: "버스전용차로 단속", Department: "교통정보과", Purposes: []string{"불법주정차단속"},
			Parts: []policy.TablePart{{Name: "BRT구간", Sites: []string{"BRT 정류장 1", "BRT 정류장 2", "BRT 정류장 3"}}}}},
		Layout: policy.LayoutDepartments, MaxSitesListed: 5,
	}
}

// TestCityPolicyGolden loads a city-sized registry, its settings, its 위탁
// and a dozen earlier revisions through the service and compares the
// published page, section by section, with testdata/golden/city_registry.md.
func TestCityPolicyGolden(t *testing.T) {
	e := newEnv(t)
	contracts := cityRegistry(e)
	svc := e.service(policy.Institution{Name: "인천광역시"}, staticContracts(contracts))
	if _, err := svc.UpdateSettings(e.ctx, e.actor, citySettings(), "도입 설정"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.ImportHistory(e.ctx, e.actor, priors(), "이전 방침 이관"); err != nil {
		t.Fatal(err)
	}
	v, created, err := svc.Publish(e.ctx, e.actor, policy.PublishOptions{AnnounceOn: start.AddDate(0, 0, 1)})
	if err != nil || !created {
		t.Fatal(err)
	}
	if v.Number != 14 || v.Document.Figures.Total.Cameras != 1233 {
		t.Fatalf("version %d with %d cameras", v.Number, v.Document.Figures.Total.Cameras)
	}
	compareSections(t, filepath.Join("testdata", "golden", "city_registry.md"), v.Markdown)

	// Adding a facility to the contract is a 위탁 revision.
	site15 := e.sites["공영주차장 15"]
	if _, err := e.reg.UpdateSite(e.ctx, site15.ID, devices.SiteFields{Name: site15.Name, Department: site15.Department,
		Contractor: devices.Contractor{Name: "(주)인천시설관리", Contact: "현장소장 15", Phone: "032-500-1015"}}, e.dev); err != nil {
		t.Fatal(err)
	}
	contracts[0].Sites = append(contracts[0].Sites, site15.ID)
	svc = e.service(policy.Institution{Name: "인천광역시"}, staticContracts(contracts))
	e.clock.Add(10 * 24 * time.Hour)
	d, err := svc.Draft(e.ctx)
	if err != nil || d.Revision != policy.RevisionOutsourcing || !strings.Contains(d.Markdown, "| 현장소장 15 | 032-500-1015 |") {
		t.Fatalf("a new facility drafts %q (%v), want %q with its row", d.Revision, err, policy.RevisionOutsourcing)
	}
}

// compareSections compares got with the expected document section by
// section ("## " headings), naming the first section that differs.
func compareSections(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./privacy/policy -run %s -update to create it)", err, t.Name())
	}
	split := func(s string) (names []string, secs map[string]string) {
		secs = map[string]string{}
		for i, part := range strings.Split("\n"+s, "\n## ") {
			name := "(title)"
			if i > 0 {
				name, _, _ = strings.Cut(part, "\n")
			}
			names = append(names, name)
			secs[name] = part
		}
		return names, secs
	}
	wn, ws := split(string(b))
	gn, gs := split(got)
	if strings.Join(wn, "|") != strings.Join(gn, "|") {
		t.Fatalf("sections differ:\nwant %q\ngot  %q", wn, gn)
	}
	for _, n := range wn {
		if ws[n] == gs[n] {
			continue
		}
		wl, gl := strings.Split(ws[n], "\n"), strings.Split(gs[n], "\n")
		for i := 0; i < max(len(wl), len(gl)); i++ {
			var w, g string
			if i < len(wl) {
				w = wl[i]
			}
			if i < len(gl) {
				g = gl[i]
			}
			if w != g {
				t.Errorf("section %q differs at its line %d:\nwant: %s\ngot:  %s", n, i+1, w, g)
				break
			}
		}
	}
}
