package accesscontrol

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gwanje/gwanje/audit"
)

func TestFailureTrailCountsEverything(t *testing.T) {
	var mu sync.Mutex
	var written []audit.Entry
	write := func(_ context.Context, e audit.Entry) error {
		mu.Lock()
		written = append(written, e)
		mu.Unlock()
		return nil
	}
	ctx := context.Background()
	tr := newFailureTrail(time.Minute, 2, write)
	at := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	fail := func(src, user string, at time.Time) audit.Entry {
		return audit.Entry{Time: at, Type: "auth.login", Outcome: audit.Failed, Reason: "wrong password", Actor: audit.Actor{Username: user}, ClientAddr: src + ":1"}
	}
	// Two tracked addresses and five beyond the bound, 100 failures each.
	for i := 0; i < 100; i++ {
		for a := 0; a < 7; a++ {
			src := fmt.Sprintf("192.0.2.%d", a)
			if _, err := tr.record(ctx, src, fail(src, fmt.Sprintf("user-%d", i%30), at.Add(time.Duration(i)*time.Millisecond)), false); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(written) != 3 {
		t.Fatalf("%d entries written as they happened, want 3 (one per tracked address, one for the others)", len(written))
	}
	// Nothing closes before the window ends; then one counted entry each.
	if err := tr.flush(ctx, at.Add(30*time.Second), false); err != nil || len(written) != 3 {
		t.Fatalf("flush within the window: %v, %d entries", err, len(written))
	}
	if err := tr.flush(ctx, at.Add(time.Minute), false); err != nil {
		t.Fatal(err)
	}
	if len(written) != 6 {
		t.Fatalf("%d entries after the window, want 6", len(written))
	}
	total := 3
	for _, e := range written[3:] {
		n, _ := e.Details["coalesced"].(int)
		total += n
		if names, _ := e.Details["usernames"].([]string); len(names) > maxSampleNames {
			t.Errorf("%d usernames named, want at most %d", len(names), maxSampleNames)
		}
		if e.ClientAddr == "" {
			if addrs, _ := e.Details["addresses_sample"].([]string); len(addrs) != 5 {
				t.Errorf("overflow entry names %v", addrs)
			}
		}
	}
	if total != 700 {
		t.Errorf("entries account for %d failures, want 700", total)
	}
	if len(tr.windows) != 0 {
		t.Errorf("%d windows left open", len(tr.windows))
	}

	// A first failure that finds the writer busy is counted, not written.
	tr.writing <- struct{}{}
	if rec, _ := tr.record(ctx, "198.51.100.1", fail("198.51.100.1", "kim", at.Add(2*time.Minute)), false); rec {
		t.Error("written while the writer was busy")
	}
	<-tr.writing
	if err := tr.flush(ctx, at, true); err != nil || len(written) != 7 || written[6].Details["coalesced"] != 1 {
		t.Fatalf("busy writer's failure not counted: %v %d", err, len(written))
	}
}
