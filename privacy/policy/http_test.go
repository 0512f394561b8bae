package policy_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gwanje/gwanje/devices"
	"github.com/gwanje/gwanje/privacy/policy"
)

type page struct {
	code   int
	body   string
	header http.Header
}

func get(t *testing.T, h http.Handler, method, path string) page {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	b, _ := io.ReadAll(rec.Result().Body)
	return page{rec.Code, string(b), rec.Result().Header}
}

var uuidRe = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

func TestHTTP(t *testing.T) {
	e := newEnv(t)
	inst, contracts := buildCity(e)
	svc := e.service(inst, contracts)
	h := svc.Handler()

	if p := get(t, h, "GET", "/policy"); p.code != http.StatusNotFound || !strings.Contains(p.body, "아직 공고된") {
		t.Fatalf("/policy before any version: %d %s", p.code, p.body)
	}
	if _, _, err := svc.Publish(e.ctx, e.actor, policy.PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	// Announced, not yet in force: shown with its effective date.
	p := get(t, h, "GET", "/policy")
	if p.code != 200 || !strings.Contains(p.body, "2026. 5. 25.부터 시행됩니다") || strings.Contains(p.body, policy.NoticeMarker) {
		t.Fatalf("/policy before the effective date: %d notice missing", p.code)
	}
	if ct := p.header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("content type %q", ct)
	}
	if csp := p.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("CSP %q", csp)
	}
	e.clock.Add(7 * 24 * time.Hour)
	p = get(t, h, "GET", "/policy")
	if p.code != 200 || strings.Contains(p.body, `class="notice"`) || !strings.Contains(p.body, "인천광역시 영상정보처리기기 운영·관리 방침") {
		t.Fatalf("/policy in force: %d", p.code)
	}
	// A revision is announced: the version in force stays, with a notice.
	c := e.cams["문학경기장-01"]
	if _, err := e.reg.Update(e.ctx, devices.UpdateRequest{ID: c.ID, Fields: devices.CameraFields{RetentionDays: 14},
		Mask: []string{"retention_days"}}, e.dev); err != nil {
		t.Fatal(err)
	}
	v2, created, err := svc.Publish(e.ctx, e.actor, policy.PublishOptions{})
	if err != nil || !created {
		t.Fatal(err, created)
	}
	p = get(t, h, "GET", "/policy")
	if !strings.Contains(p.body, "개정 공고: 제2판") || !strings.Contains(p.body, "제1판 · 제정") {
		t.Errorf("/policy with an announced revision lacks the notice or shows the wrong version")
	}
	if md := get(t, h, "GET", "/policy.md"); md.code != 200 || !strings.HasPrefix(md.body, "# 인천광역시") ||
		md.header.Get("Content-Type") != "text/markdown; charset=utf-8" {
		t.Errorf("/policy.md: %d %q", md.code, md.header.Get("Content-Type"))
	}
	hist := get(t, h, "GET", "/policy/history")
	for _, want := range []string{"제정", policy.RevisionStatus, `href="/policy/v/2"`, `href="/policy/v/1.md"`} {
		if !strings.Contains(hist.body, want) {
			t.Errorf("/policy/history lacks %q", want)
		}
	}
	v := get(t, h, "GET", "/policy/v/2")
	if v.code != 200 || !strings.Contains(v.body, "전·후 비교") || !strings.Contains(v.body, "(*문학경기장 14일)") {
		t.Errorf("/policy/v/2: %d", v.code)
	}
	if etag := v.header.Get("ETag"); etag == "" {
		t.Error("no ETag on a version")
	} else {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/policy/v/2", nil)
		req.Header.Set("If-None-Match", etag)
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusNotModified {
			t.Errorf("conditional GET: %d", rec.Code)
		}
	}
	if v := get(t, h, "GET", "/policy/v/2.md"); v.code != 200 || v.body != v2.Markdown {
		t.Errorf("/policy/v/2.md: %d", v.code)
	}
	for _, path := range []string{"/policy/v/3", "/policy/v/0", "/policy/v/abc", "/policy/v/01", "/policy/v/-1", "/policy/x"} {
		if p := get(t, h, "GET", path); p.code != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", path, p.code)
		}
	}
	if p := get(t, h, "POST", "/policy"); p.code != http.StatusMethodNotAllowed {
		t.Errorf("POST /policy: %d", p.code)
	}
	if p := get(t, h, "HEAD", "/policy/v/1"); p.code != 200 || p.body != "" {
		t.Errorf("HEAD: %d %d bytes", p.code, len(p.body))
	}

	signs := get(t, h, "GET", "/signage")
	for _, want := range []string{"문학경기장", "인천광역시 미추홀구 매소홀로 618", "시설물관리", "경기장 내·외부", "24시간",
		"체육진흥과 김체육 (032-440-5001)", "한국시설관리(주) (032-440-1111)", "굴포천 수위관측소"} {
		if !strings.Contains(signs.body, want) {
			t.Errorf("/signage lacks %q", want)
		}
	}
	for _, not := range []string{"비상대비 상황실", "경인고속도로 가좌IC"} {
		if strings.Contains(signs.body, not) {
			t.Errorf("/signage shows %q (exempt or homepage notice)", not)
		}
	}
	if n := strings.Count(signs.body, `class="sign"`); n != 7 {
		t.Errorf("%d signs, want 7 (10 sites less one exempt and two homepage notices)", n)
	}
	// 굴포천 has no contractor: no contractor line on its sign.
	i := strings.Index(signs.body, "굴포천 수위관측소")
	if j := strings.Index(signs.body[i:], `class="sign-foot"`); strings.Contains(signs.body[i:i+j], "수탁업체") {
		t.Error("a sign without contractor shows a contractor line")
	}
	home := get(t, h, "GET", "/signage/homepage")
	for _, want := range []string{"경인고속도로 가좌IC", "인천대교 진입로", "교통시스템(주)", "교통정보수집"} {
		if !strings.Contains(home.body, want) {
			t.Errorf("/signage/homepage lacks %q", want)
		}
	}
	for _, not := range []string{"문학경기장", "비상대비 상황실"} {
		if strings.Contains(home.body, not) {
			t.Errorf("/signage/homepage shows %q", not)
		}
	}
	for _, path := range []string{"/policy", "/policy/history", "/policy/v/1", "/policy/v/2.md", "/signage", "/signage/homepage"} {
		p := get(t, h, "GET", path)
		if uuidRe.MatchString(p.body) {
			t.Errorf("%s shows an internal id: %s", path, uuidRe.FindString(p.body))
		}
		for _, secret := range []string{"rtsp://", "password", "비밀번호", "org-facility"} {
			if strings.Contains(p.body, secret) {
				t.Errorf("%s contains %q", path, secret)
			}
		}
		if strings.Contains(p.body, "<script") || strings.Contains(p.body, "<link") || strings.Contains(p.body, "src=") {
			t.Errorf("%s refers to external assets or scripts", path)
		}
	}
}

func TestHTTPEscapes(t *testing.T) {
	e := newEnv(t)
	s := e.site(devices.SiteFields{Name: `<script>alert("x")</script> 공원`, Department: "안전<b>과"})
	e.cameras(s, 1, cam("방범", "안전<b>과", "홍<i>", "02-000-0000", "관제센터"))
	svc := e.service(policy.Institution{Name: "테스트구"}, nil)
	if _, _, err := svc.Publish(e.ctx, e.actor, policy.PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	h := svc.Handler()
	for _, path := range []string{"/policy", "/signage"} {
		p := get(t, h, "GET", path)
		if strings.Contains(p.body, "<script>") || strings.Contains(p.body, "<b>") || strings.Contains(p.body, "<i>") {
			t.Errorf("%s does not escape registry text", path)
		}
		if !strings.Contains(p.body, "&lt;script&gt;") {
			t.Errorf("%s lacks the escaped site name", path)
		}
	}
}
