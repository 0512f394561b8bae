package stream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/gwanje/gwanje/events"
)

// Views is the directory of the open live views of every stream node, so
// that control lists and ends views whichever node serves them: each relay
// keeps its views in the NATS KV bucket events.BucketLiveViews (refreshed
// every TTL/3; an entry whose node died disappears after TTL), and takes
// stop requests on events.StreamStop(node).
type Views struct {
	kv  jetstream.KeyValue
	nc  *nats.Conn
	ttl time.Duration
	log *slog.Logger
}

// NewViews opens (creating when needed) the view directory. ttl 0 is 30s.
func NewViews(ctx context.Context, js jetstream.JetStream, nc *nats.Conn, ttl time.Duration, log *slog.Logger) (*Views, error) {
	if ttl <= 0 {
		ttl = 30 * time.Second
	}
	if log == nil {
		log = slog.Default()
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: events.BucketLiveViews, Description: "open live views of every stream node", TTL: ttl, History: 1,
	})
	if err != nil {
		return nil, fmt.Errorf("stream: view directory: %w", err)
	}
	return &Views{kv: kv, nc: nc, ttl: ttl, log: log}, nil
}

func (d *Views) put(ctx context.Context, s LiveSession) {
	b, _ := json.Marshal(s)
	if _, err := d.kv.Put(ctx, s.ID, b); err != nil {
		d.log.Warn("stream: view directory: put", "view", s.ID, "err", err)
	}
}

func (d *Views) remove(ctx context.Context, id string) {
	if err := d.kv.Delete(ctx, id); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		d.log.Warn("stream: view directory: delete", "view", id, "err", err)
	}
}

// List returns the open views of every node that match f, oldest first.
func (d *Views) List(ctx context.Context, f Filter) ([]LiveSession, error) {
	keys, err := d.kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("stream: view directory: %w", err)
	}
	var out []LiveSession
	for k := range keys.Keys() {
		s, ok, err := d.Get(ctx, k)
		if err != nil {
			return nil, err
		}
		if ok && (f.UserID == "" || s.UserID == f.UserID) && (f.CameraID == "" || s.CameraID == f.CameraID) {
			out = append(out, s)
		}
	}
	sortSessions(out)
	return out, nil
}

// Get returns one open view.
func (d *Views) Get(ctx context.Context, id string) (LiveSession, bool, error) {
	e, err := d.kv.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return LiveSession{}, false, nil
	}
	if err != nil {
		return LiveSession{}, false, fmt.Errorf("stream: view directory: %w", err)
	}
	var s LiveSession
	if err := json.Unmarshal(e.Value(), &s); err != nil {
		return LiveSession{}, false, fmt.Errorf("stream: view directory: %s: %w", id, err)
	}
	return s, true, nil
}

// stopRequest asks a node to end a view, or with Profile set to switch it
// to that profile.
type stopRequest struct {
	View    string `json:"view"`
	Reason  string `json:"reason,omitempty"`
	Profile string `json:"profile,omitempty"`
}

// Stop asks the node serving s to end it.
func (d *Views) Stop(ctx context.Context, s LiveSession, reason string) error {
	return d.request(ctx, s, stopRequest{View: s.ID, Reason: reason}, "stop")
}

// Switch asks the node serving s to move it to profile (Relay.SwitchProfile).
func (d *Views) Switch(ctx context.Context, s LiveSession, profile string) error {
	if profile == "" {
		return fmt.Errorf("%w: no profile", ErrInvalidRequest)
	}
	return d.request(ctx, s, stopRequest{View: s.ID, Profile: profile}, "switch")
}

func (d *Views) request(ctx context.Context, s LiveSession, req stopRequest, what string) error {
	b, _ := json.Marshal(req)
	msg, err := d.nc.RequestWithContext(ctx, events.StreamStop(s.Node), b)
	if err != nil {
		return fmt.Errorf("stream: %s view %s on node %s: %w", what, s.ID, s.Node, err)
	}
	switch string(msg.Data) {
	case "ok":
		return nil
	case "not_found":
		return ErrNotFound
	case "cannot_switch":
		return ErrCannotSwitch
	}
	return fmt.Errorf("stream: %s view %s on node %s: %s", what, s.ID, s.Node, msg.Data)
}

// serve keeps node's views in the directory and takes stop requests until
// ctx ends.
func (d *Views) serve(ctx context.Context, node string, list func() []LiveSession, stop func(id, reason string) error,
	switchTo func(ctx context.Context, id, profile string) error) error {
	sub, err := d.nc.Subscribe(events.StreamStop(node), func(m *nats.Msg) {
		var req stopRequest
		if err := json.Unmarshal(m.Data, &req); err != nil {
			_ = m.Respond([]byte("bad request"))
			return
		}
		var err error
		if req.Profile != "" {
			sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err = switchTo(sctx, req.View, req.Profile)
			cancel()
		} else {
			err = stop(req.View, req.Reason)
		}
		switch {
		case err == nil:
			_ = m.Respond([]byte("ok"))
		case errors.Is(err, ErrNotFound):
			_ = m.Respond([]byte("not_found"))
		case errors.Is(err, ErrCannotSwitch):
			_ = m.Respond([]byte("cannot_switch"))
		default:
			_ = m.Respond([]byte(err.Error()))
		}
	})
	if err != nil {
		return fmt.Errorf("stream: view directory: subscribe: %w", err)
	}
	defer sub.Unsubscribe()
	t := time.NewTicker(d.ttl / 3)
	defer t.Stop()
	for {
		for _, s := range list() {
			d.put(ctx, s) // refreshes the TTL and the figures
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
