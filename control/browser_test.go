package control

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// browserDoor serves the console's API door over TLS and returns its base
// URL and a client with a cookie jar, as a browser would have.
func browserDoor(t *testing.T, h *harness) (string, *http.Client) {
	t.Helper()
	api, err := h.srv.BrowserHandler()
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewTLSServer(http.StripPrefix(BrowserAPIPrefix, api))
	t.Cleanup(ts.Close)
	c := ts.Client()
	if c.Jar, err = cookiejar.New(nil); err != nil {
		t.Fatal(err)
	}
	return ts.URL, c
}

// connectCall makes a unary Connect call (JSON) as the console's
// generated client does from the page's own origin.
func connectCall(t *testing.T, c *http.Client, base, method string, body any, edit func(*http.Request)) (*http.Response, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, err := http.NewRequest(http.MethodPost, base+BrowserAPIPrefix+"/"+method, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Connect-Protocol-Version", "1")
	req.Header.Set("Origin", base)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	if edit != nil {
		edit(req)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return resp, out
}

func sessionCookieOf(resp *http.Response) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == SessionCookie {
			return c
		}
	}
	return nil
}

func TestBrowserDoorSession(t *testing.T) {
	h := newHarness(t)
	base, c := browserDoor(t, h)
	const whoami = "gwanje.v1.AccessService/WhoAmI"

	// Without a cookie nothing but the public methods answers.
	resp, out := connectCall(t, c, base, whoami, map[string]any{}, nil)
	if resp.StatusCode != http.StatusUnauthorized || out["code"] != "unauthenticated" {
		t.Fatalf("WhoAmI without a cookie: %d %v, want 401 unauthenticated", resp.StatusCode, out)
	}
	// A bearer token a page might send is not how browsers authenticate.
	resp, _ = connectCall(t, c, base, whoami, map[string]any{}, func(r *http.Request) {
		r.Header.Set("Authorization", "Bearer "+h.tokens["operator"])
	})
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("WhoAmI with a bearer header through the door: %d, want 401", resp.StatusCode)
	}

	resp, out = connectCall(t, c, base, "gwanje.v1.AccessService/Login", map[string]any{"username": "u-operator", "password": testPassword}, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("Login: %d %v", resp.StatusCode, out)
	}
	if tok, _ := out["token"].(string); tok != "" {
		t.Fatal("Login through the door returned the token to script")
	}
	ck := sessionCookieOf(resp)
	if ck == nil || ck.Value == "" {
		t.Fatalf("Login set no session cookie: %v", resp.Header.Values("Set-Cookie"))
	}
	if !ck.HttpOnly || !ck.Secure || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/" || ck.Domain != "" {
		t.Fatalf("session cookie flags: %+v (want HttpOnly, Secure, SameSite=Strict, Path=/, no Domain)", ck)
	}
	if got := resp.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", got)
	}

	resp, out = connectCall(t, c, base, whoami, map[string]any{}, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("WhoAmI with the cookie: %d %v", resp.StatusCode, out)
	}
	if p, _ := out["principal"].(map[string]any); p["username"] != "u-operator" {
		t.Fatalf("WhoAmI: %v", out)
	}

	resp, _ = connectCall(t, c, base, "gwanje.v1.AccessService/Logout", map[string]any{}, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("Logout: %d", resp.StatusCode)
	}
	if ck := sessionCookieOf(resp); ck == nil || ck.MaxAge >= 0 || ck.Value != "" {
		t.Fatalf("Logout did not clear the cookie: %v", resp.Header.Values("Set-Cookie"))
	}
	u, _ := url.Parse(base)
	if cs := c.Jar.Cookies(u); len(cs) != 0 {
		t.Fatalf("cookies left after logout: %v", cs)
	}
	// The old token is over even if a copy of the cookie were replayed.
	resp, _ = connectCall(t, c, base, whoami, map[string]any{}, func(r *http.Request) {
		r.AddCookie(&http.Cookie{Name: SessionCookie, Value: ck.Value})
	})
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("WhoAmI with the logged-out cookie: %d, want 401", resp.StatusCode)
	}
}

// TestBrowserDoorRefusesCrossSite: what another site's page could make a
// browser send, with the operator's cookie attached, is refused before any
// method runs.
func TestBrowserDoorRefusesCrossSite(t *testing.T) {
	h := newHarness(t)
	base, c := browserDoor(t, h)
	resp, _ := connectCall(t, c, base, "gwanje.v1.AccessService/Login", map[string]any{"username": "u-operator", "password": testPassword}, nil)
	if sessionCookieOf(resp) == nil {
		t.Fatal("no cookie after login")
	}
	const logout = "gwanje.v1.AccessService/Logout"
	cases := []struct {
		name string
		edit func(*http.Request)
		code int
	}{
		{"other origin", func(r *http.Request) { r.Header.Set("Origin", "https://evil.example") }, http.StatusForbidden},
		{"plain http origin", func(r *http.Request) { r.Header.Set("Origin", strings.Replace(base, "https:", "http:", 1)) }, http.StatusForbidden},
		{"cross-site fetch", func(r *http.Request) { r.Header.Set("Sec-Fetch-Site", "cross-site") }, http.StatusForbidden},
		{"same-site fetch", func(r *http.Request) { r.Header.Set("Sec-Fetch-Site", "same-site") }, http.StatusForbidden},
		{"form post", func(r *http.Request) {
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.Header.Del("Connect-Protocol-Version")
		}, http.StatusUnsupportedMediaType},
		{"text/plain", func(r *http.Request) { r.Header.Set("Content-Type", "text/plain") }, http.StatusUnsupportedMediaType},
		{"no Connect header", func(r *http.Request) { r.Header.Del("Connect-Protocol-Version") }, http.StatusBadRequest},
		{"GET", func(r *http.Request) { r.Method = http.MethodGet }, http.StatusMethodNotAllowed},
		{"preflight", func(r *http.Request) { r.Method = http.MethodOptions }, http.StatusMethodNotAllowed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, _ := connectCall(t, c, base, logout, map[string]any{}, tc.edit)
			if resp.StatusCode != tc.code {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.code)
			}
			if resp.Header.Get("Access-Control-Allow-Origin") != "" {
				t.Fatal("the door answered with CORS headers")
			}
		})
	}
	// None of them reached Logout: the session is still open.
	resp, out := connectCall(t, c, base, "gwanje.v1.AccessService/WhoAmI", map[string]any{}, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("session ended by a refused request: %d %v", resp.StatusCode, out)
	}
}

// TestBrowserDoorStreamOutlivesWriteTimeout: WatchEvents over Connect
// streams its snapshot through the door (the console's badges), on a
// server whose write timeout is shorter than the stream.
func TestBrowserDoorStream(t *testing.T) {
	h := newHarness(t)
	api, err := h.srv.BrowserHandler()
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(http.StripPrefix(BrowserAPIPrefix, api))
	ts.Config.WriteTimeout = 300 * time.Millisecond
	ts.Config.ReadTimeout = 300 * time.Millisecond
	ts.StartTLS()
	t.Cleanup(ts.Close)
	c := ts.Client()
	c.Jar, _ = cookiejar.New(nil)
	resp, _ := connectCall(t, c, ts.URL, "gwanje.v1.AccessService/Login", map[string]any{"username": "u-operator", "password": testPassword}, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	// A Connect streaming request: one enveloped JSON message.
	msg := []byte(`{}`)
	env := append([]byte{0, 0, 0, 0, byte(len(msg))}, msg...)
	req, _ := http.NewRequest(http.MethodPost, ts.URL+BrowserAPIPrefix+"/gwanje.v1.HealthService/WatchEvents", bytes.NewReader(env))
	req.Header.Set("Content-Type", "application/connect+json")
	req.Header.Set("Origin", ts.URL)
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("WatchEvents: %d %s", resp.StatusCode, b)
	}
	// The snapshot ends with snapshot_done; the stream stays open past the
	// server's write and read timeouts.
	var hdr [5]byte
	for {
		if _, err := io.ReadFull(resp.Body, hdr[:]); err != nil {
			t.Fatalf("reading the stream: %v", err)
		}
		n := int(hdr[1])<<24 | int(hdr[2])<<16 | int(hdr[3])<<8 | int(hdr[4])
		body := make([]byte, n)
		if _, err := io.ReadFull(resp.Body, body); err != nil {
			t.Fatal(err)
		}
		if hdr[0]&2 != 0 {
			t.Fatalf("stream ended: %s", body)
		}
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatal(err)
		}
		if m["snapshotDone"] == true {
			break
		}
	}
	done := make(chan error, 1)
	go func() {
		_, err := io.ReadFull(resp.Body, hdr[:])
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("the stream ended after the server's timeouts: %v", err)
	case <-time.After(time.Second): // the stream is still open: what is asserted
	}
}
