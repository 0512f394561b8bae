// Package lease shares a set of items (health shards, recorded cameras)
// among the members of a pool through compare-and-set leases in a NATS KV
// bucket. It is the one mechanism every gwanje role that splits work over
// processes uses; no member talks to another.
//
// Keys. Each member keeps member.<id> alive (its value is the member's
// declared capacity, JSON); the lease of an item is item.<item>, whose
// value is the holder's id, written with Create (free item) or Update with
// the last revision (renewal). The bucket's TTL is the lease time: a key not
// renewed for TTL disappears, so a dead or cut-off member loses its items
// and its presence after TTL.
//
// Shares. Every Tick a member counts the live members and their weights
// and computes its share of the n items: min(Max, ceil(n·weight/Σweight)).
// It renews what it holds up to its share, claims free items up to it (no
// bound: failover must be fast), and gives back what exceeds its share by
// more than Hysteresis (or what exceeds its share at all while another
// live member holds less than its own), at most MaxMoves items per Tick (a
// member that joins takes its share over a few periods, never all at
// once).
//
// Fencing. A lease carries Token, the KV revision at which the member
// created it. Revisions grow over the whole bucket, so a later holder of an
// item always has a larger token than any earlier one; consumers that write
// elsewhere (the recorder's index in PostgreSQL) check it there. Revisions
// start again at 1 when the bucket is made anew (NATS data lost), so a
// lease also carries Epoch, the bucket's creation time: (Epoch, Token)
// ordered lexicographically grows across such a loss too. A lease is
// Valid locally until TTL after the start of the Tick that last renewed it:
// the server cannot expire the key earlier, so while Valid no other member
// can hold the item.
package lease

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Capacity is what a member declares of itself.
type Capacity struct {
	// Weight is the member's relative share (a number of cameras, Mbit/s):
	// its share of the items is n·Weight/ΣWeight. Zero takes nothing and
	// gives everything back (a full disk).
	Weight float64 `json:"weight"`
	// Max bounds the items held; 0 is no bound.
	Max int `json:"max,omitempty"`
}

// Config configures a Pool. Zero values take the documented defaults.
type Config struct {
	// JS is the JetStream context. Required.
	JS jetstream.JetStream
	// Bucket is the KV bucket of this pool's leases. Required. Every
	// member of a pool must use the same Bucket and TTL.
	Bucket, Description string
	// ID names this member. Required; see ValidToken.
	ID string
	// TTL is the lease time (the bucket's TTL). Default 10s. A member
	// should Tick every TTL/3.
	TTL time.Duration
	// Capacity returns this member's capacity, read at every Tick. Default
	// Weight 1, no Max.
	Capacity func() Capacity
	// MaxMoves bounds the items given back per Tick to rebalance (not
	// those given back because Capacity fell to zero or Max). Default: no
	// bound (0).
	MaxMoves int
	// Hysteresis: items beyond the share kept without giving them back.
	// Default 0.
	Hysteresis int
	// BeforeRelease, when set, is called with the items this member is
	// about to give back (rebalancing, items leaving the set, Release),
	// before any other member can take them: a consumer stops using them
	// there (the recorder finishes and indexes the segment in progress).
	// It runs on the caller of Tick or Release and should return soon.
	BeforeRelease func(items []string)
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Lease is one item held.
type Lease struct {
	Item string
	// Epoch is the bucket's creation time (Unix ns): (Epoch, Token) of a
	// later holder is always larger, even after the bucket was lost.
	Epoch int64
	// Token is the revision at which this member created the lease
	// (fencing: a later holder's token is always larger).
	Token uint64
	// Rev is the revision of the last renewal.
	Rev uint64
	// ValidUntil: the lease is ours until then unless renewed.
	ValidUntil time.Time
}

// Pool is one member's view of a pool of leases.
type Pool struct {
	cfg   Config
	kv    jetstream.KeyValue
	epoch int64

	mu   sync.Mutex
	held map[string]Lease
}

const (
	memberPrefix = "member."
	itemPrefix   = "item."
)

// ValidToken reports whether s may be used as an item or member id: what
// a NATS KV key allows (letters, digits, '-', '_', '=', '/', '.'; no empty
// token between dots).
func ValidToken(s string) bool {
	if s == "" || len(s) > 200 || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-_=/.", c) >= 0) {
			return false
		}
	}
	return true
}

// New creates (or updates) the bucket and returns the member's pool.
func New(ctx context.Context, cfg Config) (*Pool, error) {
	if cfg.JS == nil || cfg.Bucket == "" {
		return nil, errors.New("lease: Config.JS and Bucket are required")
	}
	if !ValidToken(cfg.ID) {
		return nil, fmt.Errorf("lease: member id %q: letters, digits, '-', '_', '=', '/' and inner '.' only", cfg.ID)
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 10 * time.Second
	}
	if cfg.Capacity == nil {
		cfg.Capacity = func() Capacity { return Capacity{Weight: 1} }
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	// Markers: a key that runs out leaves a marker that watchers see
	// (Freed), so a dead member's items are claimed at once.
	// A server older than 2.11 has no markers: members then claim at
	// their next Tick.
	kvc := jetstream.KeyValueConfig{Bucket: cfg.Bucket, Description: cfg.Description, TTL: cfg.TTL, History: 1,
		Storage: jetstream.FileStorage, LimitMarkerTTL: max(cfg.TTL, time.Second)}
	kv, err := cfg.JS.CreateOrUpdateKeyValue(ctx, kvc)
	if errors.Is(err, jetstream.ErrLimitMarkerTTLNotSupported) {
		kvc.LimitMarkerTTL = 0
		kv, err = cfg.JS.CreateOrUpdateKeyValue(ctx, kvc)
	}
	if err != nil {
		return nil, fmt.Errorf("lease: bucket %s: %w", cfg.Bucket, err)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("lease: bucket %s: %w", cfg.Bucket, err)
	}
	var epoch int64
	if bs, ok := st.(*jetstream.KeyValueBucketStatus); ok && bs.StreamInfo() != nil {
		epoch = bs.StreamInfo().Created.UnixNano()
	}
	return &Pool{cfg: cfg, kv: kv, epoch: epoch, held: map[string]Lease{}}, nil
}

// Freed returns a channel that receives (coalesced) whenever an item's
// lease is given back or runs out, until ctx ends: a member that Ticks at
// once claims a dead member's items without waiting for its next period.
func (p *Pool) Freed(ctx context.Context) (<-chan struct{}, error) {
	w, err := p.kv.Watch(ctx, itemPrefix+">", jetstream.UpdatesOnly())
	if err != nil {
		return nil, fmt.Errorf("lease: watch: %w", err)
	}
	out := make(chan struct{}, 1)
	go func() {
		defer func() { _ = w.Stop() }()
		for {
			select {
			case <-ctx.Done():
				return
			case e, ok := <-w.Updates():
				if !ok {
					return
				}
				if e == nil || e.Operation() == jetstream.KeyValuePut {
					continue
				}
				select {
				case out <- struct{}{}:
				default:
				}
			}
		}
	}()
	return out, nil
}

// Epoch is the creation time of the bucket (Unix ns), carried by every
// lease.
func (p *Pool) Epoch() int64 { return p.epoch }

// Members lists the live members of the pool in bucket (their presence
// has not run out) with their declared capacity, for readers that are
// not members (control: which recorder nodes are up). A bucket that does
// not exist yet has no members.
func Members(ctx context.Context, js jetstream.JetStream, bucket string) (map[string]Capacity, error) {
	kv, err := js.KeyValue(ctx, bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return map[string]Capacity{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("lease: bucket %s: %w", bucket, err)
	}
	w, err := kv.Watch(ctx, memberPrefix+">", jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("lease: members: %w", err)
	}
	defer func() { _ = w.Stop() }()
	out := map[string]Capacity{}
	for {
		select {
		case e := <-w.Updates():
			if e == nil {
				return out, nil
			}
			var c Capacity
			if json.Unmarshal(e.Value(), &c) != nil {
				c = Capacity{Weight: 1}
			}
			out[strings.TrimPrefix(e.Key(), memberPrefix)] = c
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// ID returns the member id.
func (p *Pool) ID() string { return p.cfg.ID }

// TTL returns the lease time.
func (p *Pool) TTL() time.Duration { return p.cfg.TTL }

// Get returns the lease of item if this member holds it at now.
func (p *Pool) Get(item string, now time.Time) (Lease, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	le, ok := p.held[item]
	return le, ok && now.Before(le.ValidUntil)
}

// Valid reports whether this member holds item at now.
func (p *Pool) Valid(item string, now time.Time) bool {
	_, ok := p.Get(item, now)
	return ok
}

// Held returns the leases valid now, sorted by item.
func (p *Pool) Held() []Lease {
	now := p.cfg.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []Lease
	for _, le := range p.held {
		if now.Before(le.ValidUntil) {
			out = append(out, le)
		}
	}
	slices.SortFunc(out, func(a, b Lease) int { return strings.Compare(a.Item, b.Item) })
	return out
}

// Items returns the items held now, sorted.
func (p *Pool) Items() []string {
	var out []string
	for _, le := range p.Held() {
		out = append(out, le.Item)
	}
	return out
}

// Share computes a member's share of n items from its capacity and the sum
// of the weights of the live members.
func Share(n int, c Capacity, total float64) int {
	if c.Weight <= 0 || total <= 0 || n == 0 {
		return 0
	}
	s := int(math.Ceil(float64(n) * c.Weight / total))
	// Rounding: a weight that is most of the total never exceeds n.
	s = min(s, n)
	if c.Max > 0 {
		s = min(s, c.Max)
	}
	return s
}

// Tick publishes this member's presence, then renews, gives back and
// claims leases among items (the items every member is to share; others
// held are given back). It returns the leases held after it; on an error
// (NATS away) leases not renewed stay valid until they run out.
func (p *Pool) Tick(ctx context.Context, items []string) ([]Lease, error) {
	start := p.cfg.Now()
	capa := p.cfg.Capacity()
	pres, _ := json.Marshal(capa)
	if _, err := p.kv.Put(ctx, memberPrefix+p.cfg.ID, pres); err != nil {
		return p.Held(), fmt.Errorf("lease: presence: %w", err)
	}
	w, err := p.kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return p.Held(), fmt.Errorf("lease: read leases: %w", err)
	}
	total := 0.0
	members := map[string]Capacity{}
	holder := map[string]jetstream.KeyValueEntry{}
	for e := range w.Updates() {
		if e == nil {
			break
		}
		switch k := e.Key(); {
		case strings.HasPrefix(k, memberPrefix):
			var c Capacity
			if k == memberPrefix+p.cfg.ID {
				c = capa
			} else if json.Unmarshal(e.Value(), &c) != nil {
				c = Capacity{Weight: 1} // an older member: equal weight
			}
			total += max(c.Weight, 0)
			members[strings.TrimPrefix(k, memberPrefix)] = c
		case strings.HasPrefix(k, itemPrefix):
			holder[strings.TrimPrefix(k, itemPrefix)] = e
		}
	}
	_ = w.Stop()
	if ctx.Err() != nil {
		return p.Held(), ctx.Err()
	}
	want := map[string]bool{}
	for _, it := range items {
		if ValidToken(it) {
			want[it] = true
		}
	}
	share := Share(len(want), capa, total)

	p.mu.Lock()
	prev := p.held
	p.mu.Unlock()
	// Ours: renewed in order of creation (oldest first), so what is given
	// back is what we took last.
	type mine struct {
		item string
		rev  uint64
		tok  uint64
	}
	var ours []mine
	for it, e := range holder {
		if string(e.Value()) != p.cfg.ID {
			continue
		}
		tok := e.Revision()
		if le, ok := prev[it]; ok {
			tok = le.Token
		}
		ours = append(ours, mine{it, e.Revision(), tok})
	}
	slices.SortFunc(ours, func(a, b mine) int {
		if a.tok != b.tok {
			if a.tok < b.tok {
				return -1
			}
			return 1
		}
		return strings.Compare(a.item, b.item)
	})
	// Hysteresis holds only while no other live member is below its own
	// share: a member that joins (or whose weight grew) gets its share
	// even when the others are within their hysteresis.
	keep := share + p.cfg.Hysteresis
	count := map[string]int{}
	for it, e := range holder {
		if want[it] {
			count[string(e.Value())]++
		}
	}
	for id, c := range members {
		if id != p.cfg.ID && count[id] < Share(len(want), c, total) {
			keep = share
			break
		}
	}
	limit := math.MaxInt // what the member may hold at all
	if capa.Weight <= 0 {
		limit = 0
	} else if capa.Max > 0 {
		limit = capa.Max
	}
	keep = min(keep, limit)
	var kept, release []mine
	for _, m := range ours {
		if want[m.item] {
			kept = append(kept, m)
		} else {
			release = append(release, m) // no longer in the set: given back at once
		}
	}
	// Beyond the limit: given back at once; beyond the share (and the
	// hysteresis): at most MaxMoves per Tick, the newest first.
	forced := max(len(kept)-limit, 0)
	moves := max(len(kept)-keep, 0)
	if p.cfg.MaxMoves > 0 {
		moves = min(moves, p.cfg.MaxMoves)
	}
	if n := max(forced, moves); n > 0 {
		release = append(release, kept[len(kept)-n:]...)
		kept = kept[:len(kept)-n]
	}
	next := map[string]Lease{}
	var errs []error
	if len(release) > 0 && p.cfg.BeforeRelease != nil {
		its := make([]string, len(release))
		for i, m := range release {
			its[i] = m.item
		}
		p.mu.Lock()
		for _, it := range its {
			delete(p.held, it) // no longer Valid from here on
		}
		p.mu.Unlock()
		p.cfg.BeforeRelease(its)
	}
	for _, m := range release {
		if err := p.kv.Delete(ctx, itemPrefix+m.item, jetstream.LastRevision(m.rev)); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
			errs = append(errs, err)
		}
	}
	for _, m := range kept {
		rev, err := p.kv.Update(ctx, itemPrefix+m.item, []byte(p.cfg.ID), m.rev)
		if err != nil {
			if !errors.Is(err, jetstream.ErrKeyExists) {
				errs = append(errs, err)
			}
			continue
		}
		next[m.item] = Lease{Item: m.item, Epoch: p.epoch, Token: m.tok, Rev: rev, ValidUntil: start.Add(p.cfg.TTL)}
	}
	// Claim free items up to the share, starting at a place of our own so
	// that members do not all race for the same items.
	if len(next) < share {
		free := make([]string, 0, len(want))
		for it := range want {
			if _, taken := holder[it]; !taken {
				free = append(free, it)
			}
		}
		slices.Sort(free)
		if len(free) > 0 {
			off := int(hash(p.cfg.ID) % uint32(len(free)))
			for i := 0; i < len(free) && len(next) < share; i++ {
				it := free[(off+i)%len(free)]
				rev, err := p.kv.Create(ctx, itemPrefix+it, []byte(p.cfg.ID))
				if err != nil {
					if !errors.Is(err, jetstream.ErrKeyExists) {
						errs = append(errs, err)
						break
					}
					continue
				}
				next[it] = Lease{Item: it, Epoch: p.epoch, Token: rev, Rev: rev, ValidUntil: start.Add(p.cfg.TTL)}
			}
		}
	}
	p.mu.Lock()
	// A lease whose renewal failed for a transport error stays valid until
	// it runs out.
	if len(errs) > 0 {
		for _, m := range kept {
			if _, ok := next[m.item]; ok {
				continue
			}
			if le, ok := p.held[m.item]; ok && start.Before(le.ValidUntil) {
				next[m.item] = le
			}
		}
	}
	p.held = next
	p.mu.Unlock()
	return p.Held(), errors.Join(errs...)
}

// Release gives every lease and the member's presence back (on shutdown),
// so that the other members take over at their next Tick.
func (p *Pool) Release(ctx context.Context) {
	p.mu.Lock()
	held := p.held
	p.held = map[string]Lease{}
	p.mu.Unlock()
	if len(held) > 0 && p.cfg.BeforeRelease != nil {
		its := make([]string, 0, len(held))
		for it := range held {
			its = append(its, it)
		}
		slices.Sort(its)
		p.cfg.BeforeRelease(its)
	}
	for it, le := range held {
		_ = p.kv.Delete(ctx, itemPrefix+it, jetstream.LastRevision(le.Rev))
	}
	_ = p.kv.Delete(ctx, memberPrefix+p.cfg.ID)
}

// Drop forgets the leases without giving them back, as a killed member
// would (tests).
func (p *Pool) Drop() {
	p.mu.Lock()
	p.held = map[string]Lease{}
	p.mu.Unlock()
}

func hash(s string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(s))
	return h.Sum32()
}
