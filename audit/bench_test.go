package audit_test

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/gwanje/gwanje/audit"
	"github.com/gwanje/gwanje/events"
	"github.com/gwanje/gwanje/internal/pgtest"
)

// BenchmarkAppend16 appends from 16 goroutines, each waiting for its entry
// to be committed (the test server runs with fsync off: see
// cmd/auditbench for the figure with fsync on beside pgbench's ceiling).
func BenchmarkAppend16(b *testing.B) {
	benchAppend16(b, start(b, pgtest.Pool(b), audit.Config{}))
}

// BenchmarkAppend16Anchored is BenchmarkAppend16 with every checkpoint
// (each 100 entries, the default) anchored in a JetStream stream (real
// in-process nats-server with file storage) and an fsynced file.
func BenchmarkAppend16Anchored(b *testing.B) {
	bus, err := events.New(context.Background(), events.Config{DataDir: b.TempDir(), ListenAddr: "-"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(bus.Close)
	file, err := audit.NewFileAnchor(filepath.Join(b.TempDir(), "anchors.jsonl"))
	if err != nil {
		b.Fatal(err)
	}
	s := start(b, pgtest.Pool(b), audit.Config{Anchors: []audit.AnchorLog{bus.Anchors(), file}})
	benchAppend16(b, s)
	if b.N >= 1000 {
		c, _, ok, err := s.NewestAnchor(context.Background())
		if err != nil || !ok {
			b.Fatalf("nothing anchored: %v", err)
		}
		b.ReportMetric(float64(c.Seq), "last-anchored-seq")
	}
}

func benchAppend16(b *testing.B, s *audit.Store) {
	var i atomic.Int64
	b.SetParallelism(16) // 16 × GOMAXPROCS goroutines; at least 16
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Append(context.Background(), view(int(i.Add(1)))); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}

// BenchmarkVerify verifies a chain of 100,000 entries per iteration.
func BenchmarkVerify(b *testing.B) {
	s := start(b, pgtest.Pool(b), audit.Config{})
	const n = 100000
	done := make(chan struct{})
	var next atomic.Int64
	for w := 0; w < 64; w++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for {
				i := next.Add(1)
				if i > n {
					return
				}
				if _, err := s.Append(context.Background(), view(int(i))); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	for w := 0; w < 64; w++ {
		<-done
	}
	b.ResetTimer()
	for b.Loop() {
		rep, err := s.Verify(context.Background(), audit.VerifyRange{})
		if err != nil || !rep.OK || rep.Checked != n {
			b.Fatalf("%+v %v", rep, err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "entries/s")
}
