package whep

import "github.com/prometheus/client_golang/prometheus"

// metrics are the WHEP server's Prometheus figures (deploy/METRICS.md).
type metrics struct {
	bytes   prometheus.Counter
	refused *prometheus.CounterVec
}

func newMetrics() *metrics {
	return &metrics{
		bytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "gwanje_webrtc_viewer_bytes_total",
			Help: "RTP bytes written to WebRTC viewers."}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gwanje_webrtc_refused_total",
			Help: "Refused WebRTC offers by reason (ticket refusals carry the relay's reasons; capacity, capacity_source, bad_offer, denied, codec)."},
			[]string{"reason"}),
	}
}

// Collectors returns the server's metrics for registration: open WebRTC
// views, bytes sent to them and refused offers.
func (s *Server) Collectors() []prometheus.Collector {
	viewers := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gwanje_webrtc_viewers",
		Help: "Open WebRTC (WHEP) live views on this stream node."}, func() float64 {
		s.mu.Lock()
		defer s.mu.Unlock()
		return float64(len(s.sessions))
	})
	return []prometheus.Collector{viewers, s.m.bytes, s.m.refused}
}
