package onvif

import (
	"testing"
	"time"
)

func TestXSDScalars(t *testing.T) {
	seoul := time.FixedZone("KST", 9*3600)
	for _, tc := range []struct {
		in       string
		loc      *time.Location
		want     string // RFC3339 in UTC, "" for an error
		zoneless bool
	}{
		{"2018-02-27T18:28:52Z", seoul, "2018-02-27T18:28:52Z", false},
		{"2024-04-08T16:01:49.123+09:00", time.UTC, "2024-04-08T07:01:49Z", false},
		{"2021-07-28T10:00:00", time.UTC, "2021-07-28T10:00:00Z", true},
		{"2021-07-28T10:00:00", seoul, "2021-07-28T01:00:00Z", true},
		{"2021-07-28T10:00:00-0500", time.UTC, "2021-07-28T15:00:00Z", false},
		{"yesterday", time.UTC, "", true},
	} {
		got, err := parseXSDTimeIn(tc.in, tc.loc)
		if tc.want == "" {
			if err == nil {
				t.Errorf("%q: no error", tc.in)
			}
		} else if err != nil || got.Format(time.RFC3339) != tc.want {
			t.Errorf("%q in %v: %v %v, want %s", tc.in, tc.loc, got, err, tc.want)
		}
		if zoneless(tc.in) != tc.zoneless {
			t.Errorf("zoneless(%q) = %v", tc.in, !tc.zoneless)
		}
	}
	for in, want := range map[string]time.Duration{
		"PT0H0M2S": 2 * time.Second, "PT60S": time.Minute, "PT0S": 0, "P1DT2H": 26 * time.Hour, "-PT1.5S": -1500 * time.Millisecond,
	} {
		if got, err := parseXSDDuration(in); err != nil || got != want {
			t.Errorf("duration %q: %v %v, want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "P", "PT", "2S", "PT2", "PTXS", "P1H", "PT1D", "P99999999999999Y"} {
		if _, err := parseXSDDuration(bad); err == nil {
			t.Errorf("duration %q accepted", bad)
		}
	}
	for d, want := range map[time.Duration]string{2 * time.Second: "PT2S", 1500 * time.Millisecond: "PT1.500S", 0: "PT0S"} {
		if got := formatXSDDuration(d); got != want {
			t.Errorf("format %v = %q, want %q", d, got, want)
		}
	}
}
