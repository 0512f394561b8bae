package health

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/gwanje/gwanje/events"
	gwanjev1 "github.com/gwanje/gwanje/proto/gwanje/v1"
)

// CurrentStatus reads a camera's current status from the status bucket;
// ok is false when no worker has reported on the camera yet.
func CurrentStatus(ctx context.Context, js jetstream.JetStream, cameraID string) (s Status, ok bool, err error) {
	kv, err := js.KeyValue(ctx, events.BucketCameraStatus)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return Status{}, false, nil
	}
	if err != nil {
		return Status{}, false, fmt.Errorf("health: status bucket: %w", err)
	}
	e, err := kv.Get(ctx, cameraID)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Status{}, false, nil
	}
	if err != nil {
		return Status{}, false, fmt.Errorf("health: status of %s: %w", cameraID, err)
	}
	var m gwanjev1.CameraStatus
	if err := proto.Unmarshal(e.Value(), &m); err != nil {
		return Status{}, false, fmt.Errorf("health: status of %s: %w", cameraID, err)
	}
	return StatusFromProto(&m), true, nil
}

// Unavailable reports whether the state means the camera cannot be watched
// now (nothing comes from it).
func (s State) Unavailable() bool {
	return s == Offline || s == Unauthorized || s == StreamFailed || s == Stalled
}
