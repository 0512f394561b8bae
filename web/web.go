// Package web serves the operator console: the built bundle (dist/, made
// from the TypeScript sources beside it by scripts/buildconsole and
// embedded here, so gwanjed needs no Node at run time) at / of the HTTPS
// address, and the API door (control.Server.BrowserHandler) under /api.
// Every response carries a strict Content-Security-Policy: scripts and
// styles only from the bundle, no inline script, no eval, connections only
// to this origin (and the stream nodes named in Config.MediaOrigins).
package web

import (
	"bytes"
	"embed"
	"errors"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"
)

//go:embed all:dist
var dist embed.FS

// APIPrefix is where the API door is mounted (control.BrowserAPIPrefix).
const APIPrefix = "/api"

// DefaultIdleLock is Config.IdleLock's default.
const DefaultIdleLock = 10 * time.Minute

// Config configures the console.
type Config struct {
	// API is the door to the gRPC services for browsers
	// (control.Server.BrowserHandler); without it the console's calls get
	// 503.
	API http.Handler
	// IdleLock is how long the console may go without the operator's
	// input before it locks: it logs out (ending the live views) and asks
	// for the password again, then reopens the wall. Default
	// DefaultIdleLock; negative: never.
	IdleLock time.Duration
	// MediaOrigins are other origins the console may connect to for video
	// (stream nodes' HTTPS addresses when they are not this one), added to
	// the policy's connect-src.
	MediaOrigins []string
	// Logger; default slog.Default().
	Logger *slog.Logger
}

// Handler serves the console.
type Handler struct {
	cfg   Config
	files fs.FS
	index []byte
	csp   string
}

// New builds the console's handler.
func New(cfg Config) (*Handler, error) {
	if cfg.IdleLock == 0 {
		cfg.IdleLock = DefaultIdleLock
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	files, err := fs.Sub(dist, "dist")
	if err != nil {
		return nil, err
	}
	index, err := fs.ReadFile(files, "index.html")
	if err != nil {
		return nil, errors.New("web: the embedded bundle has no index.html: run scripts/buildconsole")
	}
	lock := int64(cfg.IdleLock / time.Second)
	if cfg.IdleLock < 0 {
		lock = 0
	}
	// The one setting the page needs, in a meta element (no inline script).
	index = bytes.Replace(index, []byte(`name="gwanje-idle-lock" content="600"`),
		[]byte(`name="gwanje-idle-lock" content="`+strconv.FormatInt(lock, 10)+`"`), 1)
	for _, o := range cfg.MediaOrigins {
		if strings.ContainsAny(o, " ;'\"\n") {
			return nil, errors.New("web: a media origin may not contain spaces, quotes or semicolons")
		}
	}
	connect := strings.Join(append([]string{"'self'"}, cfg.MediaOrigins...), " ")
	csp := "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; " +
		"font-src 'self'; connect-src " + connect + "; worker-src 'self' blob:; manifest-src 'self'; " +
		"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
	return &Handler{cfg: cfg, files: files, index: index, csp: csp}, nil
}

// CSP is the Content-Security-Policy of every response.
func (h *Handler) CSP() string { return h.csp }

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", h.csp)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	hd.Set("Cross-Origin-Resource-Policy", "same-origin")
	hd.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
	if p := r.URL.Path; p == APIPrefix || strings.HasPrefix(p, APIPrefix+"/") {
		if h.cfg.API == nil {
			http.Error(w, "this process does not run the control role", http.StatusServiceUnavailable)
			return
		}
		http.StripPrefix(APIPrefix, h.cfg.API).ServeHTTP(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name := strings.TrimPrefix(path.Clean(r.URL.Path), "/")
	if name != "" && name != "index.html" {
		if b, err := fs.ReadFile(h.files, name); err == nil {
			if ct := mime.TypeByExtension(path.Ext(name)); ct != "" {
				hd.Set("Content-Type", ct)
			}
			if strings.HasPrefix(name, "assets/") {
				// Vite names these by their content hash.
				hd.Set("Cache-Control", "public, max-age=31536000, immutable")
			}
			http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(b))
			return
		}
		if path.Ext(name) != "" {
			http.NotFound(w, r)
			return
		}
	}
	// Every other path is a screen of the console.
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, "index.html", time.Time{}, bytes.NewReader(h.index))
}
