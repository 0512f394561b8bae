package record

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the recorder's, sweeper's and store's figures. Register
// Collectors with a prometheus registry.
type Metrics struct {
	Recording       prometheus.Gauge
	Segments        prometheus.Counter
	SegmentsDropped prometheus.Counter
	BytesWritten    prometheus.Counter
	Frames          prometheus.Counter
	FramesDropped   prometheus.Counter
	DiskUsed        prometheus.Gauge
	DiskFull        prometheus.Gauge
	Reconnects      prometheus.Counter
	Seals           prometheus.Counter
	SealSync        prometheus.Histogram
	Alarms          *prometheus.CounterVec
	SweepRuns       prometheus.Counter
	SweepDeleted    prometheus.Counter
	SweepBytes      prometheus.Counter
	KeysDestroyed   prometheus.Counter
	OverRetained    prometheus.Gauge
	Fenced          prometheus.Counter
	Leases          prometheus.Gauge
	SegmentFinish   prometheus.Histogram
	Gaps            prometheus.Counter
	GapSeconds      prometheus.Counter
}

// NewMetrics returns unregistered metrics.
func NewMetrics() *Metrics {
	return &Metrics{
		Recording: prometheus.NewGauge(prometheus.GaugeOpts{Name: "gwanje_recorder_cameras_recording",
			Help: "Cameras being recorded now."}),
		Segments: prometheus.NewCounter(prometheus.CounterOpts{Name: "gwanje_recorder_segments_total",
			Help: "Segments written and indexed."}),
		SegmentsDropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "gwanje_recorder_segments_dropped_total",
			Help: "Segments in progress discarded (write error, disk full)."}),
		BytesWritten: prometheus.NewCounter(prometheus.CounterOpts{Name: "gwanje_recorder_bytes_written_total",
			Help: "Bytes written to segment files."}),
		Frames: prometheus.NewCounter(prometheus.CounterOpts{Name: "gwanje_recorder_frames_total",
			Help: "Access units recorded."}),
		FramesDropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "gwanje_recorder_frames_dropped_total",
			Help: "Access units received but not recorded (no keyframe yet, queue full, disk full)."}),
		DiskUsed: prometheus.NewGauge(prometheus.GaugeOpts{Name: "gwanje_recorder_disk_used_bytes",
			Help: "Bytes under the storage path."}),
		DiskFull: prometheus.NewGauge(prometheus.GaugeOpts{Name: "gwanje_recorder_disk_full",
			Help: "1 while writing is stopped for lack of space."}),
		Reconnects: prometheus.NewCounter(prometheus.CounterOpts{Name: "gwanje_recorder_reconnects_total",
			Help: "Camera connections lost and retried."}),
		Seals: prometheus.NewCounter(prometheus.CounterOpts{Name: "gwanje_recorder_seals_total",
			Help: "Timed seals: footage of a segment in progress sealed into the file before its chunk was full."}),
		SealSync: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "gwanje_recorder_seal_sync_seconds",
			Help:    "Time of the fdatasync after a timed seal.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 9)}),
		Alarms: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gwanje_recorder_alarms_total",
			Help: "Alarms raised, by kind."}, []string{"kind"}),
		SweepRuns: prometheus.NewCounter(prometheus.CounterOpts{Name: "gwanje_retention_sweeps_total",
			Help: "Retention sweep cycles run."}),
		SweepDeleted: prometheus.NewCounter(prometheus.CounterOpts{Name: "gwanje_retention_segments_destroyed_total",
			Help: "Segments destroyed by retention."}),
		SweepBytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "gwanje_retention_bytes_destroyed_total",
			Help: "Bytes destroyed by retention."}),
		KeysDestroyed: prometheus.NewCounter(prometheus.CounterOpts{Name: "gwanje_retention_keys_destroyed_total",
			Help: "Data keys destroyed (crypto-shredding)."}),
		OverRetained: prometheus.NewGauge(prometheus.GaugeOpts{Name: "gwanje_retention_over_retained_segments",
			Help: "Segments older than their retention found by the last daily check (must be 0)."}),
		Fenced: prometheus.NewCounter(prometheus.CounterOpts{Name: "gwanje_recorder_segments_fenced_total",
			Help: "Segments not indexed because another recorder of the pool holds their time (removed)."}),
		Leases: prometheus.NewGauge(prometheus.GaugeOpts{Name: "gwanje_recorder_camera_leases",
			Help: "Camera leases this recorder holds in the pool."}),
		SegmentFinish: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "gwanje_recorder_segment_finish_seconds",
			Help:    "Time to finish a segment: write what is held, fdatasync, rename and index it.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 11)}),
		Gaps: prometheus.NewCounter(prometheus.CounterOpts{Name: "gwanje_recorder_gaps_total",
			Help: "Gaps over a second between a camera's consecutive segments indexed by this recorder."}),
		GapSeconds: prometheus.NewCounter(prometheus.CounterOpts{Name: "gwanje_recorder_gap_seconds_total",
			Help: "Footage time missing in those gaps."}),
	}
}

// Collectors lists the metrics for registration.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.Recording, m.Segments, m.SegmentsDropped, m.BytesWritten, m.Frames,
		m.FramesDropped, m.DiskUsed, m.DiskFull, m.Reconnects, m.Seals, m.SealSync, m.Alarms, m.SweepRuns, m.SweepDeleted,
		m.SweepBytes, m.KeysDestroyed, m.OverRetained, m.Fenced, m.Leases, m.SegmentFinish, m.Gaps, m.GapSeconds}
}
