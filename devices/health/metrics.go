package health

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Prometheus figures of a Worker (deploy/METRICS.md). Each worker reports
// the cameras it probes now, so the sums over the devices processes are the
// fleet's.
var (
	descCameras = prometheus.NewDesc("gwanje_cameras",
		"Cameras this health worker probes now, by state (unknown: not probed yet).", []string{"state"}, nil)
	descDown = prometheus.NewDesc("gwanje_camera_unavailable_seconds",
		"For each camera this worker probes that cannot be watched now (offline, unauthorized, stream_failed, stalled): seconds in that state.",
		[]string{"camera", "state"}, nil)
	descShards = prometheus.NewDesc("gwanje_health_shard_leases",
		"Camera shards this health worker holds a lease on.", nil, nil)
	descProbes = prometheus.NewDesc("gwanje_health_probe_rounds_total",
		"Probe rounds run, by result of the ONVIF reachability probe (ok, failed).", []string{"result"}, nil)
)

// Collectors returns the worker's metrics for registration: cameras by
// state, how long each unavailable one has been so, shard leases, probe
// rounds and their latency.
func (w *Worker) Collectors() []prometheus.Collector {
	return []prometheus.Collector{workerCollector{w}, w.stats.probe}
}

func newProbeHistogram() prometheus.Histogram {
	return prometheus.NewHistogram(prometheus.HistogramOpts{Name: "gwanje_health_probe_seconds",
		Help:    "Time of one probe round of a camera (ONVIF, RTSP DESCRIBE, keyframe when due).",
		Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 10)})
}

type workerCollector struct{ w *Worker }

func (c workerCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descCameras
	ch <- descDown
	ch <- descShards
	ch <- descProbes
}

func (c workerCollector) Collect(ch chan<- prometheus.Metric) {
	w := c.w
	w.mu.Lock()
	cams := make(map[string]*camera, len(w.cams))
	for id, cam := range w.cams {
		if w.owned[cam.shard] {
			cams[id] = cam
		}
	}
	shards := len(w.owned)
	w.mu.Unlock()
	now := w.cfg.Now()
	counts := map[State]int{Unknown: 0}
	for _, s := range States {
		counts[s] = 0
	}
	for id, cam := range cams {
		cam.mu.Lock()
		st, since, _ := cam.m.State()
		cam.mu.Unlock()
		counts[st]++
		if st.Unavailable() && !since.IsZero() {
			ch <- prometheus.MustNewConstMetric(descDown, prometheus.GaugeValue, max(0, now.Sub(since).Seconds()), id, st.String())
		}
	}
	for st, n := range counts {
		ch <- prometheus.MustNewConstMetric(descCameras, prometheus.GaugeValue, float64(n), st.String())
	}
	ch <- prometheus.MustNewConstMetric(descShards, prometheus.GaugeValue, float64(shards))
	rounds, failed := w.stats.rounds.Load(), w.stats.failed.Load()
	ch <- prometheus.MustNewConstMetric(descProbes, prometheus.CounterValue, float64(rounds-failed), "ok")
	ch <- prometheus.MustNewConstMetric(descProbes, prometheus.CounterValue, float64(failed), "failed")
}

func (s *workerStats) observe(d time.Duration) {
	if s.probe != nil {
		s.probe.Observe(d.Seconds())
	}
}
