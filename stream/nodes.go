package stream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sort"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/gwanje/gwanje/events"
)

// Node is a stream node: a relay process that serves live views.
type Node struct {
	// ID names the node; it is the key in the bucket, so it is restricted
	// to [A-Za-z0-9._-] (validName).
	ID string `json:"id"`
	// URL is the RTSP base URL players use, e.g. rtsp://10.0.0.5:8554.
	URL string `json:"url"`
	// WebURL is the HTTPS base URL of the node's WHEP endpoint (browsers'
	// WebRTC live view), e.g. https://10.0.0.5:7443; empty when the node
	// serves no WebRTC.
	WebURL string `json:"web_url,omitempty"`
	// Started is when the node started serving.
	Started time.Time `json:"started"`
}

// NodesConfig configures the node registry. Zero values take the defaults
// documented on each field.
type NodesConfig struct {
	// TTL is how long a node stays listed after its last heartbeat.
	// Heartbeats are sent every TTL/3. Default 15s.
	TTL time.Duration
	// Logger. Default slog.Default().
	Logger *slog.Logger
}

// Nodes is the registry of live stream nodes, kept in the NATS KV bucket
// events.BucketStreamNodes with a TTL: each node puts its entry every TTL/3
// (Register), and an entry not refreshed within TTL disappears. PickNode
// chooses among the live nodes by rendezvous hashing, so the same camera
// lands on the same node while the set of nodes does not change, and only
// the cameras of a node that leaves move.
type Nodes struct {
	kv  jetstream.KeyValue
	ttl time.Duration
	log *slog.Logger
}

// NewNodes opens (creating when needed) the node bucket.
func NewNodes(ctx context.Context, js jetstream.JetStream, cfg NodesConfig) (*Nodes, error) {
	if cfg.TTL <= 0 {
		cfg.TTL = 15 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      events.BucketStreamNodes,
		Description: "live stream nodes (gwanjed --roles stream), one entry per node with a TTL heartbeat",
		History:     1,
		TTL:         cfg.TTL,
		Storage:     jetstream.MemoryStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("stream: node bucket: %w", err)
	}
	return &Nodes{kv: kv, ttl: cfg.TTL, log: cfg.Logger}, nil
}

// Put registers or refreshes a node once.
func (n *Nodes) Put(ctx context.Context, node Node) error {
	if !validName(node.ID) {
		return fmt.Errorf("stream: node ID %q: only [A-Za-z0-9._-] allowed", node.ID)
	}
	b, err := json.Marshal(node)
	if err != nil {
		return fmt.Errorf("stream: node %s: %w", node.ID, err)
	}
	if _, err := n.kv.Put(ctx, node.ID, b); err != nil {
		return fmt.Errorf("stream: register node %s: %w", node.ID, err)
	}
	return nil
}

// Remove deletes a node's entry (on clean shutdown).
func (n *Nodes) Remove(ctx context.Context, id string) error {
	if err := n.kv.Delete(ctx, id); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("stream: remove node %s: %w", id, err)
	}
	return nil
}

// Register keeps node listed until ctx ends, then removes it. A failed
// heartbeat is logged and retried at the next tick; the first Put's error is
// returned at once.
func (n *Nodes) Register(ctx context.Context, node Node) error {
	if err := n.Put(ctx, node); err != nil {
		return err
	}
	t := time.NewTicker(n.ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			err := n.Remove(rctx, node.ID)
			cancel()
			if err != nil {
				n.log.Warn("stream: node not removed from the registry; it expires by itself", "node", node.ID, "err", err)
			}
			return nil
		case <-t.C:
			if err := n.Put(ctx, node); err != nil && ctx.Err() == nil {
				n.log.Warn("stream: node heartbeat failed", "node", node.ID, "err", err)
			}
		}
	}
}

// Live returns the nodes whose heartbeat is younger than the TTL, sorted by ID.
func (n *Nodes) Live(ctx context.Context) ([]Node, error) {
	w, err := n.kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("stream: list nodes: %w", err)
	}
	defer w.Stop()
	var out []Node
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("stream: list nodes: %w", ctx.Err())
		case e, ok := <-w.Updates():
			if !ok {
				return nil, errors.New("stream: list nodes: watcher closed")
			}
			if e == nil { // initial values done
				sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
				return out, nil
			}
			if time.Since(e.Created()) > n.ttl {
				continue
			}
			var node Node
			if err := json.Unmarshal(e.Value(), &node); err != nil || node.ID == "" || node.URL == "" {
				n.log.Warn("stream: ignoring a malformed node entry", "key", e.Key())
				continue
			}
			out = append(out, node)
		}
	}
}

// PickNode implements NodePicker over the live nodes.
func (n *Nodes) PickNode(ctx context.Context, cameraID string) (Node, error) {
	nodes, err := n.Live(ctx)
	if err != nil {
		return Node{}, err
	}
	node, ok := Rendezvous(nodes, cameraID)
	if !ok {
		return Node{}, ErrNoNode
	}
	return node, nil
}

// Rendezvous picks the node with the highest score for key (highest random
// weight hashing). It is deterministic across processes.
func Rendezvous(nodes []Node, key string) (Node, bool) {
	var best Node
	var bestScore uint64
	found := false
	for _, nd := range nodes {
		s := score(nd.ID, key)
		if !found || s > bestScore || (s == bestScore && nd.ID < best.ID) {
			best, bestScore, found = nd, s, true
		}
	}
	return best, found
}

func score(nodeID, key string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(nodeID))
	h.Write([]byte{0})
	h.Write([]byte(key))
	// splitmix64 finalizer: FNV alone mixes the last bytes poorly.
	x := h.Sum64()
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
