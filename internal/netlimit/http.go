package netlimit

import (
	"net/http"
	"time"
)

// HTTP timeouts of every gwanje HTTP server (see NewHTTPServer).
const (
	// ReadHeaderTimeout bounds how long a client may take to send a
	// request's headers.
	ReadHeaderTimeout = 10 * time.Second
	// ReadTimeout bounds reading a whole request (gwanje's HTTP requests
	// are small GETs).
	ReadTimeout = 30 * time.Second
	// WriteTimeout bounds writing a response; a handler wrapped in
	// WriteProgress may write longer as long as the client reads.
	WriteTimeout = 60 * time.Second
	// MaxHeaderBytes bounds a request's headers.
	MaxHeaderBytes = 64 << 10
)

// NewHTTPServer returns a server with gwanje's timeouts: headers within
// ReadHeaderTimeout, the request within ReadTimeout, the response within
// WriteTimeout, and a keep-alive connection closed after idle without a
// request.
func NewHTTPServer(h http.Handler, idle time.Duration) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       idle,
		MaxHeaderBytes:    MaxHeaderBytes,
	}
}

// WriteProgress lets h write for as long as the client keeps reading: every
// write moves the connection's write deadline d ahead, so a large download
// outlasts the server's WriteTimeout, while a client that stops reading is
// still dropped d after its last progress.
func WriteProgress(h http.Handler, d time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pw := &progressWriter{ResponseWriter: w, rc: http.NewResponseController(w), d: d}
		_ = pw.rc.SetWriteDeadline(time.Now().Add(d))
		h.ServeHTTP(pw, r)
	})
}

type progressWriter struct {
	http.ResponseWriter
	rc *http.ResponseController
	d  time.Duration
}

func (w *progressWriter) Write(p []byte) (int, error) {
	_ = w.rc.SetWriteDeadline(time.Now().Add(w.d))
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the server's writer.
func (w *progressWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
