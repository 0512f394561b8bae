package onvif

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseResponse feeds arbitrary bytes to the response parsers: they must
// never panic, and every failure must be one of the typed errors. Seeds:
// testdata/fuzz/FuzzParseResponse and every corpus and synthetic file.
func FuzzParseResponse(f *testing.F) {
	for _, file := range corpusFiles(f) {
		data, err := os.ReadFile(filepath.Join(corpusDir, file))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, file := range syntheticFiles(f) {
		data, err := os.ReadFile(filepath.Join(syntheticDir, file))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		name, v, err := ParseResponse(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrFault) && !errors.Is(err, ErrNotSupported) {
				t.Fatalf("untyped error %T: %v", err, err)
			}
			return
		}
		if v == nil || parsers[name] == nil {
			t.Fatalf("success without a value for %q", name)
		}
		// Every parser must agree with the dispatcher on the same input.
		if _, err := parsers[name](data); err != nil {
			t.Fatalf("parser %s fails on accepted input: %v", name, err)
		}
	})
}

// FuzzParseProbeMatches checks WS-Discovery answers, which arrive from
// anyone on the network.
func FuzzParseProbeMatches(f *testing.F) {
	f.Add([]byte(probeMatch("urn:uuid:1", "00000000-0000-4000-8000-000000000001", "http://192.0.2.1/onvif/device_service", "cam")))
	f.Add([]byte(corpusFile(f, "amcrest-IP5M-B1186E/ProbeMatches.xml")))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, matches, err := parseProbeMatches(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrFault) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		for _, m := range matches {
			if m.EndpointReference == "" && len(m.XAddrs) == 0 {
				t.Fatal("match without identity accepted")
			}
		}
	})
}

// FuzzXSDValues covers the scalar parsers used on device-supplied text.
func FuzzXSDValues(f *testing.F) {
	for _, s := range []string{"PT0H0M2S", "PT60S", "PT0S", "P1DT2H", "-PT1.5S", "PT", "P", "2018-02-27T18:28:52Z",
		"2021-07-28T10:00:00", "2024-04-08T16:01:49.123456+09:00", "tns1:RuleEngine/CellMotionDetector/Motion"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = parseXSDDuration(s)
		_, _ = parseXSDTime(s)
		_ = normalizeTopic(s)
		_ = localPart(s)
	})
}
