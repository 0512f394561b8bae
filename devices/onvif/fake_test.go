package onvif

import (
	"crypto/md5"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeDevice is a minimal ONVIF device for HTTP-level tests: it answers
// operations with canned envelopes (often real captures from the corpus),
// checks WS-Security against its own (possibly skewed) clock and/or HTTP
// digest, and records requests.
type fakeDevice struct {
	t        *testing.T
	srv      *httptest.Server
	user     string
	pass     string
	wsse     bool          // accept WS-Security
	digest   bool          // accept HTTP digest (and challenge when nothing else)
	skew     time.Duration // device clock minus real clock
	answers  map[string]string
	mu       sync.Mutex
	requests []fakeRequest
}

type fakeRequest struct {
	Op     string
	Header string // raw SOAP header
	Body   []byte // whole envelope
	Auth   string // HTTP Authorization
}

func corpusFile(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(corpusDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func envelope(body string) string {
	return `<?xml version="1.0" encoding="UTF-8"?><env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" ` +
		`xmlns:tt="http://www.onvif.org/ver10/schema" xmlns:tds="http://www.onvif.org/ver10/device/wsdl" ` +
		`xmlns:trt="http://www.onvif.org/ver10/media/wsdl" xmlns:tptz="http://www.onvif.org/ver20/ptz/wsdl" ` +
		`xmlns:tev="http://www.onvif.org/ver10/events/wsdl" xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2" ` +
		`xmlns:ter="http://www.onvif.org/ver10/error"><env:Body>` + body + `</env:Body></env:Envelope>`
}

func faultEnvelope(sub, reason string) string {
	return envelope(`<env:Fault><env:Code><env:Value>env:Sender</env:Value><env:Subcode><env:Value>ter:` + sub +
		`</env:Value></env:Subcode></env:Code><env:Reason><env:Text xml:lang="en">` + reason + `</env:Text></env:Reason></env:Fault>`)
}

func newFakeDevice(t *testing.T) *fakeDevice {
	f := &fakeDevice{t: t, user: "admin", pass: "s3cret-pw", answers: map[string]string{}}
	f.srv = httptest.NewServer(f)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeDevice) url() string { return f.srv.URL + "/onvif/device_service" }

func (f *fakeDevice) now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return time.Now().Add(f.skew)
}

func (f *fakeDevice) setSkew(d time.Duration) {
	f.mu.Lock()
	f.skew = d
	f.mu.Unlock()
}

func (f *fakeDevice) last(op string) fakeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := len(f.requests) - 1; i >= 0; i-- {
		if f.requests[i].Op == op {
			return f.requests[i]
		}
	}
	f.t.Fatalf("no %s request", op)
	return fakeRequest{}
}

type wsseHeader struct {
	Header struct {
		Inner    string `xml:",innerxml"`
		Security *struct {
			Username string `xml:"UsernameToken>Username"`
			Password string `xml:"UsernameToken>Password"`
			Nonce    string `xml:"UsernameToken>Nonce"`
			Created  string `xml:"UsernameToken>Created"`
		} `xml:"Security"`
	} `xml:"Header"`
}

func (f *fakeDevice) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	data, _ := io.ReadAll(r.Body)
	op, err := bodyElement(data)
	if err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	var h wsseHeader
	_ = xml.Unmarshal(data, &h)
	f.mu.Lock()
	f.requests = append(f.requests, fakeRequest{Op: op, Header: h.Header.Inner, Body: data, Auth: r.Header.Get("Authorization")})
	f.mu.Unlock()

	if op == "GetSystemDateAndTime" {
		n := f.now().UTC()
		writeXML(w, 200, envelope(fmt.Sprintf(`<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime><tt:DateTimeType>Manual</tt:DateTimeType>`+
			`<tt:DaylightSavings>false</tt:DaylightSavings><tt:TimeZone><tt:TZ>KST-9</tt:TZ></tt:TimeZone><tt:UTCDateTime><tt:Time><tt:Hour>%d</tt:Hour>`+
			`<tt:Minute>%d</tt:Minute><tt:Second>%d</tt:Second></tt:Time><tt:Date><tt:Year>%d</tt:Year><tt:Month>%d</tt:Month><tt:Day>%d</tt:Day>`+
			`</tt:Date></tt:UTCDateTime></tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>`,
			n.Hour(), n.Minute(), n.Second(), n.Year(), int(n.Month()), n.Day())))
		return
	}
	authed := !f.wsse && !f.digest
	if f.wsse && h.Header.Security != nil && f.checkWSSE(h.Header.Security.Username, h.Header.Security.Password, h.Header.Security.Nonce, h.Header.Security.Created) {
		authed = true
	}
	if f.digest && !authed {
		if a := r.Header.Get("Authorization"); a != "" && f.checkDigest(r.Method, a) {
			authed = true
		} else if !f.wsse || h.Header.Security == nil {
			w.Header().Set("WWW-Authenticate", `Digest realm="fake", qop="auth", nonce="abc123", algorithm=MD5`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
	}
	if !authed {
		writeXML(w, 400, faultEnvelope("NotAuthorized", "Sender not Authorized"))
		return
	}
	ans, ok := f.answers[op]
	if !ok {
		writeXML(w, 500, faultEnvelope("ActionNotSupported", "Optional Action Not Implemented"))
		return
	}
	writeXML(w, 200, ans)
}

func writeXML(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/soap+xml; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

func (f *fakeDevice) checkWSSE(user, digest, nonce, created string) bool {
	if user != f.user {
		return false
	}
	c, err := time.Parse(time.RFC3339Nano, created)
	if err != nil {
		return false
	}
	if d := f.now().Sub(c); d > 5*time.Second || d < -5*time.Second {
		return false
	}
	n, err := base64.StdEncoding.DecodeString(nonce)
	if err != nil {
		return false
	}
	s := sha1.Sum([]byte(string(n) + created + f.pass))
	return base64.StdEncoding.EncodeToString(s[:]) == digest
}

func (f *fakeDevice) checkDigest(method, header string) bool {
	if !strings.HasPrefix(header, "Digest ") {
		return false
	}
	p := map[string]string{}
	for _, kv := range strings.Split(header[len("Digest "):], ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		p[k] = strings.Trim(v, `"`)
	}
	md := func(s string) string { h := md5.Sum([]byte(s)); return hex.EncodeToString(h[:]) }
	ha1 := md(f.user + ":fake:" + f.pass)
	ha2 := md(method + ":" + p["uri"])
	want := md(ha1 + ":" + p["nonce"] + ":" + p["nc"] + ":" + p["cnonce"] + ":" + p["qop"] + ":" + ha2)
	return p["username"] == f.user && p["response"] == want
}
