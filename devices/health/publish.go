package health

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/gwanje/gwanje/events"
)

// outMsg is one message waiting to be published.
type outMsg struct {
	subject string
	data    []byte
	msgID   string // JetStream de-duplication ID: a retry stores nothing twice
	kvKey   string // when set, also written to the status KV bucket
	event   bool   // camera event: may be dropped when the buffer is full
}

// publisher publishes in order and retries until JetStream has stored every
// message: transitions found while NATS is away wait in memory (bounded for
// events, not for status) and go out when it is back.
type publisher struct {
	js        jetstream.JetStream
	kvSubject string // "$KV.<bucket>."
	log       *slog.Logger
	maxEvents int
	ackWait   time.Duration

	mu      sync.Mutex
	queue   []outMsg
	nEvents int
	dropped int64
	sent    int64
	wake    chan struct{}
	idle    chan struct{} // closed and replaced when the queue empties
}

func newPublisher(js jetstream.JetStream, log *slog.Logger, maxEvents int, ackWait time.Duration) *publisher {
	return &publisher{
		js: js, kvSubject: "$KV." + events.BucketCameraStatus + ".", log: log, maxEvents: maxEvents, ackWait: ackWait,
		wake: make(chan struct{}, 1), idle: make(chan struct{}),
	}
}

func (p *publisher) enqueue(m outMsg) {
	p.mu.Lock()
	if m.event {
		if p.nEvents >= p.maxEvents {
			p.dropped++
			p.mu.Unlock()
			return
		}
		p.nEvents++
	}
	p.queue = append(p.queue, m)
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// pending returns the number of queued messages.
func (p *publisher) pending() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.queue)
}

const publishBatch = 256

// run publishes until ctx ends, then tries for flush more to empty the
// queue.
func (p *publisher) run(ctx context.Context, flush time.Duration) {
	backoff := 100 * time.Millisecond
	for {
		if ctx.Err() != nil {
			fctx, cancel := context.WithTimeout(context.Background(), flush)
			for p.pending() > 0 && fctx.Err() == nil {
				if p.publishOnce(fctx) != nil {
					break
				}
			}
			cancel()
			if n := p.pending(); n > 0 {
				p.log.Warn("health: messages not published at shutdown", "count", n)
			}
			return
		}
		if p.pending() == 0 {
			p.mu.Lock()
			if len(p.queue) == 0 {
				close(p.idle)
				p.idle = make(chan struct{})
			}
			p.mu.Unlock()
			select {
			case <-ctx.Done():
			case <-p.wake:
			}
			continue
		}
		if err := p.publishOnce(ctx); err != nil {
			if backoff == 100*time.Millisecond {
				p.log.Warn("health: publishing to NATS fails; buffering and retrying", "err", err, "pending", p.pending())
			}
			t := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
			backoff = min(backoff*2, 2*time.Second)
			continue
		}
		if backoff > 100*time.Millisecond {
			p.log.Info("health: publishing to NATS again", "pending", p.pending())
		}
		backoff = 100 * time.Millisecond
	}
}

// publishOnce publishes the head of the queue and removes what was stored,
// up to the first failure.
func (p *publisher) publishOnce(ctx context.Context) error {
	p.mu.Lock()
	n := min(len(p.queue), publishBatch)
	batch := append([]outMsg(nil), p.queue[:n]...)
	p.mu.Unlock()

	type pending struct {
		idx int
		f   jetstream.PubAckFuture
	}
	var futs []pending
	var firstErr error
	failAt := len(batch)
	for i, m := range batch {
		f, err := p.js.PublishAsync(m.subject, m.data, jetstream.WithMsgID(m.msgID))
		if err != nil {
			failAt, firstErr = i, err
			break
		}
		futs = append(futs, pending{i, f})
		if m.kvKey != "" {
			f, err := p.js.PublishAsync(p.kvSubject+m.kvKey, m.data)
			if err != nil {
				failAt, firstErr = i, err
				break
			}
			futs = append(futs, pending{i, f})
		}
	}
	timer := time.NewTimer(p.ackWait)
	defer timer.Stop()
	for _, pf := range futs {
		if pf.idx >= failAt {
			continue
		}
		select {
		case <-pf.f.Ok():
		case err := <-pf.f.Err():
			failAt, firstErr = pf.idx, err
		case <-timer.C:
			failAt, firstErr = pf.idx, errors.New("no acknowledgement from JetStream")
		case <-ctx.Done():
			failAt, firstErr = pf.idx, ctx.Err()
		}
	}
	p.mu.Lock()
	for _, m := range p.queue[:failAt] {
		if m.event {
			p.nEvents--
		}
	}
	p.queue = p.queue[failAt:]
	p.sent += int64(failAt)
	p.mu.Unlock()
	return firstErr
}

// waitIdle waits until the queue is empty (for tests and benchmarks).
func (p *publisher) waitIdle(ctx context.Context) error {
	for {
		p.mu.Lock()
		empty, ch := len(p.queue) == 0, p.idle
		p.mu.Unlock()
		if empty {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
