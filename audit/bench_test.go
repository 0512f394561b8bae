package audit_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/gwanje/gwanje/audit"
	"github.com/gwanje/gwanje/internal/pgtest"
)

// BenchmarkAppend16 appends from 16 goroutines, each waiting for its entry
// to be committed (the test server runs with fsync off: see
// cmd/auditbench for the figure with fsync on beside pgbench's ceiling).
func BenchmarkAppend16(b *testing.B) {
	s := start(b, pgtest.Pool(b), audit.Config{})
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
