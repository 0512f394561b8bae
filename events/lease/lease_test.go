package lease

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/gwanje/gwanje/events"
)

func newBus(t *testing.T) *events.Bus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := events.New(ctx, events.Config{DataDir: t.TempDir(), ListenAddr: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

func items(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("cam-%03d", i)
	}
	return out
}

func newPool(t *testing.T, b *events.Bus, id string, ttl time.Duration, c Capacity, moves, hyst int) *Pool {
	t.Helper()
	p, err := New(context.Background(), Config{JS: b.JS, Bucket: "TEST_LEASES", ID: id, TTL: ttl,
		Capacity: func() Capacity { return c }, MaxMoves: moves, Hysteresis: hyst})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// round ticks every pool once, in order, and returns what each holds.
func round(t *testing.T, its []string, ps ...*Pool) []int {
	t.Helper()
	out := make([]int, len(ps))
	for i, p := range ps {
		ls, err := p.Tick(context.Background(), its)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = len(ls)
	}
	return out
}

func disjointAll(t *testing.T, its []string, ps ...*Pool) {
	t.Helper()
	seen := map[string]string{}
	for _, p := range ps {
		for _, it := range p.Items() {
			if o, ok := seen[it]; ok {
				t.Fatalf("%s held by %s and %s", it, o, p.ID())
			}
			seen[it] = p.ID()
		}
	}
	if len(seen) != len(its) {
		t.Fatalf("%d of %d items held", len(seen), len(its))
	}
}

func TestShare(t *testing.T) {
	for _, c := range []struct {
		n     int
		c     Capacity
		total float64
		want  int
	}{
		{16, Capacity{Weight: 1}, 3, 6},
		{16, Capacity{Weight: 1}, 1, 16},
		{30, Capacity{Weight: 2}, 3, 20},
		{30, Capacity{Weight: 1}, 3, 10},
		{30, Capacity{Weight: 2, Max: 12}, 3, 12},
		{30, Capacity{Weight: 0}, 3, 0},
		{0, Capacity{Weight: 1}, 1, 0},
		{5, Capacity{Weight: 1}, 0.5, 5},
	} {
		if got := Share(c.n, c.c, c.total); got != c.want {
			t.Errorf("Share(%d, %+v, %v) = %d, want %d", c.n, c.c, c.total, got, c.want)
		}
	}
}

// TestWeightedSharesBoundedMoves: members take shares by weight; a member
// that joins gets its share over several periods, never more than MaxMoves
// given back per member per Tick; hysteresis keeps a member one item over
// its share without moving it.
func TestWeightedSharesBoundedMoves(t *testing.T) {
	b := newBus(t)
	its := items(30)
	a := newPool(t, b, "a", time.Minute, Capacity{Weight: 20}, 3, 1)
	bb := newPool(t, b, "b", time.Minute, Capacity{Weight: 10}, 3, 1)
	round(t, its, a)
	if got := len(a.Items()); got != 30 {
		t.Fatalf("alone, a holds %d", got)
	}
	// b joins: shares become 20 and 10; a gives back 3 per Tick at most.
	prevA := 30
	for i := 0; i < 10; i++ {
		n := round(t, its, bb, a)
		if prevA-n[1] > 3 {
			t.Fatalf("a gave back %d items in one Tick", prevA-n[1])
		}
		prevA = n[1]
	}
	round(t, its, bb, a)
	disjointAll(t, its, a, bb)
	if na, nb := len(a.Items()), len(bb.Items()); na < 20 || na > 21 || nb < 9 || nb > 10 {
		t.Fatalf("after rebalancing a=%d b=%d, want about 20/10", na, nb)
	}
	// Steady: nothing moves any more.
	before := a.Items()
	round(t, its, bb, a, bb, a)
	if after := a.Items(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("steady state moved: %v -> %v", before, after)
	}
}

// TestFailoverAndTokens: a member that dies (no release) loses its items
// to the others once TTL has passed; the new holders' tokens are larger;
// a member closed cleanly hands over at the next Tick.
func TestFailoverAndTokens(t *testing.T) {
	b := newBus(t)
	its := items(12)
	const ttl = 1500 * time.Millisecond
	a := newPool(t, b, "a", ttl, Capacity{Weight: 1}, 0, 0)
	bb := newPool(t, b, "b", ttl, Capacity{Weight: 1}, 0, 0)
	c := newPool(t, b, "c", ttl, Capacity{Weight: 1}, 0, 0)
	for range 3 {
		round(t, its, a, bb, c)
	}
	disjointAll(t, its, a, bb, c)
	dead := c.Held()
	if len(dead) != 4 {
		t.Fatalf("c holds %d, want 4", len(dead))
	}
	c.Drop() // killed: its keys stay until they expire
	died := time.Now()
	deadline := died.Add(10 * ttl)
	for {
		round(t, its, a, bb)
		if len(a.Items())+len(bb.Items()) == 12 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("items of the dead member not taken over: a=%d b=%d", len(a.Items()), len(bb.Items()))
		}
		time.Sleep(ttl / 6) // the members' renewal period
	}
	t.Logf("taken over %s after the death (TTL %s)", time.Since(died).Round(time.Millisecond), ttl)
	disjointAll(t, its, a, bb)
	for _, old := range dead {
		for _, p := range []*Pool{a, bb} {
			if le, ok := p.Get(old.Item, time.Now()); ok && le.Token <= old.Token {
				t.Errorf("%s: new token %d not above the dead holder's %d", old.Item, le.Token, old.Token)
			}
		}
	}
	// A clean shutdown hands over at once.
	bb.Release(context.Background())
	round(t, its, a)
	if got := len(a.Items()); got != 12 {
		t.Fatalf("after b's release a holds %d", got)
	}
	// Items leaving the set are given back.
	round(t, its[:5], a)
	if got := a.Items(); len(got) != 5 {
		t.Fatalf("a holds %v after the set shrank", got)
	}
}

// TestZeroWeightGivesBack: a member whose capacity falls to zero (a full
// disk) gives everything back at once, whatever MaxMoves.
func TestZeroWeightGivesBack(t *testing.T) {
	b := newBus(t)
	its := items(10)
	w := 1.0
	a, err := New(context.Background(), Config{JS: b.JS, Bucket: "TEST_LEASES", ID: "a", TTL: time.Minute,
		Capacity: func() Capacity { return Capacity{Weight: w} }, MaxMoves: 1})
	if err != nil {
		t.Fatal(err)
	}
	other := newPool(t, b, "b", time.Minute, Capacity{Weight: 1}, 1, 0)
	round(t, its, a)
	w = 0
	round(t, its, a, other)
	if n := len(a.Items()); n != 0 {
		t.Fatalf("a holds %d with zero weight", n)
	}
	if n := len(other.Items()); n != 10 {
		t.Fatalf("b holds %d", n)
	}
}

func TestBadID(t *testing.T) {
	b := newBus(t)
	for _, id := range []string{"", ".a", "a..b", "a b", "x>", "a*"} {
		if _, err := New(context.Background(), Config{JS: b.JS, Bucket: "TEST_LEASES", ID: id}); err == nil {
			t.Errorf("id %q accepted", id)
		}
	}
}

// TestFreedOnExpiry: a bucket made before markers (an older gwanje) is
// updated; a member that dies leaves leases that run out, and Freed tells
// the others at once, without waiting for their next period.
func TestFreedOnExpiry(t *testing.T) {
	b := newBus(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := b.JS.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "TEST_LEASES", TTL: time.Second, History: 1}); err != nil {
		t.Fatal(err)
	}
	its := items(4)
	a := newPool(t, b, "a", time.Second, Capacity{Weight: 1}, 0, 0)
	other := newPool(t, b, "b", time.Second, Capacity{Weight: 1}, 0, 0)
	round(t, its, a, other)
	freed, err := other.Freed(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a.Drop() // killed
	select {
	case <-freed:
	case <-time.After(10 * time.Second):
		t.Fatal("no notice of the dead member's leases running out")
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(other.Items()) != len(its) {
		if time.Now().After(deadline) {
			t.Fatalf("b holds %v", other.Items())
		}
		if _, err := other.Tick(ctx, its); err != nil {
			t.Fatal(err)
		}
	}
}
