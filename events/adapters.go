package events

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Notices publishes and subscribes fire-and-forget notices on core NATS
// (access changes and revocations): every process that listens hears them,
// and one that was away catches up by its own polling.
type Notices struct{ b *Bus }

// Notices returns the core-NATS notice adapter of b.
func (b *Bus) Notices() Notices { return Notices{b: b} }

// Publish sends data on subject.
func (n Notices) Publish(subject string, data []byte) error {
	if err := n.b.Conn.Publish(subject, data); err != nil {
		return fmt.Errorf("events: publish %s: %w", subject, err)
	}
	return nil
}

// Subscribe calls handler with the payload of every message on subject
// until unsubscribe is called.
func (n Notices) Subscribe(subject string, handler func(data []byte)) (unsubscribe func() error, err error) {
	sub, err := n.b.Conn.Subscribe(subject, func(m *nats.Msg) { handler(m.Data) })
	if err != nil {
		return nil, fmt.Errorf("events: subscribe %s: %w", subject, err)
	}
	return sub.Unsubscribe, nil
}

// Durable publishes into JetStream and returns only when the stream has
// stored the message, so that a caller retrying on error (the audit outbox)
// loses nothing.
type Durable struct{ b *Bus }

// Durable returns the JetStream publishing adapter of b.
func (b *Bus) Durable() Durable { return Durable{b: b} }

// MaxPayload is the largest message the connected server takes (the
// audit outbox publishes larger entries as summaries).
func (d Durable) MaxPayload() int64 { return d.b.Conn.MaxPayload() }

// Publish stores data on subject in its stream and waits for the ack.
func (d Durable) Publish(ctx context.Context, subject string, data []byte) error {
	if _, err := d.b.JS.Publish(ctx, subject, data); err != nil {
		return fmt.Errorf("events: publish %s: %w", subject, err)
	}
	return nil
}

// Anchors keeps the audit store's anchored checkpoints in the JetStream
// stream StreamAuditAnchor (file storage): an append-only log outside
// PostgreSQL (audit.AnchorLog).
type Anchors struct{ b *Bus }

// Anchors returns the anchor-log adapter of b.
func (b *Bus) Anchors() Anchors { return Anchors{b: b} }

// Name says where the anchors are.
func (a Anchors) Name() string { return "NATS stream " + StreamAuditAnchor }

// Append stores data with message ID id (a repeat within the stream's
// duplicate window is dropped) and waits for the stream's ack.
func (a Anchors) Append(ctx context.Context, id string, data []byte) error {
	if _, err := a.b.JS.Publish(ctx, AuditAnchor, data, jetstream.WithMsgID(id)); err != nil {
		return fmt.Errorf("events: anchor: %w", err)
	}
	return nil
}

// Newest calls fn with the stored records, newest first, until it returns
// false.
func (a Anchors) Newest(ctx context.Context, fn func(data []byte) bool) error {
	st, err := a.b.JS.Stream(ctx, StreamAuditAnchor)
	if err != nil {
		return fmt.Errorf("events: anchors: %w", err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return fmt.Errorf("events: anchors: %w", err)
	}
	for seq := info.State.LastSeq; seq >= info.State.FirstSeq && seq > 0; seq-- {
		m, err := st.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("events: anchors: %w", err)
		}
		if !fn(m.Data) {
			return nil
		}
	}
	return nil
}
