package devices

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/gwanje/gwanje/camsim"
)

// TestDiscoverRegisterReadBack discovers simulated cameras of every dialect
// by unicast probes on loopback, registers them from the candidates and
// reads them back; a camera registered before is marked.
func TestDiscoverRegisterReadBack(t *testing.T) {
	e := newEnv(t)
	site := e.site("site")
	fleet, err := camsim.StartFleet(e.ctx, camsim.FleetConfig{Count: 6, PTZEvery: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fleet.Close)
	var targets []string
	for _, c := range fleet.Cameras() {
		targets = append(targets, c.DiscoveryAddr().String())
	}
	first := fleet.Cameras()[0]
	pre, err := e.reg.Register(e.ctx, RegisterRequest{DeviceURL: first.DeviceServiceURL(), Username: "admin", Password: "camsim",
		Fields: fields(site, "registered before")}, e.actor)
	if err != nil {
		t.Fatal(err)
	}
	cands, err := e.reg.DiscoverAll(e.ctx, DiscoverRequest{Targets: targets})
	if err != nil {
		t.Fatal(err)
	}
	if len(cands) != len(targets) {
		t.Fatalf("%d candidates, want %d", len(cands), len(targets))
	}
	registered := 0
	for i, c := range cands {
		if c.EndpointReference == "" || c.DeviceURL == "" {
			t.Fatalf("candidate %+v", c)
		}
		if c.Registered {
			registered++
			if c.CameraID != pre.Camera.ID || c.DeviceURL != first.DeviceServiceURL() {
				t.Errorf("marked %+v", c)
			}
			continue
		}
		_, err := e.reg.Register(e.ctx, RegisterRequest{Candidate: &cands[i], Username: "admin", Password: "camsim",
			Fields: fields(site, fmt.Sprintf("cam %d", i))}, e.actor)
		if err != nil {
			t.Fatalf("Register %s: %v", c.DeviceURL, err)
		}
	}
	if registered != 1 {
		t.Fatalf("%d candidates marked registered", registered)
	}
	page, err := e.reg.List(e.ctx, Filter{SiteID: site.ID})
	if err != nil || len(page.Cameras) != len(targets) {
		t.Fatalf("List: %d %v", len(page.Cameras), err)
	}
	var got, want []string
	for _, c := range page.Cameras {
		got = append(got, c.Device.DeviceURL+" "+c.Device.Serial)
	}
	for _, c := range fleet.Cameras() {
		want = append(want, c.DeviceServiceURL()+" "+c.Info().SerialNumber)
	}
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("read back\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Now every one is marked, by endpoint reference.
	again, err := e.reg.DiscoverAll(e.ctx, DiscoverRequest{Targets: targets})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range again {
		if !c.Registered {
			t.Errorf("not marked: %+v", c)
		}
	}
	// A second registration of a discovered device by endpoint reference: it already exists.
	if _, err := e.reg.Register(e.ctx, RegisterRequest{Candidate: &again[1], Username: "admin", Password: "camsim",
		Fields: fields(site, "dup")}, e.actor); !errors.Is(err, ErrAlreadyExists) {
		t.Fatalf("duplicate: %v", err)
	}
	if _, err := e.reg.DiscoverAll(e.ctx, DiscoverRequest{Targets: []string{"10.0.0.0/8"}}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("huge range: %v", err)
	}
}

func TestCSVScanner(t *testing.T) {
	sc := newCSVScanner("a, \"b,c\" ,d\r\n\"x\"\"y\"\r\"multi\nline\",z\n\"open")
	var got []string
	var lines []int
	for {
		rec, line, err, ok := sc.next()
		if !ok {
			break
		}
		if err != nil {
			got = append(got, "ERR")
			lines = append(lines, line)
			continue
		}
		got = append(got, strings.Join(rec, "|"))
		lines = append(lines, line)
	}
	want := []string{"a|b,c |d", "x\"y", "multi\nline|z", "ERR"}
	if strings.Join(got, "/") != strings.Join(want, "/") || fmt.Sprint(lines) != "[1 2 3 5]" {
		t.Fatalf("got %q lines %v", got, lines)
	}
}
