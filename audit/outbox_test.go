package audit_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gwanje/gwanje/audit"
	"github.com/gwanje/gwanje/internal/pgtest"
)

// flakyBus is a Publisher that refuses everything while down.
type flakyBus struct {
	down     atomic.Bool
	mu       sync.Mutex
	seqs     []int64
	subjects []string
	refused  atomic.Int64
}

func (b *flakyBus) Publish(ctx context.Context, subject string, data []byte) error {
	if b.down.Load() {
		b.refused.Add(1)
		return errors.New("nats: no servers available for connection")
	}
	if strings.HasSuffix(subject, ".checkpoint") {
		return nil
	}
	var m struct {
		Seq  int64  `json:"seq"`
		Type string `json:"type"`
		Hash string `json:"hash"`
	}
	if err := json.Unmarshal(data, &m); err != nil || m.Hash == "" {
		return errors.New("bad payload")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seqs = append(b.seqs, m.Seq)
	b.subjects = append(b.subjects, subject)
	return nil
}

func (b *flakyBus) received() []int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]int64(nil), b.seqs...)
}

func TestOutboxSurvivesBusOutage(t *testing.T) {
	bus := &flakyBus{}
	bus.down.Store(true)
	s := start(t, pgtest.Pool(t), audit.Config{Publisher: bus, RelayInterval: 20 * time.Millisecond, RelayBatch: 7})
	ctx := context.Background()
	// Appends succeed while the bus is down: publishing is not in the
	// commit path.
	mustAppend(t, s, 30)
	poll(t, func() bool { return bus.refused.Load() >= 3 })
	if got := bus.received(); len(got) != 0 {
		t.Fatalf("published while down: %v", got)
	}
	if c, err := s.OutboxCursor(ctx); err != nil || c != 0 {
		t.Fatalf("cursor moved while down: %d %v", c, err)
	}
	bus.down.Store(false)
	mustAppend(t, s, 5)
	poll(t, func() bool { return len(bus.received()) >= 35 })
	got := bus.received()
	for i, seq := range got {
		if seq != int64(i+1) {
			t.Fatalf("published out of order or with gaps: %v", got)
		}
	}
	if bus.subjects[0] != "gwanje.v1.audit.playback.start" {
		t.Fatalf("subject %q", bus.subjects[0])
	}
	poll(t, func() bool { c, err := s.OutboxCursor(ctx); return err == nil && c == 35 })
}
