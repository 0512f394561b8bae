package camsim

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzParseRequest feeds arbitrary bytes to the SOAP request parser and to the
// camera's HTTP handler: neither may panic, and the handler always answers
// with a status and (for non-200) a parseable SOAP fault.
func FuzzParseRequest(f *testing.F) {
	seeds := []string{
		`<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><tds:GetSystemDateAndTime xmlns:tds="http://www.onvif.org/ver10/device/wsdl"/></s:Body></s:Envelope>`,
		`<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope">` + wsseHeader("admin", "camsim", fixedTime, []byte("0123456789abcdef")) + `<s:Body><tptz:AbsoluteMove xmlns:tptz="http://www.onvif.org/ver20/ptz/wsdl"><tptz:ProfileToken>Profile_1</tptz:ProfileToken><tptz:Position><PanTilt x="0.5" y="-1"/></tptz:Position></tptz:AbsoluteMove></s:Body></s:Envelope>`,
		`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><x/></s:Body></s:Envelope>`,
		`<!DOCTYPE a [<!ENTITY b "c">]><a>&b;</a>`,
		`<a><b><c>`,
		"",
	}
	// Real camera captures are a good corpus when present (not committed here).
	if m, _ := filepath.Glob("../../shared/onvif-corpus/*/*.xml"); len(m) > 0 {
		for _, p := range m[:min(len(m), 20)] {
			if b, err := os.ReadFile(p); err == nil {
				seeds = append(seeds, string(b))
			}
		}
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	cam, err := New(Config{Dialect: DialectHikvision, PTZ: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = parseRequest(data)
		_ = cam.handleProbe(data)
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/onvif/device_service", strings.NewReader(string(data)))
		cam.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			if _, err := parseXML(rec.Body.Bytes()); err != nil {
				t.Fatalf("status %d with unparseable fault: %v", rec.Code, err)
			}
		}
	})
}

var fixedTime = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
