package camsim

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/icholy/digest"
)

// startCam starts a camera on random loopback ports and closes it at test end.
func startCam(t testing.TB, cfg Config) *Camera {
	t.Helper()
	cam, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := cam.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cam.Close() })
	return cam
}

// rawClient speaks SOAP the way our own ONVIF client would: WS-Security
// when the dialect takes it, HTTP Digest transport always.
type rawClient struct {
	cam      *Camera
	user, pw string
	wsse     bool
	offset   time.Duration // added to Created
	nonce    []byte        // fixed nonce (replay tests); random when nil
	http     *http.Client
}

func newRaw(cam *Camera, user, pw string) *rawClient {
	return &rawClient{cam: cam, user: user, pw: pw, wsse: cam.d.wsse,
		http: &http.Client{Timeout: 30 * time.Second, Transport: &digest.Transport{Username: user, Password: pw}}}
}

func wsseHeader(user, pw string, created time.Time, nonce []byte) string {
	if nonce == nil {
		nonce = make([]byte, 16)
		_, _ = rand.Read(nonce)
	}
	cr := created.UTC().Format("2006-01-02T15:04:05.000Z")
	h := sha1.New()
	h.Write(nonce)
	h.Write([]byte(cr))
	h.Write([]byte(pw))
	return fmt.Sprintf(`<s:Header><wsse:Security xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd" xmlns:wsu="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd" s:mustUnderstand="1"><wsse:UsernameToken><wsse:Username>%s</wsse:Username><wsse:Password Type="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest">%s</wsse:Password><wsse:Nonce EncodingType="http://docs.oasis-open.org/wss/2004/01/oasis-200401-soap-message-security-1.0#Base64Binary">%s</wsse:Nonce><wsu:Created>%s</wsu:Created></wsse:UsernameToken></wsse:Security></s:Header>`,
		user, base64.StdEncoding.EncodeToString(h.Sum(nil)), base64.StdEncoding.EncodeToString(nonce), cr)
}

// call posts body (one operation element) to url and parses the answer.
func (rc *rawClient) call(t testing.TB, url, body string) (int, *node, string) {
	t.Helper()
	hdr := ""
	if rc.wsse {
		hdr = wsseHeader(rc.user, rc.pw, time.Now().Add(rc.offset), rc.nonce)
	}
	env := `<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:tds="http://www.onvif.org/ver10/device/wsdl" xmlns:trt="http://www.onvif.org/ver10/media/wsdl" xmlns:tr2="http://www.onvif.org/ver20/media/wsdl" xmlns:tptz="http://www.onvif.org/ver20/ptz/wsdl" xmlns:tev="http://www.onvif.org/ver10/events/wsdl" xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2" xmlns:tt="http://www.onvif.org/ver10/schema">` +
		hdr + `<s:Body>` + body + `</s:Body></s:Envelope>`
	resp, err := rc.http.Post(url, "application/soap+xml; charset=utf-8", strings.NewReader(env))
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	root, err := parseXML(b)
	if err != nil {
		t.Fatalf("answer is not XML (%v): %.300s", err, b)
	}
	return resp.StatusCode, root, string(b)
}

// faultSubcode returns the first Subcode value of a SOAP fault answer, "" if none.
func faultSubcode(root *node) string {
	return root.textAt("Body", "Fault", "Code", "Subcode", "Value")
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var _ = bytes.NewReader

func ioCopy(w io.Writer, r *http.Response) (int64, error) {
	defer r.Body.Close()
	return io.Copy(w, r.Body)
}
