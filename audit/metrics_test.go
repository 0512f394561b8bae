package audit_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gwanje/gwanje/audit"
	"github.com/gwanje/gwanje/internal/pgtest"
)

// gauges gathers the store's metrics into name → value (histograms: their
// sample count, summed over labels).
func gauges(t *testing.T, s *audit.Store) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(s.Collectors()...)
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			switch {
			case m.GetGauge() != nil:
				out[f.GetName()] += m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				out[f.GetName()] += float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}

// TestMetricsFollowOutboxAndCheckpoints: appends are timed; while NATS
// refuses, the outbox lag grows in entries and seconds and no checkpoint
// covers the new entries; once it accepts, both go back to 0.
func TestMetricsFollowOutboxAndCheckpoints(t *testing.T) {
	bus := &flakyBus{}
	bus.down.Store(true)
	s := start(t, pgtest.Pool(t), audit.Config{Publisher: bus, RelayInterval: 20 * time.Millisecond, CheckpointInterval: 50 * time.Millisecond})
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		if _, err := s.Append(ctx, audit.Entry{Type: "test.metrics", Outcome: audit.Success, Actor: audit.Actor{Username: "u"}}); err != nil {
			t.Fatal(err)
		}
	}
	g := gauges(t, s)
	if g["gwanje_audit_scrape_ok"] != 1 || g["gwanje_audit_head_seq"] != 5 || g["gwanje_audit_outbox_lag_entries"] != 5 ||
		g["gwanje_audit_outbox_lag_seconds"] <= 0 || g["gwanje_audit_unanchored_seconds"] <= 0 || g["gwanje_audit_append_seconds"] != 5 {
		t.Fatalf("while NATS refuses: %v", g)
	}
	bus.down.Store(false)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		g = gauges(t, s)
		if g["gwanje_audit_outbox_lag_entries"] == 0 && g["gwanje_audit_outbox_lag_seconds"] == 0 && g["gwanje_audit_unanchored_seconds"] == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after NATS came back: %v", g)
		}
	}
	if _, ok := g["gwanje_audit_anchored_checkpoint_age_seconds"]; !ok {
		t.Fatalf("no checkpoint age once a checkpoint was signed: %v", g)
	}
}
