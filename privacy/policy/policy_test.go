package policy_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gwanje/gwanje/devices"
	"github.com/gwanje/gwanje/privacy/policy"
)

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./privacy/policy -run %s -update to create it)", err, t.Name())
	}
	if string(want) != got {
		wl, gl := strings.Split(string(want), "\n"), strings.Split(got, "\n")
		for i := 0; i < max(len(wl), len(gl)); i++ {
			var w, g string
			if i < len(wl) {
				w = wl[i]
			}
			if i < len(gl) {
				g = gl[i]
			}
			if w != g {
				t.Fatalf("%s differs from the golden file at line %d:\nwant: %s\ngot:  %s\n(run with -update if the change is intended)", path, i+1, w, g)
			}
		}
	}
}

// checkEightItems checks that every required item heading is in the text.
func checkEightItems(t *testing.T, kind, text string) {
	t.Helper()
	for n := 1; n <= 8; n++ {
		if !strings.Contains(text, policy.Heading(n)) {
			t.Errorf("%s lacks item %d heading %q", kind, n, policy.Heading(n))
		}
	}
}

func num(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// checkFigures checks the document's installation table against the
// registry's own installation report.
func checkFigures(t *testing.T, e *env, doc policy.Document, md string) {
	t.Helper()
	rep, err := e.reg.InstallationReport(e.ctx, devices.ReportFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if doc.Figures.Total != rep.Total {
		t.Errorf("document total %+v, report %+v", doc.Figures.Total, rep.Total)
	}
	cl, ok := doc.Clause("2.installation")
	if !ok {
		t.Fatal("no 2.installation clause")
	}
	var table policy.Block
	for _, b := range cl.Blocks {
		if b.Type == policy.BlockTable {
			table = b
		}
	}
	want := map[string]bool{}
	for _, tot := range rep.ByPurposeDepartment {
		want[strings.Join([]string{tot.Key, tot.Label, num(tot.Sites), num(tot.Cameras)}, "|")] = true
	}
	got := map[string]bool{}
	rows := table.Rows
	if len(rows) == 0 || rows[len(rows)-1][0] != "합계" {
		t.Fatalf("installation table has no 합계 row: %v", rows)
	}
	total := rows[len(rows)-1]
	if total[2] != num(rep.Total.Sites) || total[3] != num(rep.Total.Cameras) {
		t.Errorf("합계 row %v, report total %d개소 %d대", total, rep.Total.Sites, rep.Total.Cameras)
	}
	if !strings.Contains(md, "| 합계 |   | "+num(rep.Total.Sites)+" | "+num(rep.Total.Cameras)+" |") {
		t.Errorf("markdown lacks the 합계 row of the report")
	}
	for _, r := range rows[:len(rows)-1] {
		got[strings.Join(r, "|")] = true
		if !strings.Contains(md, "| "+strings.Join(r, " | ")+" |") {
			t.Errorf("markdown lacks installation row %v", r)
		}
	}
	for k := range want {
		if !got[k] {
			t.Errorf("report row %s missing in the document", k)
		}
	}
	for k := range got {
		if !want[k] {
			t.Errorf("document row %s not in the report", k)
		}
	}
	// The sum of the cameras per row is the total.
	sum := 0
	for _, tot := range rep.ByPurposeDepartment {
		sum += tot.Cameras
	}
	if sum != rep.Total.Cameras {
		t.Errorf("report rows sum to %d cameras, total %d", sum, rep.Total.Cameras)
	}
	// In the department layout each block's 설치대수 equals the report's department total.
	if doc.Layout == policy.LayoutDepartments {
		for _, tot := range rep.ByDepartment {
			c, ok := doc.Clause("2.dept." + tot.Key)
			if !ok {
				t.Errorf("no block for department %s", tot.Key)
				continue
			}
			prefix := num(tot.Sites) + "개소 " + num(tot.Cameras) + "대"
			found := false
			for _, r := range c.Blocks[0].Rows {
				if r[0] == "설치대수" && strings.HasPrefix(r[1], prefix) {
					found = true
				}
			}
			if !found {
				t.Errorf("block of %s lacks 설치대수 %s: %v", tot.Key, prefix, c.Blocks[0].Rows)
			}
		}
	}
}

func TestGoldenShapes(t *testing.T) {
	for _, sh := range shapes {
		t.Run(sh.name, func(t *testing.T) {
			e := newEnv(t)
			inst, contracts := sh.build(e)
			svc := e.service(inst, contracts)
			v, created, err := svc.Publish(e.ctx, e.actor, policy.PublishOptions{})
			if err != nil || !created {
				t.Fatalf("Publish: %v created=%v", err, created)
			}
			if v.Number != 1 || v.Revision != policy.RevisionFirst || len(v.Changes) != 0 {
				t.Errorf("first version %d %q with %d changes", v.Number, v.Revision, len(v.Changes))
			}
			if got, want := v.EffectiveOn.Sub(v.AnnouncedOn), 7*24*time.Hour; got != want {
				t.Errorf("effective %s announced %s: %v apart, want %v", v.EffectiveOn, v.AnnouncedOn, got, want)
			}
			if v.Document.Layout != sh.layout {
				t.Errorf("layout %s, want %s", v.Document.Layout, sh.layout)
			}
			checkEightItems(t, "markdown", v.Markdown)
			checkEightItems(t, "html", v.HTML)
			draft, err := svc.Draft(e.ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !draft.Unchanged {
				t.Errorf("draft right after publishing differs: %+v", draft.Changes)
			}
			checkFigures(t, e, draft.Document, v.Markdown)
			for _, secret := range []string{"rtsp://", "password", "credential"} {
				if strings.Contains(strings.ToLower(v.HTML), secret) {
					t.Errorf("published page contains %q", secret)
				}
			}
			for name, c := range e.cams {
				if strings.Contains(v.HTML, c.ID) || strings.Contains(v.Markdown, c.ID) {
					t.Errorf("published page contains the id of camera %s", name)
				}
			}
			golden(t, sh.name+".md", v.Markdown)
			golden(t, sh.name+".html", v.HTML)
			sg, err := svc.Signage(e.ctx)
			if err != nil {
				t.Fatal(err)
			}
			signs, err := policy.RenderSignsHTML(sg)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, sh.name+"-signage.html", signs)
		})
	}
}

func TestPublishTwiceWithoutChange(t *testing.T) {
	e := newEnv(t)
	inst, contracts := buildCounty(e)
	svc := e.service(inst, contracts)
	v1, created, err := svc.Publish(e.ctx, e.actor, policy.PublishOptions{})
	if err != nil || !created {
		t.Fatalf("Publish: %v %v", err, created)
	}
	e.clock.Add(30 * 24 * time.Hour)
	v, created, err := svc.Publish(e.ctx, e.actor, policy.PublishOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if created || v.Number != v1.Number {
		t.Fatalf("second publish without change created version %d (created=%v)", v.Number, created)
	}
	hs, err := svc.History(e.ctx)
	if err != nil || len(hs) != 1 {
		t.Fatalf("history %v %v", hs, err)
	}
	if n := e.count("select count(*) from test_audit where type = 'policy.publish'"); n != 1 {
		t.Errorf("%d policy.publish audit entries, want 1", n)
	}
}

func TestRetentionChangeShowsOneClause(t *testing.T) {
	for _, sh := range shapes {
		t.Run(sh.name, func(t *testing.T) {
			e := newEnv(t)
			inst, contracts := sh.build(e)
			svc := e.service(inst, contracts)
			if _, _, err := svc.Publish(e.ctx, e.actor, policy.PublishOptions{}); err != nil {
				t.Fatal(err)
			}
			c := e.cams[sh.retentionCamera]
			if _, err := e.reg.Update(e.ctx, devices.UpdateRequest{ID: c.ID,
				Fields: devices.CameraFields{RetentionDays: 60, RetentionReason: "민원 처리 기간"},
				Mask:   []string{"retention_days", "retention_reason"}}, e.dev); err != nil {
				t.Fatal(err)
			}
			e.clock.Add(40 * 24 * time.Hour)
			v, created, err := svc.Publish(e.ctx, e.actor, policy.PublishOptions{})
			if err != nil || !created {
				t.Fatalf("Publish after the change: %v created=%v", err, created)
			}
			if v.Number != 2 {
				t.Errorf("version %d, want 2", v.Number)
			}
			var ids []string
			for _, ch := range v.Changes {
				ids = append(ids, ch.ClauseID)
			}
			if !slices.Equal(ids, []string{sh.retentionClause}) {
				t.Fatalf("changed clauses %v, want exactly [%s]", ids, sh.retentionClause)
			}
			if v.Revision != policy.RevisionStatus {
				t.Errorf("revision %q, want %q", v.Revision, policy.RevisionStatus)
			}
			ch := v.Changes[0]
			joined := func(hs []policy.Hunk, before bool) string {
				var s []string
				for _, h := range hs {
					if before {
						s = append(s, h.Before...)
					} else {
						s = append(s, h.After...)
					}
				}
				return strings.Join(s, "\n")
			}
			if !strings.Contains(joined(ch.Hunks, false), "60일") || strings.Contains(joined(ch.Hunks, true), "60일") {
				t.Errorf("comparison does not show the new retention: %+v", ch.Hunks)
			}
			for _, want := range []string{"전·후 비교", "현행", "개정", ch.Label} {
				if !strings.Contains(v.HTML, want) {
					t.Errorf("HTML lacks %q", want)
				}
			}
			if !strings.Contains(v.Markdown, "| 2 | 2026. 6. | "+policy.RevisionStatus) {
				t.Errorf("markdown history lacks the second revision line")
			}
		})
	}
}

func TestRevisionLines(t *testing.T) {
	e := newEnv(t)
	inst, contracts := buildCounty(e)
	svc := e.service(inst, contracts)
	if _, _, err := svc.Publish(e.ctx, e.actor, policy.PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	publish := func() policy.Version {
		t.Helper()
		e.clock.Add(10 * 24 * time.Hour)
		v, created, err := svc.Publish(e.ctx, e.actor, policy.PublishOptions{})
		if err != nil || !created {
			t.Fatalf("Publish: %v created=%v", err, created)
		}
		return v
	}
	// The contractor of a site changes: only the outsourcing clause.
	s := e.sites["정남진 전망대"]
	f := s.SiteFields
	f.Contractor = devices.Contractor{ID: "c-2", Name: "남도통신", Contact: "나정비", Phone: "061-860-7100"}
	if _, err := e.reg.UpdateSite(e.ctx, s.ID, f, e.dev); err != nil {
		t.Fatal(err)
	}
	if v := publish(); v.Revision != policy.RevisionOutsourcing {
		t.Errorf("contractor change: revision %q, want %q (changes %v)", v.Revision, policy.RevisionOutsourcing, v.Changes)
	}
	// A new outsourced site: installation status and outsourcing.
	e.cameras(e.site(devices.SiteFields{Name: "회진항", Org: "장흥군", Department: "안전총괄과",
		Contractor: devices.Contractor{Name: "바다정보", Phone: "061-860-7200"}}), 2,
		cam("방범", "안전총괄과", "홍길동", "061-860-0000", "장흥군 CCTV 통합관제센터"))
	if v := publish(); v.Revision != policy.RevisionStatus+"; "+policy.RevisionOutsourcing {
		t.Errorf("new outsourced site: revision %q", v.Revision)
	}
	// The institution's text changes: named by clause.
	inst.Safeguards = append(slices.Clone(policy.DefaultSafeguards), "영상정보처리기기 운영 실태 연 1회 자체 점검")
	svc2 := e.service(inst, contracts)
	e.clock.Add(10 * 24 * time.Hour)
	v, created, err := svc2.Publish(e.ctx, e.actor, policy.PublishOptions{Revision: ""})
	if err != nil || !created {
		t.Fatal(err, created)
	}
	if v.Revision != "영상정보의 안전성 확보조치 변경" {
		t.Errorf("safeguards change: revision %q", v.Revision)
	}
	// An explicit revision line wins.
	inst.CPO.Phone = "061-860-0399"
	svc3 := e.service(inst, contracts)
	e.clock.Add(10 * 24 * time.Hour)
	v, _, err = svc3.Publish(e.ctx, e.actor, policy.PublishOptions{Revision: "개인정보 보호책임자 연락처 변경"})
	if err != nil || v.Revision != "개인정보 보호책임자 연락처 변경" || v.Number != 5 {
		t.Errorf("explicit revision: %v %q %d", err, v.Revision, v.Number)
	}
	hs, err := svc.History(e.ctx)
	if err != nil || len(hs) != 5 {
		t.Fatalf("history %d %v", len(hs), err)
	}
	for i, h := range hs {
		if h.Number != i+1 {
			t.Errorf("history[%d] is version %d", i, h.Number)
		}
	}
}

func TestPublishDates(t *testing.T) {
	e := newEnv(t)
	inst, contracts := buildDistrict(e)
	svc := e.service(inst, contracts)
	day := func(y, m, d int) time.Time { return time.Date(y, time.Month(m), d, 0, 0, 0, 0, devices.Seoul) }
	for _, tc := range []struct {
		name string
		opts policy.PublishOptions
	}{
		{"effective 6 days after announcement", policy.PublishOptions{EffectiveOn: day(2026, 5, 24)}},
		{"effective before announcement", policy.PublishOptions{AnnounceOn: day(2026, 5, 20), EffectiveOn: day(2026, 5, 19), UrgentReason: "법령 개정"}},
		{"announced in the past", policy.PublishOptions{AnnounceOn: day(2026, 5, 17)}},
		{"urgent reason with a newline", policy.PublishOptions{UrgentReason: "a\nb"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := svc.Publish(e.ctx, e.actor, tc.opts); !errors.Is(err, policy.ErrInvalid) {
				t.Fatalf("got %v, want ErrInvalid", err)
			}
		})
	}
	if n := e.count("select count(*) from policy_versions"); n != 0 {
		t.Fatalf("%d versions after invalid requests", n)
	}
	v, _, err := svc.Publish(e.ctx, e.actor, policy.PublishOptions{UrgentReason: "개인정보 침해 사고 대응"})
	if err != nil {
		t.Fatal(err)
	}
	if !v.EffectiveOn.Equal(v.AnnouncedOn) || v.UrgentReason == "" {
		t.Errorf("urgent version: announced %s effective %s", v.AnnouncedOn, v.EffectiveOn)
	}
	if !strings.Contains(v.HTML, "긴급 시행 사유: 개인정보 침해 사고 대응") {
		t.Error("urgent reason not on the page")
	}
	// A later version cannot take effect before the previous one.
	c := e.cams["주안역 광장-01"]
	if _, err := e.reg.Update(e.ctx, devices.UpdateRequest{ID: c.ID, Fields: devices.CameraFields{Coverage: "반경 50M 이내"},
		Mask: []string{"coverage"}}, e.dev); err != nil {
		t.Fatal(err)
	}
	v2, created, err := svc.Publish(e.ctx, e.actor, policy.PublishOptions{AnnounceOn: day(2026, 5, 20), EffectiveOn: day(2026, 6, 1)})
	if err != nil || !created || v2.Number != 2 {
		t.Fatalf("second version: %v %v", err, created)
	}
	if got := policy.Date(v2.EffectiveOn); got != "2026. 6. 1." {
		t.Errorf("effective %s", got)
	}
}

func TestVersionsAreImmutable(t *testing.T) {
	e := newEnv(t)
	inst, contracts := buildDistrict(e)
	svc := e.service(inst, contracts)
	if _, _, err := svc.Publish(e.ctx, e.actor, policy.PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"update policy_versions set revision = 'x'", "delete from policy_versions", "truncate policy_versions"} {
		if _, err := e.pool.Exec(e.ctx, q); err == nil || !strings.Contains(err.Error(), "immutable") {
			t.Errorf("%s: %v, want refused", q, err)
		}
	}
}

func TestPublishFailsClosedWithoutAudit(t *testing.T) {
	e := newEnv(t)
	inst, contracts := buildDistrict(e)
	svc := e.service(inst, contracts)
	e.aud.fail.Store(true)
	if _, _, err := svc.Publish(e.ctx, e.actor, policy.PublishOptions{}); err == nil {
		t.Fatal("published without an audit record")
	}
	if n := e.count("select count(*) from policy_versions"); n != 0 {
		t.Fatalf("%d versions stored without audit", n)
	}
	e.aud.fail.Store(false)
	v, _, err := svc.Publish(e.ctx, e.actor, policy.PublishOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var actor, details string
	if err := e.pool.QueryRow(e.ctx, "select actor, details::text from test_audit where type = 'policy.publish'").Scan(&actor, &details); err != nil {
		t.Fatal(err)
	}
	if actor != "cpo" || !strings.Contains(details, `"version": 1`) || !strings.Contains(details, v.EffectiveOn.Format(time.DateOnly)) {
		t.Errorf("audit entry actor %q details %s", actor, details)
	}
	if _, err := svc.Version(e.ctx, 2); !errors.Is(err, policy.ErrNotFound) {
		t.Errorf("Version(2): %v, want ErrNotFound", err)
	}
}

func TestConfig(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name string
		cfg  policy.Config
		want error
	}{
		{"no pool", policy.Config{Registry: e.reg, Auditor: e.aud}, nil},
		{"no registry", policy.Config{Pool: e.pool, Auditor: e.aud}, nil},
		{"no auditor", policy.Config{Pool: e.pool, Registry: e.reg}, nil},
		{"bad layout", policy.Config{Pool: e.pool, Registry: e.reg, Auditor: e.aud, Institution: policy.Institution{Layout: "x"}}, policy.ErrInvalid},
		{"bad homepage", policy.Config{Pool: e.pool, Registry: e.reg, Auditor: e.aud, Institution: policy.Institution{Homepage: "javascript:alert(1)"}}, policy.ErrInvalid},
		{"bad staff role", policy.Config{Pool: e.pool, Registry: e.reg, Auditor: e.aud, Institution: policy.Institution{Staff: []policy.Staff{{Role: "과장", Title: "과장"}}}}, policy.ErrInvalid},
		{"staff without title", policy.Config{Pool: e.pool, Registry: e.reg, Auditor: e.aud, Institution: policy.Institution{Staff: []policy.Staff{{Role: policy.RoleAccess}}}}, policy.ErrInvalid},
		{"bidi scope", policy.Config{Pool: e.pool, Registry: e.reg, Auditor: e.aud, Institution: policy.Institution{Scope: "본청\u202e"}}, policy.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := policy.New(tc.cfg)
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("New: %v, want error %v", err, tc.want)
			}
		})
	}
	svc, err := policy.New(policy.Config{Pool: e.pool, Registry: e.reg, Auditor: e.aud})
	if err != nil {
		t.Fatal(err)
	}
	in := svc.Institution()
	// Nothing invented: no control center or 열람실 that nobody set.
	if in.Name != "○○시" || in.ControlCenter != "" || in.RequestPlace != "영상정보처리기기 담당부서" || in.ReviewPlace != in.RequestPlace ||
		len(in.Safeguards) != len(policy.DefaultSafeguards) || in.MaxSitesListed != 8 {
		t.Errorf("defaults: %+v", in)
	}
	// An empty registry still gives every item.
	d, err := svc.Draft(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	checkEightItems(t, "empty registry", d.Markdown)
	if !strings.Contains(d.Markdown, "총 0개소 0대") || !strings.Contains(d.Markdown, "지정 예정") {
		t.Errorf("empty registry draft:\n%s", d.Markdown)
	}
}

// TestPublishRefusesBidiControls (issue 14, finding 9): the revision note
// of a published policy is displayed to the public; bidirectional
// formatting characters in it are refused and nothing is published.
func TestPublishRefusesBidiControls(t *testing.T) {
	e := newEnv(t)
	inst, contracts := buildCounty(e)
	svc := e.service(inst, contracts)
	if _, _, err := svc.Publish(e.ctx, e.actor, policy.PublishOptions{Revision: "개정\u202e"}); !errors.Is(err, policy.ErrInvalid) {
		t.Fatalf("Publish with a bidi override: %v, want ErrInvalid", err)
	}
	if hs, err := svc.History(e.ctx); err != nil || len(hs) != 0 {
		t.Fatalf("published: %v %v", hs, err)
	}
}

// TestInstitutionSettingsAreVersioned: the institution settings are part
// of the document, so changing one (a new 접근권한자, another 확인 장소) makes
// the next draft differ in exactly the clauses that show it, and publishing
// makes a new revision naming them.
func TestInstitutionSettingsAreVersioned(t *testing.T) {
	e := newEnv(t)
	inst, contracts := buildDistrict(e)
	if _, _, err := e.service(inst, contracts).Publish(e.ctx, e.actor, policy.PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	inst.Staff = append(inst.Staff, policy.Staff{Role: policy.RoleAccess, Title: "주무관", Department: "안전총괄과", Phone: "032-880-4828"})
	inst.ReviewPlace = "안전총괄과 열람실"
	svc := e.service(inst, contracts)
	d, err := svc.Draft(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range d.Changes {
		ids = append(ids, c.ClauseID)
	}
	if d.Unchanged || !slices.Equal(ids, []string{"3.staff", "5.review", "6.requests"}) {
		t.Fatalf("draft unchanged=%v changes %v", d.Unchanged, ids)
	}
	e.clock.Add(10 * 24 * time.Hour)
	v, created, err := svc.Publish(e.ctx, e.actor, policy.PublishOptions{})
	if err != nil || !created || v.Number != 2 {
		t.Fatalf("publish: %v created=%v number=%d", err, created, v.Number)
	}
	if !strings.Contains(v.Revision, "관리책임자 및 접근권한자") || !strings.Contains(v.Markdown, "|   | 주무관 | 안전총괄과 | 032-880-4828 |") {
		t.Errorf("revision %q\n%s", v.Revision, v.Markdown)
	}
}

// TestDistrictLikeMichuhol compares the published page of a registry shaped
// like 인천 미추홀구's, section by section, with what its published policy
// (../shared/policies/michuhol.txt) states: the scope line, the
// 관리책임자·접근권한자 table with 직위·소속·전화, the 확인 장소, the
// 처리방법 with printouts, and the sections large cities publish.
func TestDistrictLikeMichuhol(t *testing.T) {
	e := newEnv(t)
	inst, contracts := buildDistrict(e)
	d, err := e.service(inst, contracts).Draft(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string][]string{
		"0.preamble":   {"인천광역시 미추홀구(본청, 소속기관 미포함)는"},
		"3.staff":      {"구분 | 직위 | 소속 | 전화번호 | 비고", "관리책임자 | 안전총괄과장 | 안전총괄과 | 032-880-4045 | ", " | 통합관제담당 | 안전총괄과 | 032-880-4826 | "},
		"4.processing": {"영구 삭제(출력물의 경우 파쇄 또는 소각)합니다."},
		"5.review":     {"- 확인 장소: 안전총괄과 통합관제팀", "- 영상정보는 미추홀구청 CCTV 통합관제센터에서 관제합니다."},
		"8.provision":  {"- 범죄의 수사와 공소의 제기 및 유지에 필요한 경우"},
		"8.signage":    {"안내판 설치 | 9"},
	} {
		c, ok := d.Document.Clause(id)
		if !ok {
			t.Errorf("no clause %s", id)
			continue
		}
		lines := c.Lines()
		for _, w := range want {
			if !slices.Contains(lines, w) && !slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, w) }) {
				t.Errorf("clause %s lacks %q:\n%s", id, w, strings.Join(lines, "\n"))
			}
		}
	}
	for _, invented := range []string{"지정 예정", "열람실"} {
		if strings.Contains(d.Markdown, invented) {
			t.Errorf("the page says %q though the settings name it", invented)
		}
	}
}
