// Package health watches the cameras: device health workers that probe
// them, per-camera state machines, the flow of status, events and alarms
// over NATS, and the readers of that flow that control runs (status history
// in PostgreSQL with availability reports, alarms, Watch).
//
// # Workers
//
// A Worker (NewWorker, Run, Close) reads its Targets (the registry, through
// a small interface the caller implements), leases shards of the camera set
// in the KV bucket events.BucketHealthLeases (package events/lease, shared
// with the recorders: compare-and-set leases that expire unless renewed,
// and a presence key per worker, so that
// workers take fair shares, a new one gets shards at the next renewal and
// the shards of a dead one are claimed after LeaseTTL) and probes the
// cameras of its shards. Every camera has a fixed slot in its interval
// (hash of its id), the same in every worker, so probes are spread evenly
// and a camera handed over is never probed twice in one interval. A probe
// round (NetProber) is ONVIF GetSystemDateAndTime (reachability, latency,
// clock offset), RTSP DESCRIBE of the main stream, and every
// KeyframeInterval the arrival of a keyframe (stall detection); each probe
// has a deadline and at most Concurrency rounds run at once, so a hanging
// camera costs only its own round. Cameras with Target.Events get an ONVIF
// PullPoint subscription, renewed, and created again after a reboot; their
// motion, tamper and video-loss notifications are published as events.
//
// # States
//
// A Machine per camera turns probe rounds into states (online, degraded,
// offline, unauthorized, stream_failed, stalled, maintenance) with
// hysteresis (DefaultHysteresis: two misses before offline, one success
// back online). Each transition has a time (Since) and a cause. After a
// first miss the camera is probed again after ConfirmAfter, so an outage is
// reported within about ConfirmAfter of the next slot.
//
// # NATS
//
// Status messages (transitions, and updates when clock drift begins or
// ends) go to events.CameraStatus(id) in the stream GWANJE_CAMERA and to
// the KV bucket events.BucketCameraStatus (key: camera id); camera events to
// events.CameraEvent(id, kind); alarms to events.CameraAlarm(id, kind).
// Payloads are the protobuf messages of proto/gwanje/v1/events.proto. The
// publisher keeps messages in memory while NATS is away and retries in
// order with JetStream message IDs, so a restart of NATS loses nothing and
// stores nothing twice.
//
// # Readers (control)
//
// History stores every status in health_status_history through a durable
// consumer (messages wait in JetStream while PostgreSQL is down);
// QueryAvailability reports uptime per camera per day or month. Alarms
// raises an alarm for a camera offline longer than OfflineAfter or
// drifting for DriftAfter, stores it, publishes it, clears it on recovery,
// and records acknowledgements with an audit entry in the same
// transaction. Watcher.Watch streams a snapshot of the current state and
// then every change, resumable by stream sequence.
//
// # Alarms from other components
//
// A Reporter (the recorder's: source "recorder/<node>") raises and clears
// alarms in the same table; Alarms publishes them like its own (subject
// events.CameraAlarm, or events.SystemAlarm for an alarm about the node
// rather than a camera, in the same stream), so they appear in ListAlarms
// and Watch. Its events (a segment quarantined, missing, not written or
// tampered) are cleared by their acknowledgement and counted while open;
// its conditions (storage full) by the Reporter. Alarms' sweep clears only
// its own (source "").
package health
