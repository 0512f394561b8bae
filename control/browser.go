package control

import (
	"context"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"connectrpc.com/vanguard"
	"connectrpc.com/vanguard/vanguardgrpc"
)

// SessionCookie is the cookie that carries a browser's session token: the
// __Host- prefix makes the browser keep it only when Secure, with Path=/ and
// no Domain; it is HttpOnly (script never reads it) and SameSite=Strict.
const SessionCookie = "__Host-gwanje-session"

// BrowserAPIPrefix is where the console reaches the API on the HTTPS
// address: /api/gwanje.v1.AccessService/Login and so on.
const BrowserAPIPrefix = "/api"

// browserWriteStep bounds each write of a browser response; between
// writes a server stream (WatchEvents) may stay quiet for as long as it
// likes.
const browserWriteStep = 30 * time.Second

// browserCall carries a console call's session between the HTTP door and
// the interceptor: the token read from the cookie, and what the call did to
// the session (Login issues one, Logout ends it), which the door turns into
// a Set-Cookie before the response's headers go out. Script never sees the
// token: Login's response to a browser carries none.
type browserCall struct {
	token string

	mu     sync.Mutex
	issued string
	ended  bool
}

type browserKey struct{}

func browserFrom(ctx context.Context) *browserCall {
	b, _ := ctx.Value(browserKey{}).(*browserCall)
	return b
}

// issue records the token of a session Login opened for a browser.
func (b *browserCall) issue(token string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.issued, b.ended = token, false
}

// end records that the browser's session is over (logout, or a cookie
// whose session is no longer valid).
func (b *browserCall) end() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.issued, b.ended = "", true
}

// cookie is the Set-Cookie the call's outcome asks for, or nil.
func (b *browserCall) cookie() *http.Cookie {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := &http.Cookie{Name: SessionCookie, Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode}
	switch {
	case b.issued != "":
		// A session cookie: it ends with the browser as well as with the
		// server's session.
		c.Value = b.issued
		return c
	case b.ended:
		c.MaxAge = -1
		return c
	}
	return nil
}

// browserContentTypes are the request types the door accepts: Connect
// (unary and streaming) and gRPC-Web, in binary or JSON. None of them can be
// sent by an HTML form or a "simple" cross-origin request, so a page of
// another origin cannot make the browser call the API with its cookie
// without a CORS preflight, which the door never answers.
var browserContentTypes = map[string]bool{
	"application/proto": true, "application/json": true,
	"application/connect+proto": true, "application/connect+json": true,
	"application/grpc-web+proto": true, "application/grpc-web": true,
}

// BrowserHandler is the console's door to the API: Connect and gRPC-Web
// requests transcoded (connectrpc.com/vanguard) onto this very grpc.Server,
// so the permission table, the interceptors and the audit path are the ones
// the CLI goes through. Mount it under BrowserAPIPrefix on the HTTPS
// address. The door
//
//   - authenticates by the session cookie only (an Authorization header or
//     metadata a page might set is dropped), and answers Login by setting
//     the cookie and Logout by clearing it;
//   - refuses what a cross-site page could make a browser send: anything
//     but POST, a Sec-Fetch-Site other than same-origin, an Origin other
//     than the request's host, a content type a form can send, and unary
//     Connect calls without the Connect-Protocol-Version header;
//   - bounds each write instead of the whole response, so server streams
//     outlive the HTTPS server's write timeout while a client that stops
//     reading is still dropped.
func (s *Server) BrowserHandler() (http.Handler, error) {
	tc, err := vanguardgrpc.NewTranscoder(s.grpc, vanguard.WithDefaultServiceOptions(
		vanguard.WithMaxMessageBufferBytes(MaxRecvMsgSize)))
	if err != nil {
		return nil, err
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if msg, code := refuseBrowserRequest(r); code != 0 {
			http.Error(w, msg, code)
			return
		}
		b := &browserCall{}
		if c, err := r.Cookie(SessionCookie); err == nil {
			b.token = c.Value
		}
		r = r.Clone(context.WithValue(r.Context(), browserKey{}, b))
		r.Header.Del("Cookie")
		r.Header.Del("Authorization")
		rc := http.NewResponseController(w)
		// A stream's request is read whole before the first message; after
		// that the read deadline must not end it.
		_ = rc.SetReadDeadline(time.Time{})
		_ = rc.SetWriteDeadline(time.Time{})
		tc.ServeHTTP(&browserWriter{ResponseWriter: w, rc: rc, call: b}, r)
	}), nil
}

// refuseBrowserRequest says why r must not reach the API, with its HTTP
// status; code 0 lets it through.
func refuseBrowserRequest(r *http.Request) (string, int) {
	if r.Method != http.MethodPost {
		return "the API takes POST only", http.StatusMethodNotAllowed
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
		return "cross-site request refused", http.StatusForbidden
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || u.Scheme != "https" || !strings.EqualFold(u.Host, r.Host) {
			return "cross-origin request refused", http.StatusForbidden
		}
	}
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || !browserContentTypes[ct] {
		return "unsupported content type: the API speaks Connect and gRPC-Web", http.StatusUnsupportedMediaType
	}
	if (ct == "application/proto" || ct == "application/json") && r.Header.Get("Connect-Protocol-Version") != "1" {
		return "a Connect call needs the header Connect-Protocol-Version: 1", http.StatusBadRequest
	}
	return "", 0
}

// browserWriter sets the session cookie the call asked for before the
// headers go out, and gives each write (and flush) browserWriteStep.
type browserWriter struct {
	http.ResponseWriter
	rc     *http.ResponseController
	call   *browserCall
	header bool
}

func (w *browserWriter) WriteHeader(code int) {
	if !w.header {
		w.header = true
		if c := w.call.cookie(); c != nil {
			http.SetCookie(w.ResponseWriter, c)
		}
		h := w.ResponseWriter.Header()
		h.Set("Cache-Control", "no-store")
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *browserWriter) Write(p []byte) (int, error) {
	if !w.header {
		w.WriteHeader(http.StatusOK)
	}
	_ = w.rc.SetWriteDeadline(time.Now().Add(browserWriteStep))
	defer w.rc.SetWriteDeadline(time.Time{})
	return w.ResponseWriter.Write(p)
}

func (w *browserWriter) Flush() {
	if !w.header {
		w.WriteHeader(http.StatusOK)
	}
	_ = w.rc.SetWriteDeadline(time.Now().Add(browserWriteStep))
	defer w.rc.SetWriteDeadline(time.Time{})
	_ = w.rc.Flush()
}

// Unwrap lets http.ResponseController reach the server's writer.
func (w *browserWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
