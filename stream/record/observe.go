package record

import (
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Figures beyond Metrics' (deploy/METRICS.md): segment finish latency and
// gaps, measured as segments are indexed; the recording lag and the storage
// path's file system, read at each scrape.

// noteSegment records an indexed segment: the time its finish took and a
// gap when it starts later than the camera's previous segment ended (more
// than a second: the recorder's own reconnects, lease moves to this node).
func (s *Store) noteSegment(seg Segment, finish time.Duration) {
	s.m.SegmentFinish.Observe(finish.Seconds())
	if prev, ok := s.lastEnd.Swap(seg.CameraID, seg.End); ok {
		if gap := seg.Start.Sub(prev.(time.Time)); gap > time.Second {
			s.m.Gaps.Inc()
			s.m.GapSeconds.Add(gap.Seconds())
		}
	}
}

// LastIndexed returns the end of the newest segment of camera this store
// indexed since it started.
func (s *Store) LastIndexed(camera string) (time.Time, bool) {
	v, ok := s.lastEnd.Load(camera)
	if !ok {
		return time.Time{}, false
	}
	return v.(time.Time), true
}

var (
	descDiskFree = prometheus.NewDesc("gwanje_recorder_disk_free_bytes",
		"Bytes available to gwanjed on the file system of the storage path.", nil, nil)
	descDiskSize = prometheus.NewDesc("gwanje_recorder_disk_size_bytes",
		"Size of the file system of the storage path.", nil, nil)
)

// fsCollector reads the storage path's file system at each scrape.
type fsCollector struct{ dir string }

func (c fsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- descDiskFree; ch <- descDiskSize }

func (c fsCollector) Collect(ch chan<- prometheus.Metric) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(c.dir, &st); err != nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(descDiskFree, prometheus.GaugeValue, float64(st.Bavail)*float64(st.Bsize))
	ch <- prometheus.MustNewConstMetric(descDiskSize, prometheus.GaugeValue, float64(st.Blocks)*float64(st.Bsize))
}

// Collectors returns the store's metrics (Metrics' and the file system's)
// for registration.
func (s *Store) Collectors() []prometheus.Collector {
	return append(s.m.Collectors(), fsCollector{s.dir})
}

// Collectors returns the recorder's own figures for registration (register
// the Store's too): the recording lag.
func (r *Recorder) Collectors() []prometheus.Collector {
	return []prometheus.Collector{prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gwanje_recorder_lag_seconds",
		Help: "Seconds since the end of the newest indexed footage of the camera furthest behind among those this recorder records now (normally under one segment's length)."},
		func() float64 {
			now := time.Now()
			r.mu.Lock()
			defer r.mu.Unlock()
			lag := 0.0
			for id, st := range r.cams {
				if !st.open.Load() {
					continue
				}
				if end, ok := r.s.LastIndexed(id); ok {
					lag = max(lag, now.Sub(end).Seconds())
				}
			}
			return lag
		})}
}
