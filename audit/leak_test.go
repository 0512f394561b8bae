package audit_test

import (
	"context"
	"runtime"
	"testing"

	"github.com/gwanje/gwanje/audit"
	"github.com/gwanje/gwanje/internal/pgtest"
)

// TestNoGoroutineLeak: after Close every goroutine the store started is
// gone (the pool's own are started before the count).
func TestNoGoroutineLeak(t *testing.T) {
	pool := pgtest.Pool(t)
	if err := pool.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	before := runtime.NumGoroutine()
	bus := &flakyBus{}
	s, err := audit.New(audit.Config{Pool: pool, SigningKey: testKey, Publisher: bus, Pipeline: 2})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(context.Background()) }()
	mustAppend(t, s, 20)
	s.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	poll(t, func() bool { return runtime.NumGoroutine() <= before })
}
