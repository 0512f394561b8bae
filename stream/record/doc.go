// Package record is gwanje's recorder and record store: it records the
// cameras whose schedule says so into encrypted fMP4 segments on a storage
// path per node, indexes them in PostgreSQL with a signed chain of
// custody, destroys them when their retention ends (crypto-shredding the
// day keys) unless a legal hold covers them, and reads them back, verified,
// for playback (package stream/playback).
//
// Files. A segment is about a minute of one camera's video (Config.
// SegmentDuration, cut at a keyframe), audio never included, as fMP4
// (mediacommon) with one-second fragments, sealed with AES-256-GCM in
// chunks (seal.go: each chunk authenticated on its own, so a segment is
// read and verified as a stream; a truncated, reordered or edited file
// fails). Path: <Dir>/<camera>/<YYYY-MM-DD>/<start ms>-<end ms>.gseg; while
// written, <start ms>.partial. The data key is per camera per day
// (recording_keys), wrapped by the key-encryption key in
// StoreConfig.KeyFile (created on first start, mode 0600, never logged).
//
// Index. recording_segments holds camera, node, start, end, path, size,
// SHA-256 of the whole file, key ID, and a hash chain over the segments of
// a camera-hour; Store.SignManifests signs each camera-hour's list with
// Ed25519 (recording_manifests), Store.VerifyManifest checks it.
// ListRecordings returns segments and gaps (camera offline, recorder
// down, out of schedule).
//
// Crashes. A segment becomes visible only when finished: sealed, fsynced,
// renamed, indexed. While it is written, the recorder seals it on time as
// well as on size: every Config.SealInterval of footage (default 1s) the
// fragment in progress ends and everything written so far is sealed into
// a chunk that reaches the file and is fdatasynced (Config.NoSealSync
// skips the sync). A recorder killed with SIGKILL, or a machine that
// loses power, leaves a .partial file; Store.Check (run by Recorder.Run at
// start) re-seals its sealed footage, up to the torn chunk the process was
// writing (discarded), into a finished, verified, indexed segment
// ("salvaged"); a .partial with nothing sealed yet is removed; one that
// does not authenticate is quarantined. A finished file without a row is
// verified and indexed; a row without a file is marked missing (an
// alarm); a file whose size differs is quarantined. So at most one seal
// interval of footage (plus the frame in hand) is lost per camera.
// FORMAT.md gives the file format, the fsync policy and its measured cost.
//
// Alarms. StoreConfig.Alarm receives them (quarantine, missing file, disk
// full and space back, write failures, tampering, footage kept past
// retention); gwanjed hands them to a health.Reporter
// (control.RecordingAlarms), so they join the alarm list (ListAlarms,
// AcknowledgeAlarm) and WatchEvents like camera alarms.
//
// Disk full. StoreConfig.MaxBytes (a quota) and MinFreeBytes (the file
// system) are checked before every write: the segment in progress is
// discarded (never half-written into the index), AlarmDiskFull is raised,
// recording stops until space is back (AlarmDiskOK). Finished segments
// are never touched.
//
// Retention. The Sweeper destroys, per camera, segments whose footage
// ended more than RetentionDays ago (all of them for NotStored cameras)
// that no active legal hold overlaps, after committing one
// recording.destroy audit entry per cycle and camera (ledger kind 파기:
// camera, period, file, files, cycle, checked_at); then it destroys the
// data key of every camera-day with no segment left, with its own entry.
// Shortening retention applies at the next sweep; lengthening it brings
// nothing back. DailyCheck reports footage kept past its retention (must
// be none), audited as recording.retention.check.
//
// Pool. With Config.Pool, recorders share the cameras through leases in
// NATS KV (events/lease), weighted by declared capacity and free disk,
// and fence the index so that two recorders never index the same time of
// a camera (pool.go; recording_fences).
//
// Holds. CreateHold / ReleaseHold / ListHolds take a Querier so control
// can write the hold and its audit entry in one transaction.
//
// Wiring (gwanjed --roles recorder):
//
//	store, _ := record.NewStore(record.StoreConfig{Pool: pool, Dir: "/var/lib/gwanje/recordings",
//	    DataDir: dataDir, Alarm: control.RecordingAlarms(reporter)})
//	rec, _ := record.New(record.Config{Store: store, Cameras: camerasAdapter,
//	    Source: &record.RTSPSource{Upstreams: relayCamerasAdapter},
//	    Pool: &record.PoolConfig{JS: bus.JS, Capacity: 600}})
//	sweeper, _ := record.NewSweeper(record.SweeperConfig{Store: store, Cameras: camerasAdapter, Auditor: auditStore})
//	reg.MustRegister(store.Metrics().Collectors()...)
//	g.Go(func() error { return rec.Run(ctx) }); g.Go(func() error { return sweeper.Run(ctx) })
package record
