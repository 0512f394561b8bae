package health

import (
	"context"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/gwanje/gwanje/events"
	"github.com/gwanje/gwanje/events/lease"
)

// Shards and leases. The camera set is cut into a fixed number of shards
// (fnv32a of the camera id modulo the shard count). Workers share the
// shards through the lease package (events/lease) in the KV bucket
// GWANJE_HEALTH_LEASES: item <n> is shard n, every worker has the same
// weight and takes its fair share, ceil(shards/workers): a new worker finds
// shards released by the others within a renewal period; a dead worker's
// leases expire after the TTL and are claimed at the next renewal of the
// others.

// shardOf maps a camera to its shard.
func shardOf(cameraID string, shards int) int {
	h := fnv.New32a()
	h.Write([]byte(cameraID))
	return int(h.Sum32() % uint32(shards))
}

// shardItems names the shards as lease items.
func shardItems(shards int) []string {
	out := make([]string, shards)
	for i := range out {
		out[i] = strconv.Itoa(i)
	}
	return out
}

// newLeases joins the pool of health workers (its bucket's TTL is the
// lease time).
func newLeases(ctx context.Context, js jetstream.JetStream, id string, ttl time.Duration, now func() time.Time) (*lease.Pool, error) {
	p, err := lease.New(ctx, lease.Config{JS: js, Bucket: events.BucketHealthLeases,
		Description: "health worker shard leases and presence", ID: id, TTL: ttl, Now: now})
	if err != nil {
		return nil, fmt.Errorf("health: %w", err)
	}
	return p, nil
}

// heldShards turns leases into shard numbers, sorted.
func heldShards(ls []lease.Lease, shards int) []int {
	var out []int
	for _, le := range ls {
		if n, err := strconv.Atoi(le.Item); err == nil && n >= 0 && n < shards {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
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
