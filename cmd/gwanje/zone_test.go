package main

import (
	"testing"
	"time"
)

// TestTimesInInstitutionZone: footage typed as 10:00 on a workstation set
// to UTC is 10:00 KST (01:00 UTC), not 19:00 KST.
func TestTimesInInstitutionZone(t *testing.T) {
	old := time.Local
	time.Local = time.UTC
	defer func() { time.Local = old }()
	from, to, err := parseRange("2026-11-22 10:00", "2026-11-22 11:00")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := from.AsTime(), time.Date(2026, 11, 22, 1, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("--from 10:00 read as %s, want %s", got, want)
	}
	if got := to.AsTime().In(zone).Format("2006-01-02 15:04 MST"); got != "2026-11-22 11:00 KST" {
		t.Errorf("printed as %s", got)
	}
	d, err := parseWhen("2026-12-31")
	if err != nil || !d.Equal(time.Date(2026, 12, 30, 15, 0, 0, 0, time.UTC)) {
		t.Errorf("parseWhen: %s %v", d, err)
	}
}
