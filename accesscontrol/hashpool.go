package accesscontrol

import (
	"context"
	"sync/atomic"
	"time"
)

// hashPool runs the password hashes (argon2id, Argon2.MemoryKiB each) on a
// fixed number of workers, so that the memory and CPU they take are bounded
// whatever arrives: at most workers hashes run at once, at most queue more
// wait for a worker, and anything beyond is refused at once. A request whose
// context ends before a worker is free is dropped without hashing.
type hashPool struct {
	admit    chan struct{} // places for running and waiting requests
	work     chan struct{} // places for running hashes
	computed atomic.Int64  // hashes run, for tests and logs
	running  atomic.Int32  // hashes running now
	peak     atomic.Int32  // most hashes ever running at once
}

func newHashPool(workers, queue int) *hashPool {
	return &hashPool{admit: make(chan struct{}, workers+queue), work: make(chan struct{}, workers)}
}

// errHashBusy refuses a password check when every worker is busy and the
// queue is full.
var errHashBusy = &retryError{reason: "password checks busy", msg: "too many logins are being checked right now; try again shortly", after: time.Second}

// do runs fn on a worker. It refuses at once (errHashBusy) when the pool is
// full, and returns ctx's error without running fn when ctx is done before
// or while it waits for a worker.
func (p *hashPool) do(ctx context.Context, fn func()) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case p.admit <- struct{}{}:
	default:
		return errHashBusy
	}
	defer func() { <-p.admit }()
	select {
	case p.work <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-p.work }()
	if err := ctx.Err(); err != nil { // both were ready: do not hash for a caller that has gone
		return err
	}
	p.run(fn)
	return nil
}

func (p *hashPool) run(fn func()) {
	p.computed.Add(1)
	n := p.running.Add(1)
	for {
		if old := p.peak.Load(); n <= old || p.peak.CompareAndSwap(old, n) {
			break
		}
	}
	defer p.running.Add(-1)
	fn()
}

// wait runs fn on a worker, waiting as long as it takes, outside the
// queue's bound: for hashes that authenticated administrative calls and
// start-up need (new accounts, resets, new passwords), which must not be
// refused because strangers flood the login.
func (p *hashPool) wait(fn func()) {
	p.work <- struct{}{}
	defer func() { <-p.work }()
	p.run(fn)
}
