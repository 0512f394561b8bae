package events

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Subjects are versioned; every subject gwanje uses is built here.
const (
	prefix = "gwanje.v1."

	// AccessChanged announces that roles, grants, users or contracts
	// changed, so that every process reloads its decision snapshot.
	AccessChanged = prefix + "access.changed"
	// AccessRevoked announces that a user's rights were narrowed (grant
	// revoked, account disabled, session ended): open sessions are cut.
	AccessRevoked = prefix + "access.revoked"
)

// CameraStatus is the subject of a camera's status transitions.
func CameraStatus(cameraID string) string { return prefix + "camera." + cameraID + ".status" }

// CameraEvent is the subject of an event (motion, tamper…) from a camera.
func CameraEvent(cameraID, kind string) string {
	return prefix + "camera." + cameraID + ".event." + kind
}

// CameraAlarm is the subject of an alarm (offline, clock_drift) about a camera.
func CameraAlarm(cameraID, kind string) string {
	return prefix + "camera." + cameraID + ".alarm." + kind
}

// SystemAlarm is the subject of an alarm about a node or the system rather
// than a camera (a recorder's storage full), raised by source (e.g.
// "recorder/node-1"; characters that cannot be in a subject token become
// "_"). It is kept in the camera stream so that one watch sees both.
func SystemAlarm(source, kind string) string {
	return prefix + "system." + SubjectToken(source) + ".alarm." + kind
}

// SubjectToken makes v usable as one subject token: '.', '*', '>',
// spaces and control characters become '_'; empty becomes "_".
func SubjectToken(v string) string {
	if v == "" {
		return "_"
	}
	b := []byte(v)
	for i, c := range b {
		if c == '.' || c == '*' || c == '>' || c <= ' ' || c == 0x7f {
			b[i] = '_'
		}
	}
	return string(b)
}

// Wildcards over the camera subjects, for consumers.
const (
	// CameraAll matches every camera subject (status, events, alarms).
	CameraAll = prefix + "camera.>"
	// CameraStatusAll matches every camera's status subject.
	CameraStatusAll = prefix + "camera.*.status"
	// SystemAlarmAll matches every system alarm subject.
	SystemAlarmAll = prefix + "system.*.alarm.*"
)

// StreamStop is the subject on which a stream node takes requests to end
// one of its live views.
func StreamStop(node string) string { return prefix + "stream." + node + ".stop" }

// Audit is the subject an audit entry of the given type is published on.
func Audit(entryType string) string { return prefix + "audit." + entryType }

// AuditAnchor is the subject of the audit store's anchored checkpoints.
const AuditAnchor = prefix + "anchor.audit"

// Stream and bucket names.
const (
	StreamCamera = "GWANJE_CAMERA"
	StreamAudit  = "GWANJE_AUDIT"
	// StreamAuditAnchor keeps the audit store's signed checkpoints outside
	// PostgreSQL (file storage, survives restarts; the newest 100,000).
	StreamAuditAnchor = "GWANJE_AUDIT_ANCHOR"
	// BucketStreamNodes is the KV bucket where stream nodes register
	// (key: node ID) with a TTL heartbeat; owned by package stream.
	BucketStreamNodes = "GWANJE_STREAM_NODES"

	// BucketLiveViews is the KV bucket of the open live views of every
	// stream node (key: view id), refreshed by the node that serves each.
	BucketLiveViews = "GWANJE_LIVE_VIEWS"
	// BucketCameraStatus is the KV bucket of each camera's current
	// status (key: camera id; value: gwanje.v1.CameraStatus).
	BucketCameraStatus = "GWANJE_CAMERA_STATUS"
	// BucketHealthLeases is the KV bucket of the health workers' shard
	// leases and presence (package events/lease: keys item.<shard>,
	// member.<id>; entries expire).
	BucketHealthLeases = "GWANJE_HEALTH_LEASES"
	// BucketRecorderLeases is the KV bucket of the recorders' camera leases
	// and presence (package events/lease: keys item.<camera>, member.<node>).
	BucketRecorderLeases = "GWANJE_RECORDER_LEASES"
)

// Streams are the JetStream streams gwanje keeps.
var Streams = []jetstream.StreamConfig{
	{
		Name:        StreamCamera,
		Description: "camera status transitions, events and alarms; system alarms",
		Subjects:    []string{prefix + "camera.>", SystemAlarmAll},
		MaxAge:      7 * 24 * time.Hour,
		Storage:     jetstream.FileStorage,
	},
	{
		Name:        StreamAudit,
		Description: "audit entries for SIEMs, published from the audit outbox",
		Subjects:    []string{prefix + "audit.>"},
		MaxAge:      30 * 24 * time.Hour,
		Storage:     jetstream.FileStorage,
		// The outbox may publish an entry again after a crash; the
		// entry's sequence number is its message ID.
		Duplicates: 24 * time.Hour,
	},
	{
		Name:        StreamAuditAnchor,
		Description: "signed audit checkpoints anchored outside the database (audit/FORMAT.md, Anchors)",
		Subjects:    []string{AuditAnchor},
		Storage:     jetstream.FileStorage,
		// Kept without age limit; the oldest go first beyond 100,000
		// (at one per 10 s while entries arrive: about 11 days of steady
		// writing; only the newest matter for a cut tail).
		MaxMsgs:    100000,
		Discard:    jetstream.DiscardOld,
		Duplicates: 24 * time.Hour,
	},
}

// EnsureStreams creates or updates the streams in Streams.
func EnsureStreams(ctx context.Context, js jetstream.JetStream) error {
	for _, sc := range Streams {
		if _, err := js.CreateOrUpdateStream(ctx, sc); err != nil {
			return fmt.Errorf("events: stream %s: %w", sc.Name, err)
		}
	}
	return nil
}
