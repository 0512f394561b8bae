package onvif

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gwanje/gwanje/internal/redact"
)

const syntheticDir = "testdata/synthetic"

// syntheticChecks has one entry per synthetic capture (testdata/synthetic,
// described in its README): shapes of cameras of further vendors for which
// no public capture exists. Adding a file without an entry fails
// TestSyntheticCorpus.
var syntheticChecks = map[string]check{
	"motion-simpleitem-value/PullMessages.xml": wantValue(func(t *testing.T, got PullResult) {
		if len(got.Messages) != 4 {
			t.Fatalf("%d messages", len(got.Messages))
		}
		type state struct {
			kind             EventKind
			active, hasState bool
		}
		want := []state{{EventMotion, true, true}, {EventTamper, false, true}, {EventMotion, false, true}, {EventOther, false, false}}
		for i, w := range want {
			m := got.Messages[i]
			if (state{m.Kind, m.Active, m.HasState}) != w {
				t.Errorf("message %d (%s): kind %v active %v hasState %v, want %+v", i, m.Topic, m.Kind, m.Active, m.HasState, w)
			}
		}
		if got.Messages[0].Topic != "RuleEngine/CellMotionDetector/Motion" {
			t.Errorf("topic %q", got.Messages[0].Topic)
		}
	}),
	"profile-q-factorydefault/GetScopes.xml": wantScopes(7, ScopeFields{Name: "IPC-Q", Hardware: "IPC-Q2000", Location: "country/korea",
		Profiles: []string{"Streaming", "Q", "T"}}, "onvif://www.onvif.org/Profile/Q/FactoryDefault"),
	"credentials-in-path/GetStreamUri.xml": wantValue(func(t *testing.T, got string) {
		const raw = "rtsp://192.168.1.10:554/user=admin_password=secret_channel=1_stream=0.sdp?real_stream"
		if got != raw {
			t.Errorf("uri %q, want %q", got, raw)
		}
		r := redact.URL(got)
		if r != "rtsp://192.168.1.10:554/user=xxxxx_password=xxxxx_channel=1_stream=0.sdp?real_stream" || !redact.Contains(got) {
			t.Errorf("redacted %q", r)
		}
	}),
	"streamuri-fault/GetStreamUri.Fault.xml":     wantFault("Receiver", []string{"Action"}, "GetStreamUri failed"),
	"clock-fault/GetSystemDateAndTime.Fault.xml": wantFault("Receiver", []string{"ActionNotSupported"}, "GetSystemDateAndTime is not supported", ErrNotSupported),
}

func syntheticFiles(t testing.TB) []string {
	var files []string
	err := filepath.WalkDir(syntheticDir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".xml") {
			rel, _ := filepath.Rel(syntheticDir, p)
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestSyntheticCorpus parses every synthetic capture with the parser its
// first Body element selects and asserts what it must yield.
func TestSyntheticCorpus(t *testing.T) {
	files := syntheticFiles(t)
	if len(files) != len(syntheticChecks) {
		t.Errorf("%d files, %d checks", len(files), len(syntheticChecks))
	}
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(syntheticDir, f))
			if err != nil {
				t.Fatal(err)
			}
			chk, ok := syntheticChecks[f]
			if !ok {
				t.Fatal("no check for this file in syntheticChecks")
			}
			name, v, err := ParseResponse(data)
			base := strings.SplitN(filepath.Base(f), ".", 2)[0]
			var fe *FaultError
			if strings.Contains(f, ".Fault.") {
				if !errors.As(err, &fe) {
					t.Errorf("fault file parsed as %s: %v", name, err)
				}
			} else if name != base+"Response" {
				t.Errorf("body element %s, want %sResponse", name, base)
			}
			chk(t, v, err)
		})
	}
}

// TestParseScopesProfile reads the profile from the first segment of a
// Profile scope.
func TestParseScopesProfile(t *testing.T) {
	tests := []struct {
		items []string
		want  []string
	}{
		{[]string{"onvif://www.onvif.org/Profile/Q/FactoryDefault"}, []string{"Q"}},
		{[]string{"onvif://www.onvif.org/Profile/Q/Operational", "onvif://www.onvif.org/Profile/Q"}, []string{"Q"}},
		{[]string{"onvif://www.onvif.org/profile/streaming", "onvif://www.onvif.org/Profile/T/"}, []string{"streaming", "T"}},
		{[]string{"onvif://www.onvif.org/Profile/", "onvif://www.onvif.org/Profile//x"}, nil},
	}
	for _, tc := range tests {
		if got := ParseScopes(tc.items).Profiles; !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: got %q, want %q", tc.items, got, tc.want)
		}
	}
}
