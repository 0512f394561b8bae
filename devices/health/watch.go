package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/gwanje/gwanje/events"
	gwanjev1 "github.com/gwanje/gwanje/proto/gwanje/v1"
)

// Update is one item of a Watch: a camera status, event or alarm, or the
// marker that ends the initial snapshot.
type Update struct {
	// Seq is the JetStream sequence of the message in GWANJE_CAMERA: pass
	// the last one received to Watch to resume without gaps.
	Seq uint64
	// Snapshot marks the current state sent first (the last status of every
	// camera, its last event of each kind and its last alarm of each kind).
	Snapshot bool
	// SnapshotDone marks the end of the snapshot; it carries no payload.
	SnapshotDone bool
	CameraID     string
	// Exactly one of Status, Event and Alarm is set (none on SnapshotDone
	// and on the final error).
	Status *Status
	Event  *Event
	Alarm  *Alarm
	// Err is set on the last update when the watch ends on an error.
	Err error
}

// WatcherConfig configures a Watcher.
type WatcherConfig struct {
	// Conn is the NATS connection. Required.
	Conn *nats.Conn
	// Buffer is the capacity of each watch's channel. Default 256. A slow
	// reader slows only its own watch (JetStream flow control).
	Buffer int
	// Logger; default slog.Default().
	Logger *slog.Logger
}

// Watcher streams camera status, events and alarms from JetStream. Each
// Watch is an ordered consumer of its own; there is nothing to close.
type Watcher struct {
	cfg WatcherConfig
	js  jetstream.JetStream
}

// NewWatcher returns a Watcher.
func NewWatcher(cfg WatcherConfig) (*Watcher, error) {
	if cfg.Conn == nil {
		return nil, errors.New("health: WatcherConfig.Conn is required")
	}
	if cfg.Buffer <= 0 {
		cfg.Buffer = 256
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	js, err := jetstream.New(cfg.Conn)
	if err != nil {
		return nil, fmt.Errorf("health: jetstream: %w", err)
	}
	return &Watcher{cfg: cfg, js: js}, nil
}

// Watch streams updates of the cameras for which filter returns true (nil:
// all). With resumeFrom 0 it starts with a snapshot of the current state,
// ends it with a SnapshotDone update, and then streams every change. With
// resumeFrom > 0 (the Seq of the last update a client received) it streams
// every change after that one; when the stream no longer holds them (they
// aged out) it starts with a snapshot instead. The channel is closed when
// ctx ends or the watch fails (then the last update carries Err).
func (w *Watcher) Watch(ctx context.Context, filter func(cameraID string) bool, resumeFrom uint64) (<-chan Update, error) {
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{events.CameraAll, events.SystemAlarmAll}}
	snapshot := true
	if resumeFrom > 0 {
		st, err := w.js.Stream(ctx, events.StreamCamera)
		if err != nil {
			return nil, fmt.Errorf("health: watch: %w", err)
		}
		if resumeFrom+1 >= st.CachedInfo().State.FirstSeq {
			cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, resumeFrom+1
			snapshot = false
		}
	}
	if snapshot {
		cfg.DeliverPolicy = jetstream.DeliverLastPerSubjectPolicy
	}
	cons, err := w.js.OrderedConsumer(ctx, events.StreamCamera, cfg)
	if err != nil {
		return nil, fmt.Errorf("health: watch: %w", err)
	}
	it, err := cons.Messages()
	if err != nil {
		return nil, fmt.Errorf("health: watch: %w", err)
	}
	out := make(chan Update, w.cfg.Buffer)
	inSnapshot := snapshot
	if snapshot {
		if info := cons.CachedInfo(); info != nil && info.NumPending == 0 {
			out <- Update{SnapshotDone: true}
			inSnapshot = false
		}
	}
	stop := context.AfterFunc(ctx, it.Stop)
	go func() {
		defer close(out)
		defer stop()
		defer it.Stop()
		send := func(u Update) bool {
			select {
			case out <- u:
				return true
			case <-ctx.Done():
				return false
			}
		}
		for {
			msg, err := it.Next()
			if err != nil {
				if ctx.Err() == nil && !errors.Is(err, jetstream.ErrMsgIteratorClosed) {
					send(Update{Err: fmt.Errorf("health: watch: %w", err)})
				}
				return
			}
			md, err := msg.Metadata()
			if err != nil {
				continue
			}
			u, ok := decodeUpdate(msg.Subject(), msg.Data())
			u.Seq, u.Snapshot = md.Sequence.Stream, inSnapshot
			if ok && (filter == nil || filter(u.CameraID)) {
				if !send(u) {
					return
				}
			} else if !ok {
				w.cfg.Logger.Debug("health: watch: message not understood", "subject", msg.Subject())
			}
			if inSnapshot && md.NumPending == 0 {
				inSnapshot = false
				if !send(Update{Seq: md.Sequence.Stream, SnapshotDone: true}) {
					return
				}
			}
		}
	}()
	return out, nil
}

// decodeUpdate decodes a message of GWANJE_CAMERA.
func decodeUpdate(subject string, data []byte) (Update, bool) {
	id, kind, _, ok := subjectParts(subject)
	if !ok {
		return Update{}, false
	}
	u := Update{CameraID: id}
	switch kind {
	case "status":
		var m gwanjev1.CameraStatus
		if proto.Unmarshal(data, &m) != nil {
			return Update{}, false
		}
		s := StatusFromProto(&m)
		u.Status = &s
	case "event":
		var m gwanjev1.CameraEvent
		if proto.Unmarshal(data, &m) != nil {
			return Update{}, false
		}
		e := EventFromProto(&m)
		u.Event = &e
	case "alarm":
		var m gwanjev1.Alarm
		if proto.Unmarshal(data, &m) != nil {
			return Update{}, false
		}
		a := AlarmFromProto(&m)
		u.Alarm = &a
	default:
		return Update{}, false
	}
	return u, true
}
