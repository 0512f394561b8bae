package policy_test

import (
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gwanje/gwanje/devices"
	"github.com/gwanje/gwanje/privacy/policy"
)

func (e *env) oneSite() {
	e.t.Helper()
	s := e.site(devices.SiteFields{Name: "주안역 광장", Department: "안전총괄과", RoadAddress: "인천 미추홀구 주안로 95-19"})
	e.cameras(s, 2, devices.CameraFields{Purpose: "방범", Coverage: "반경 100M 이내", Schedule: "24시간", RetentionDays: 30,
		StoragePlace: "미추홀구청 CCTV 통합관제센터", Department: "안전총괄과", Manager: "안전총괄과장", ManagerPhone: "032-880-4621",
		Lifecycle: devices.Active})
}

func TestSettingsChangeThroughTheServiceAndAreRecordedWithEachVersion(t *testing.T) {
	e := newEnv(t)
	e.oneSite()
	flags := policy.Institution{Name: "인천광역시 미추홀구", Scope: "본청, 소속기관 미포함"}
	svc := e.service(flags, nil)

	st, err := svc.Settings(e.ctx)
	if err != nil || st.Stored || st.Institution.Name != flags.Name {
		t.Fatalf("initial settings: %+v %v (want the flags', not stored)", st, err)
	}
	v1, _, err := svc.Publish(e.ctx, e.actor, policy.PublishOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(v1.Markdown, "(지정 예정)") || v1.Institution == nil || v1.Institution.CPO.Name != "" {
		t.Fatalf("version 1 without a CPO: institution %+v", v1.Institution)
	}

	// Bad input changes nothing and writes no audit entry.
	bad := flags
	bad.Layout = "diagonal"
	if _, err := svc.UpdateSettings(e.ctx, e.actor, bad, "레이아웃"); !errors.Is(err, policy.ErrInvalid) {
		t.Fatalf("bad layout: %v", err)
	}
	bad = flags
	bad.Staff = []policy.Staff{{Role: "청소담당", Title: "주무관"}}
	if _, err := svc.UpdateSettings(e.ctx, e.actor, bad, ""); !errors.Is(err, policy.ErrInvalid) {
		t.Fatalf("bad staff role: %v", err)
	}
	if n := e.count(`select count(*) from test_audit where type = 'policy.settings.update'`); n != 0 {
		t.Fatalf("%d audit entries after refused updates", n)
	}
	if st, _ := svc.Settings(e.ctx); st.Stored {
		t.Fatal("a refused update stored settings")
	}

	in := flags
	in.CPO = policy.Officer{Name: "홍길동", Title: "기획조정실장", Department: "기획예산과", Phone: "032-880-4000"}
	in.Staff = []policy.Staff{{Role: policy.RoleManager, Title: "안전총괄과장", Department: "안전총괄과", Phone: "032-880-4621"},
		{Role: policy.RoleAccess, Title: "주무관", Department: "안전총괄과", Phone: "032-880-4624", Note: "관제센터 운영"}}
	in.ControlCenter = "미추홀구청 CCTV 통합관제센터"
	in.RequestPlace = "안전총괄과 통합관제팀"
	in.Statutes = map[string]string{"방범": "「개인정보 보호법」 제25조제1항제2호"}
	got, err := svc.UpdateSettings(e.ctx, e.actor, in, "보호책임자 지정")
	if err != nil || !got.Stored || got.UpdatedBy != "cpo" {
		t.Fatalf("update: %+v %v", got, err)
	}
	var changed string
	if err := e.pool.QueryRow(e.ctx, `select details->>'changed_fields' from test_audit where type = 'policy.settings.update'`).Scan(&changed); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"cpo", "staff", "control_center", "request_place", "statutes"} {
		if !strings.Contains(changed, `"`+f+`"`) {
			t.Errorf("audit changed_fields %s lacks %s", changed, f)
		}
	}
	if strings.Contains(changed, `"name"`) || strings.Contains(changed, `"scope"`) {
		t.Errorf("audit changed_fields %s names unchanged fields", changed)
	}

	d, err := svc.Draft(e.ctx)
	if err != nil || d.Unchanged {
		t.Fatalf("draft after settings change: %v unchanged=%v", err, d.Unchanged)
	}
	e.clock.Add(8 * 24 * time.Hour)
	v2, created, err := svc.Publish(e.ctx, e.actor, policy.PublishOptions{})
	if err != nil || !created || v2.Number != 2 {
		t.Fatalf("publish 2: %v %v %v", v2.Number, created, err)
	}
	for _, want := range []string{"기획조정실장 홍길동", "| 관리책임자 | 안전총괄과장 | 안전총괄과 | 032-880-4621 |",
		"| 접근권한자 | 주무관 | 안전총괄과 | 032-880-4624 | 관제센터 운영 |", "미추홀구청 CCTV 통합관제센터에서 관제합니다",
		"안전총괄과 통합관제팀에 청구", "인천광역시 미추홀구(본청, 소속기관 미포함)는", "「개인정보 보호법」 제25조제1항제2호, "} {
		if !strings.Contains(v2.Markdown, want) {
			t.Errorf("version 2 lacks %q", want)
		}
	}
	if doc, _, _ := strings.Cut(v2.Markdown, "## 개정 연혁"); strings.Contains(doc, "지정 예정") {
		t.Error("version 2 still says 지정 예정")
	}
	// Each version keeps the settings it was published with.
	old, err := svc.Version(e.ctx, 1)
	if err != nil || old.Institution == nil || old.Institution.CPO.Name != "" {
		t.Fatalf("version 1 settings changed: %+v %v", old.Institution, err)
	}
	cur, err := svc.Version(e.ctx, 2)
	if err != nil || cur.Institution == nil || cur.Institution.CPO.Name != "홍길동" || len(cur.Institution.Staff) != 2 {
		t.Fatalf("version 2 settings: %+v %v", cur.Institution, err)
	}
	hs, err := svc.History(e.ctx)
	if err != nil || len(hs) != 2 || hs[1].Institution == nil || hs[1].Institution.RequestPlace != "안전총괄과 통합관제팀" {
		t.Fatalf("history: %+v %v", hs, err)
	}
}

// priors is a city's revision history before gwanje: 13 revisions.
func priors() []policy.Prior {
	d := func(y, m, day int) time.Time { return time.Date(y, time.Month(m), day, 0, 0, 0, 0, time.UTC) }
	return []policy.Prior{
		{Number: 1, AnnouncedOn: d(2013, 7, 1), Revision: "제정", Document: "영상정보처리기기 운영·관리 방침 (2013)\n1. 설치 근거 …"},
		{Number: 2, AnnouncedOn: d(2015, 3, 2), Revision: "설치 및 운영현황 현행화"},
		{Number: 3, AnnouncedOn: d(2016, 5, 9), Revision: "설치 및 운영현황 현행화"},
		{Number: 4, AnnouncedOn: d(2017, 2, 13), Revision: "관리책임자 변경"},
		{Number: 5, AnnouncedOn: d(2018, 1, 8), Revision: "설치 및 운영현황 현행화"},
		{Number: 6, AnnouncedOn: d(2019, 4, 1), EffectiveOn: d(2019, 4, 8), Revision: "위탁에 관한 사항 현행화"},
		{Number: 7, AnnouncedOn: d(2020, 1, 6), Revision: "설치 및 운영현황 현행화"},
		{Number: 8, AnnouncedOn: d(2020, 9, 14), Revision: "개인정보 보호법 개정사항 반영"},
		{Number: 9, AnnouncedOn: d(2021, 6, 1), Revision: "설치 및 운영현황 현행화"},
		{Number: 10, AnnouncedOn: d(2022, 3, 7), Revision: "설치 및 운영현황 현행화; 위탁에 관한 사항 현행화"},
		{Number: 11, AnnouncedOn: d(2023, 2, 1), Revision: "설치 및 운영현황 현행화"},
		{Number: 12, AnnouncedOn: d(2024, 9, 15), EffectiveOn: d(2024, 9, 22), Revision: "고정형 영상정보처리기기 명칭 변경"},
		{Number: 13, AnnouncedOn: d(2025, 8, 1), Revision: "설치 및 운영현황 현행화"},
	}
}

func TestImportedHistoryNumbersTheFirstVersion(t *testing.T) {
	e := newEnv(t)
	e.oneSite()
	svc := e.service(policy.Institution{Name: "인천광역시 미추홀구"}, nil)

	for name, bad := range map[string][]policy.Prior{
		"empty":                      nil,
		"twice":                      {{Number: 1, AnnouncedOn: start.AddDate(-1, 0, 0), Revision: "제정"}, {Number: 1, AnnouncedOn: start.AddDate(-1, 0, 0), Revision: "개정"}},
		"no date":                    {{Number: 1, Revision: "제정"}},
		"no text":                    {{Number: 1, AnnouncedOn: start.AddDate(-1, 0, 0)}},
		"future":                     {{Number: 1, AnnouncedOn: start.AddDate(0, 1, 0), Revision: "제정"}},
		"backwards":                  {{Number: 1, AnnouncedOn: start.AddDate(-1, 0, 0), Revision: "제정"}, {Number: 2, AnnouncedOn: start.AddDate(-2, 0, 0), Revision: "개정"}},
		"effective before announced": {{Number: 1, AnnouncedOn: start.AddDate(-1, 0, 0), EffectiveOn: start.AddDate(-1, 0, -1), Revision: "제정"}},
	} {
		if _, err := svc.ImportHistory(e.ctx, e.actor, bad, ""); !errors.Is(err, policy.ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if n := e.count(`select count(*) from policy_prior_versions`) + e.count(`select count(*) from test_audit where type like 'policy.%'`); n != 0 {
		t.Fatalf("refused imports left %d rows", n)
	}

	got, err := svc.ImportHistory(e.ctx, e.actor, priors(), "이전 방침 이관")
	if err != nil || len(got) != 13 {
		t.Fatalf("import: %d %v", len(got), err)
	}
	if n := e.count(`select count(*) from test_audit where type = 'policy.history.import' and reason = '이전 방침 이관'`); n != 1 {
		t.Fatalf("%d import audit entries", n)
	}
	// A second import before the first version replaces the first.
	if _, err := svc.ImportHistory(e.ctx, e.actor, priors(), ""); err != nil {
		t.Fatal(err)
	}
	d, err := svc.Draft(e.ctx)
	if err != nil || d.Revision != policy.RevisionMigrated {
		t.Fatalf("draft revision %q %v", d.Revision, err)
	}
	// Announced in the future: the page says it will be announced.
	v, created, err := svc.Publish(e.ctx, e.actor, policy.PublishOptions{AnnounceOn: start.AddDate(0, 0, 3)})
	if err != nil || !created {
		t.Fatal(err)
	}
	if v.Number != 14 || v.Revision != policy.RevisionMigrated {
		t.Fatalf("first gwanje version: %d %q (want 14, not 제정)", v.Number, v.Revision)
	}
	if _, err := svc.ImportHistory(e.ctx, e.actor, priors(), ""); !errors.Is(err, policy.ErrInvalid) {
		t.Fatalf("import after the first version: %v", err)
	}
	hs, err := svc.History(e.ctx)
	if err != nil || len(hs) != 14 || !hs[0].Imported || hs[13].Imported || hs[5].EffectiveOn.Day() != 8 {
		t.Fatalf("history: %d %v", len(hs), err)
	}
	for _, want := range []string{"| 1 | 2013. 7. | 제정 | 2013. 7. 1. | 2013. 7. 1. |",
		"| 13 | 2025. 8. | 설치 및 운영현황 현행화 | 2025. 8. 1. | 2025. 8. 1. |", "| 14 | 2026. 5. | " + policy.RevisionMigrated} {
		if !strings.Contains(v.Markdown, want) {
			t.Errorf("개정 연혁 lacks %q", want)
		}
	}

	srv := httptest.NewServer(svc.Handler())
	defer srv.Close()
	get := func(path string) string {
		t.Helper()
		r, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		if r.StatusCode != 200 {
			t.Fatalf("%s: %d", path, r.StatusCode)
		}
		return string(b)
	}
	if p := get("/policy"); !strings.Contains(p, "2026. 5. 21. 공고될 예정이며") {
		t.Errorf("a future announcement is not in the future tense: %s", between(p, `class="notice"`, "</div>"))
	}
	if p := get("/policy/v/1"); !strings.Contains(p, "1. 설치 근거 …") || !strings.Contains(p, "2013. 7. 1.") {
		t.Error("imported revision 1 lacks its document")
	}
	if p := get("/policy/v/2"); !strings.Contains(p, "보관되어 있지 않습니다") {
		t.Error("imported revision 2 without a document")
	}
	if p := get("/policy/history"); !strings.Contains(p, "고정형 영상정보처리기기 명칭 변경") {
		t.Error("history page lacks an imported revision")
	}
	e.clock.Add(4 * 24 * time.Hour)
	if p := get("/policy"); !strings.Contains(p, "2026. 5. 21. 공고되었으며") {
		t.Errorf("a past announcement is not in the past tense: %s", between(p, `class="notice"`, "</div>"))
	}
}

func between(s, a, b string) string {
	i := strings.Index(s, a)
	if i < 0 {
		return ""
	}
	s = s[i:]
	if j := strings.Index(s, b); j >= 0 {
		return s[:j]
	}
	return s
}

func TestOperationTableSettingsAreChecked(t *testing.T) {
	ok := policy.OperationTable{Name: "버스전용차로 단속", Department: "교통정보과", Purposes: []string{"버스전용차로"},
		Parts: []policy.TablePart{{Name: "BRT구간", Sites: []string{"BRT 정류장 1"}}}}
	for name, tc := range map[string]struct {
		tables []policy.OperationTable
		valid  bool
	}{
		"one table":          {[]policy.OperationTable{ok}, true},
		"no name":            {[]policy.OperationTable{{Department: "교통정보과"}}, false},
		"no department":      {[]policy.OperationTable{{Name: "방범"}}, false},
		"listed twice":       {[]policy.OperationTable{ok, ok}, false},
		"part without sites": {[]policy.OperationTable{{Name: "x", Department: "y", Parts: []policy.TablePart{{Name: "BRT구간"}}}}, false},
		"bidi in a site":     {[]policy.OperationTable{{Name: "x", Department: "y", Sites: []string{"a\u202eb"}}}, false},
	} {
		err := policy.Institution{Tables: tc.tables}.Check()
		if (err == nil) != tc.valid || (err != nil && !errors.Is(err, policy.ErrInvalid)) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
