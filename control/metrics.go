package control

import (
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/status"
)

// metrics are the control service's Prometheus collectors.
type metrics struct {
	calls  *prometheus.CounterVec
	denied *prometheus.CounterVec
}

func newMetrics() *metrics {
	return &metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gwanje_rpc_total", Help: "gRPC calls by method and status code.",
		}, []string{"method", "code"}),
		denied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gwanje_rpc_denied_total", Help: "Calls refused for lack of a session or a right, by method.",
		}, []string{"method"}),
	}
}

// Collectors returns the service's metrics for registration.
func (s *Server) Collectors() []prometheus.Collector {
	return []prometheus.Collector{s.metrics.calls, s.metrics.denied}
}

func (m *metrics) observe(method string, err error) {
	m.calls.WithLabelValues(method, status.Code(err).String()).Inc()
}
