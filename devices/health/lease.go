package health

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/gwanje/gwanje/events"
)

// Shards and leases. The camera set is cut into a fixed number of shards
// (fnv32a of the camera id modulo the shard count). A worker probes the
// cameras of the shards it leases in the KV bucket GWANJE_HEALTH_LEASES:
// key shard.<n> holds the worker id, written with compare-and-set
// (Create/Update with the last revision), and expires with the bucket's
// TTL unless renewed. Each worker also keeps a key worker.<id> alive, so
// that every worker can count the live workers and take its fair share,
// ceil(shards/workers): a new worker finds shards released by the others
// within a renewal period; a dead worker's leases expire after the TTL and
// are claimed at the next renewal of the others.

// shardOf maps a camera to its shard.
func shardOf(cameraID string, shards int) int {
	h := fnv.New32a()
	h.Write([]byte(cameraID))
	return int(h.Sum32() % uint32(shards))
}

func shardKey(n int) string { return "shard." + strconv.Itoa(n) }

type lease struct {
	rev        uint64
	validUntil time.Time
}

type leaser struct {
	kv     jetstream.KeyValue
	id     string
	shards int
	ttl    time.Duration
	now    func() time.Time

	mu   sync.Mutex
	held map[int]lease
}

// ensureLeaseBucket creates the lease bucket (its TTL is the lease time).
func ensureLeaseBucket(ctx context.Context, js jetstream.JetStream, ttl time.Duration) (jetstream.KeyValue, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: events.BucketHealthLeases, Description: "health worker shard leases and presence",
		TTL: ttl, History: 1, Storage: jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("health: lease bucket: %w", err)
	}
	return kv, nil
}

// ensureStatusBucket creates the bucket of current camera status.
func ensureStatusBucket(ctx context.Context, js jetstream.JetStream) (jetstream.KeyValue, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: events.BucketCameraStatus, Description: "current health status of each camera (gwanje.v1.CameraStatus)",
		History: 1, Storage: jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("health: status bucket: %w", err)
	}
	return kv, nil
}

// valid reports whether this worker holds shard n now.
func (l *leaser) valid(n int, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	le, ok := l.held[n]
	return ok && now.Before(le.validUntil)
}

// owned returns the shards held now, sorted.
func (l *leaser) owned() []int {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []int
	for n, le := range l.held {
		if now.Before(le.validUntil) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// tick renews, releases and claims leases. It returns the shards held after
// it.
func (l *leaser) tick(ctx context.Context) ([]int, error) {
	start := l.now()
	if _, err := l.kv.PutString(ctx, "worker."+l.id, l.id); err != nil {
		return l.owned(), fmt.Errorf("health: presence: %w", err)
	}
	w, err := l.kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return l.owned(), fmt.Errorf("health: read leases: %w", err)
	}
	workers := 0
	holder := map[int]jetstream.KeyValueEntry{}
	for e := range w.Updates() {
		if e == nil {
			break
		}
		switch k := e.Key(); {
		case strings.HasPrefix(k, "worker."):
			workers++
		case strings.HasPrefix(k, "shard."):
			if n, err := strconv.Atoi(strings.TrimPrefix(k, "shard.")); err == nil && n >= 0 && n < l.shards {
				holder[n] = e
			}
		}
	}
	_ = w.Stop()
	if ctx.Err() != nil {
		return l.owned(), ctx.Err()
	}
	workers = max(workers, 1)
	fair := (l.shards + workers - 1) / workers

	mine := map[int]uint64{}
	for n, e := range holder {
		if string(e.Value()) == l.id {
			mine[n] = e.Revision()
		}
	}
	next := map[int]lease{}
	var errs []error
	// Renew (or give back the excess, highest shard numbers first).
	keys := make([]int, 0, len(mine))
	for n := range mine {
		keys = append(keys, n)
	}
	slices.Sort(keys)
	for i, n := range keys {
		if i >= fair {
			if err := l.kv.Delete(ctx, shardKey(n), jetstream.LastRevision(mine[n])); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
				errs = append(errs, err)
			}
			continue
		}
		rev, err := l.kv.Update(ctx, shardKey(n), []byte(l.id), mine[n])
		if err != nil {
			if !errors.Is(err, jetstream.ErrKeyExists) {
				errs = append(errs, err)
			}
			continue
		}
		next[n] = lease{rev: rev, validUntil: start.Add(l.ttl)}
	}
	// Claim free shards up to the fair share, starting at a place of our
	// own so that workers do not all race for shard 0.
	off := shardOf(l.id, l.shards)
	for i := 0; i < l.shards && len(next) < fair; i++ {
		n := (off + i) % l.shards
		if _, taken := holder[n]; taken {
			continue
		}
		rev, err := l.kv.Create(ctx, shardKey(n), []byte(l.id))
		if err != nil {
			if !errors.Is(err, jetstream.ErrKeyExists) {
				errs = append(errs, err)
				break
			}
			continue
		}
		next[n] = lease{rev: rev, validUntil: start.Add(l.ttl)}
	}
	l.mu.Lock()
	// A lease whose renewal failed for a transport error stays valid until
	// it runs out.
	for n, le := range l.held {
		if _, ok := next[n]; !ok && len(errs) > 0 && start.Before(le.validUntil) {
			if _, stillMine := mine[n]; stillMine {
				next[n] = le
			}
		}
	}
	l.held = next
	l.mu.Unlock()
	return l.owned(), errors.Join(errs...)
}

// release gives every lease back (on shutdown) so that other workers take
// over at once.
func (l *leaser) release(ctx context.Context) {
	l.mu.Lock()
	held := l.held
	l.held = nil
	l.mu.Unlock()
	for n, le := range held {
		_ = l.kv.Delete(ctx, shardKey(n), jetstream.LastRevision(le.rev))
	}
	_ = l.kv.Delete(ctx, "worker."+l.id)
}
