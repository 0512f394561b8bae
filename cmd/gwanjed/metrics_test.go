package main

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestMetricsDocumented scrapes a running --demo server (every role in one
// process) and compares what it serves with deploy/METRICS.md: every metric
// documented as always present is served, and every gwanje_ metric served is
// documented.
func TestMetricsDocumented(t *testing.T) {
	b, err := os.ReadFile("../../deploy/METRICS.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `(gwanje_[a-z0-9_]+)` \\|(.*)$")
	documented := map[string]bool{}
	var always []string
	for _, m := range row.FindAllStringSubmatch(string(b), -1) {
		cols := strings.Split(m[2], "|")
		if len(cols) < 5 {
			t.Fatalf("METRICS.md: row of %s is short", m[1])
		}
		documented[m[1]] = true
		if strings.TrimSpace(cols[3]) == "always" {
			always = append(always, m[1])
		}
	}
	if len(always) < 40 {
		t.Fatalf("METRICS.md: only %d metrics always present", len(always))
	}

	dir := newDataDir(t)
	base := fmt.Sprintf("127.%d.%d.1", 100+rand.IntN(100), rand.IntN(250))
	p, err := start(t, dir, "--demo", "--demo-password", "metrics-test-Passw0rd", "--demo-base-ip", base, "--health-interval", "1s")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`msg=serving .*\bhttp=(\S+)`).FindStringSubmatch(p.output())
	if m == nil {
		t.Fatalf("no http address in %s", p.output())
	}
	url := "http://" + m[1] + "/metrics"
	typeLine := regexp.MustCompile(`(?m)^# TYPE (\S+) (\S+)$`)
	var served map[string]bool
	var missing []string
	// The demo's cameras come up, are recorded and reach a checkpoint
	// within seconds; poll until every metric is there.
	for deadline := time.Now().Add(2 * time.Minute); ; {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /metrics: %v %d", err, resp.StatusCode)
		}
		served = map[string]bool{}
		for _, tm := range typeLine.FindAllStringSubmatch(string(body), -1) {
			served[tm[1]] = true
		}
		missing = missing[:0]
		for _, n := range always {
			if !served[n] {
				missing = append(missing, n)
			}
		}
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			var audit []string
			for _, l := range strings.Split(string(body), "\n") {
				if strings.HasPrefix(l, "gwanje_audit") || strings.HasPrefix(l, "gwanje_postgres") {
					audit = append(audit, l)
				}
			}
			t.Fatalf("documented as always present but not served after 2 minutes: %v\n%s\n%s", missing, strings.Join(audit, "\n"), p.output())
		}
		time.Sleep(500 * time.Millisecond)
	}
	var undocumented []string
	for n := range served {
		if strings.HasPrefix(n, "gwanje_") && !documented[n] {
			undocumented = append(undocumented, n)
		}
	}
	slices.Sort(undocumented)
	if len(undocumented) > 0 {
		t.Errorf("served but not in deploy/METRICS.md: %v", undocumented)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get("http://" + m[1] + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %d", path, resp.StatusCode)
		}
	}
}
