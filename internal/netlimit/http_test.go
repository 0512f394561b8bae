package netlimit

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestWriteProgress: a response written in parts, with a pause longer than
// the server's WriteTimeout between them, arrives whole when the handler
// is wrapped in WriteProgress, and is cut without it.
func TestWriteProgress(t *testing.T) {
	const writeTimeout = 200 * time.Millisecond
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		for i := 0; i < 3; i++ {
			io.WriteString(w, strings.Repeat("x", 1024))
			rc.Flush()
			<-time.After(2 * writeTimeout) // the client is slow, but reading
		}
		io.WriteString(w, "end")
	})
	tests := []struct {
		name    string
		handler http.Handler
		whole   bool
	}{
		{"wrapped", WriteProgress(slow, 5*time.Second), true},
		{"plain", slow, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewUnstartedServer(tt.handler)
			srv.Config = NewHTTPServer(tt.handler, time.Minute)
			srv.Config.WriteTimeout = writeTimeout
			srv.Start()
			defer srv.Close()
			res, err := http.Get(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(res.Body)
			res.Body.Close()
			whole := err == nil && strings.HasSuffix(string(b), "end")
			if whole != tt.whole {
				t.Fatalf("got %d bytes (%v), want whole=%v", len(b), err, tt.whole)
			}
		})
	}
}

func TestNewHTTPServerTimeouts(t *testing.T) {
	s := NewHTTPServer(http.NotFoundHandler(), 42*time.Second)
	if s.ReadHeaderTimeout == 0 || s.ReadTimeout == 0 || s.WriteTimeout == 0 || s.IdleTimeout != 42*time.Second || s.MaxHeaderBytes == 0 {
		t.Fatalf("server without every timeout: %+v", s)
	}
}
