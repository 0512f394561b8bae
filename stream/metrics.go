package stream

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the relay's Prometheus collectors. The relay creates its own
// (unregistered) set unless Config.Metrics is given; register them with
// prometheus.Registerer.MustRegister(relay.Metrics().Collectors()...).
type Metrics struct {
	// Viewers is the number of open live views (played or about to play).
	Viewers prometheus.Gauge
	// Upstreams is the number of camera pulls open or reconnecting.
	Upstreams prometheus.Gauge
	// BytesOut counts RTP bytes queued to viewers.
	BytesOut prometheus.Counter
	// BytesIn counts RTP bytes received from cameras.
	BytesIn prometheus.Counter
	// Drops counts video frames not delivered to a viewer because its
	// buffer was full (the viewer then waits for the next keyframe).
	Drops prometheus.Counter
	// TicketRejections counts refused requests by reason (RejectReason).
	TicketRejections *prometheus.CounterVec
	// Reconnects counts upstream reconnect attempts after a failure.
	Reconnects prometheus.Counter
	// Closed counts ended views by reason.
	Closed *prometheus.CounterVec
}

// NewMetrics returns a fresh, unregistered set of collectors.
func NewMetrics() *Metrics {
	return &Metrics{
		Viewers: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "gwanje", Subsystem: "stream", Name: "viewers",
			Help: "Open live views on this node.",
		}),
		Upstreams: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "gwanje", Subsystem: "stream", Name: "upstreams",
			Help: "Camera pulls open or reconnecting on this node.",
		}),
		BytesOut: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "gwanje", Subsystem: "stream", Name: "viewer_bytes_total",
			Help: "RTP bytes queued to viewers.",
		}),
		BytesIn: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "gwanje", Subsystem: "stream", Name: "upstream_bytes_total",
			Help: "RTP bytes received from cameras.",
		}),
		Drops: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "gwanje", Subsystem: "stream", Name: "dropped_frames_total",
			Help: "Video frames not delivered to a slow viewer.",
		}),
		TicketRejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "gwanje", Subsystem: "stream", Name: "ticket_rejections_total",
			Help: "Refused live-view requests by reason.",
		}, []string{"reason"}),
		Reconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "gwanje", Subsystem: "stream", Name: "upstream_reconnects_total",
			Help: "Camera reconnect attempts after the camera dropped or could not be reached.",
		}),
		Closed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "gwanje", Subsystem: "stream", Name: "views_closed_total",
			Help: "Ended live views by reason.",
		}, []string{"reason"}),
	}
}

// Collectors returns every collector, for registration.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.Viewers, m.Upstreams, m.BytesOut, m.BytesIn, m.Drops,
		m.TicketRejections, m.Reconnects, m.Closed}
}
