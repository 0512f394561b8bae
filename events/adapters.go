package events

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go"
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

// Publish stores data on subject in its stream and waits for the ack.
func (d Durable) Publish(ctx context.Context, subject string, data []byte) error {
	if _, err := d.b.JS.Publish(ctx, subject, data); err != nil {
		return fmt.Errorf("events: publish %s: %w", subject, err)
	}
	return nil
}
