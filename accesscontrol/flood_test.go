package accesscontrol

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
)

// TestLoginFloodIsBounded reproduces finding 1 of issue 14 (500 concurrent
// logins, unknown users included, grew the server to 12.9 GB): password
// hashes run on HashWorkers workers with HashQueue places to wait; beyond
// them a login is refused at once with ErrTooMany, and a caller that has
// gone costs no hash.
func TestLoginFloodIsBounded(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.HashWorkers, c.HashQueue = 2, 4
		c.Argon2 = Argon2Params{Time: 1, MemoryKiB: 4 * 1024, Threads: 1}
	})
	org := e.org(OrgDepartment, "d")
	e.user("kim", org.ID, "violet canyon 12 drum")
	pool := e.svc.hashes

	// Both workers busy.
	release := make(chan struct{})
	var held sync.WaitGroup
	for i := 0; i < 2; i++ {
		held.Add(1)
		go func() {
			defer held.Done()
			if err := pool.do(e.ctx, func() { <-release }); err != nil {
				t.Error(err)
			}
		}()
	}
	waitFor(t, func() bool { return pool.running.Load() == 2 })
	base := pool.computed.Load()

	// Four logins fill the queue (one of them will hang up while waiting).
	type result struct {
		i   int
		err error
	}
	queued := make(chan result, 4)
	hangUp, cancel := context.WithCancel(e.ctx)
	for i := 0; i < 4; i++ {
		ctx := e.ctx
		if i == 0 {
			ctx = hangUp
		}
		go func() {
			user := "kim"
			if i%2 == 1 {
				user = fmt.Sprintf("nobody-%d", i) // unknown users wait in the same queue
			}
			_, err := e.svc.Login(ctx, LoginRequest{Username: user, Password: "wrong", ClientAddr: fmt.Sprintf("198.18.0.%d:1", i)})
			queued <- result{i, err}
		}()
	}
	waitFor(t, func() bool { return len(pool.admit) == 6 })

	// The flood beyond the queue is refused at once: every one of these
	// answers while the workers are still held.
	var wg sync.WaitGroup
	refused := make(chan error, 200)
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			user := "kim"
			if i%2 == 1 {
				user = fmt.Sprintf("ghost-%d", i)
			}
			_, err := e.svc.Login(e.ctx, LoginRequest{Username: user, Password: "wrong", ClientAddr: fmt.Sprintf("198.19.%d.%d:1", i/200, i%200)})
			refused <- err
		}()
	}
	wg.Wait()
	close(refused)
	for err := range refused {
		d, ok := RetryAfter(err)
		if !errors.Is(err, ErrTooMany) || !ok || d <= 0 {
			t.Fatalf("login beyond the queue: %v (retry after %v)", err, d)
		}
	}

	// The caller that hangs up while queued leaves without a hash.
	cancel()
	if r := <-queued; r.i != 0 || !errors.Is(r.err, context.Canceled) {
		t.Fatalf("hung-up login: %+v", r)
	}
	// A caller that has gone before it arrives costs nothing either.
	gone, cancelGone := context.WithCancel(e.ctx)
	cancelGone()
	if _, err := e.svc.Login(gone, LoginRequest{Username: "kim", Password: "violet canyon 12 drum", ClientAddr: "198.18.1.1:1"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("login with a done context: %v", err)
	}

	close(release)
	held.Wait()
	for i := 0; i < 3; i++ {
		if r := <-queued; !errors.Is(r.err, ErrUnauthenticated) {
			t.Fatalf("queued login %d: %v", r.i, r.err)
		}
	}
	if n := pool.computed.Load() - base; n != 3 {
		t.Errorf("%d hashes after the held ones, want 3 (the queued logins that stayed)", n)
	}
	if p := pool.peak.Load(); p > 2 {
		t.Errorf("%d hashes ran at once, want at most 2", p)
	}

	// A free-running flood of known and unknown users from many addresses:
	// never more than HashWorkers hashes at once, and whatever was not
	// refused was checked.
	var checked, busy sync.Map
	for i := 0; i < 300; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			user := "kim"
			if i%2 == 1 {
				user = fmt.Sprintf("spray-%d", i)
			}
			_, err := e.svc.Login(e.ctx, LoginRequest{Username: user, Password: "wrong", ClientAddr: fmt.Sprintf("198.20.%d.%d:1", i/200, i%200)})
			switch {
			case errors.Is(err, ErrUnauthenticated):
				checked.Store(i, true)
			case errors.Is(err, ErrTooMany):
				busy.Store(i, true)
			default:
				t.Errorf("flood login %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if p := pool.peak.Load(); p > 2 {
		t.Errorf("%d hashes ran at once during the flood, want at most 2", p)
	}
	if pool.running.Load() != 0 || len(pool.admit) != 0 {
		t.Errorf("pool not idle after the flood: %d running, %d admitted", pool.running.Load(), len(pool.admit))
	}
}
