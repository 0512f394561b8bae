package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestConsoleServing(t *testing.T) {
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "api:"+r.URL.Path) })
	h, err := New(Config{API: api, IdleLock: 90 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(h)
	defer srv.Close()
	get := func(method, path string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	cases := []struct {
		method, path string
		code         int
		body         string
		ctype        string
	}{
		{"GET", "/", 200, `name="gwanje-idle-lock" content="90"`, "text/html"},
		{"GET", "/wall/4", 200, `<div id="app">`, "text/html"},
		{"GET", "/favicon.svg", 200, "<svg", "image/svg+xml"},
		{"GET", "/assets/missing.js", 404, "", ""},
		{"POST", "/", 405, "", ""},
		{"POST", "/api/gwanje.v1.AccessService/Login", 200, "api:/gwanje.v1.AccessService/Login", ""},
	}
	for _, tc := range cases {
		resp, body := get(tc.method, tc.path)
		if resp.StatusCode != tc.code {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, resp.StatusCode, tc.code)
		}
		if !strings.Contains(body, tc.body) {
			t.Errorf("%s %s: body %.200q lacks %q", tc.method, tc.path, body, tc.body)
		}
		if tc.ctype != "" && !strings.HasPrefix(resp.Header.Get("Content-Type"), tc.ctype) {
			t.Errorf("%s %s: Content-Type %q", tc.method, tc.path, resp.Header.Get("Content-Type"))
		}
		// Every response, API and errors included, carries the policy.
		csp := resp.Header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self';", "connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s %s: CSP %q lacks %q", tc.method, tc.path, csp, want)
			}
		}
		for _, bad := range []string{"unsafe-inline", "unsafe-eval", "*"} {
			if strings.Contains(csp, bad) {
				t.Errorf("%s %s: CSP %q allows %s", tc.method, tc.path, csp, bad)
			}
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s %s: missing nosniff/DENY", tc.method, tc.path)
		}
	}
	// The bundle's own script and style: the index names them, they are
	// served, and nothing inline is needed.
	_, index := get("GET", "/")
	if strings.Contains(index, "<script>") || strings.Contains(index, " style=") {
		t.Error("index.html has inline script or style")
	}
	for _, ref := range []string{`src="/assets/`, `href="/assets/`} {
		i := strings.Index(index, ref)
		if i < 0 {
			t.Fatalf("index.html names no %s", ref)
		}
		path := index[i+len(ref)-len("/assets/"):]
		path = path[:strings.IndexByte(path, '"')]
		resp, _ := get("GET", path)
		if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Cache-Control"), "immutable") {
			t.Errorf("%s: %d %q", path, resp.StatusCode, resp.Header.Get("Cache-Control"))
		}
	}
}

func TestIdleLockNeverAndOrigins(t *testing.T) {
	h, err := New(Config{IdleLock: -1, MediaOrigins: []string{"https://stream-1.example:7443"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(h.index), `name="gwanje-idle-lock" content="0"`) {
		t.Error("a negative idle lock does not say 0 (never)")
	}
	if !strings.Contains(h.CSP(), "connect-src 'self' https://stream-1.example:7443;") {
		t.Errorf("CSP %q", h.CSP())
	}
	if _, err := New(Config{MediaOrigins: []string{"https://x; script-src *"}}); err == nil {
		t.Error("a media origin that injects a directive was accepted")
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/api/x", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("API without a control role: %d", rec.Code)
	}
}
