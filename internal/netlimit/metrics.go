package netlimit

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the figures of every Listener given them, labelled by
// listener name.
type Metrics struct {
	open    *prometheus.GaugeVec
	limit   *prometheus.GaugeVec
	refused *prometheus.CounterVec
}

// NewMetrics makes unregistered metrics; register Collectors.
func NewMetrics() *Metrics {
	return &Metrics{
		open: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "gwanje_listener_connections",
			Help: "Connections a client listener holds now."}, []string{"listener"}),
		limit: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "gwanje_listener_connection_limit",
			Help: "A client listener's connection caps (kind: total, per_source)."}, []string{"listener", "kind"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gwanje_listener_refused_total",
			Help: "Connections closed at once because the listener or their source was at its cap."}, []string{"listener", "reason"}),
	}
}

// Collectors returns the metrics to register.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.open, m.limit, m.refused}
}
