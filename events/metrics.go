package events

import "github.com/prometheus/client_golang/prometheus"

// Collectors returns the bus's connection figures for registration
// (deploy/METRICS.md): whether the NATS connection is up, its reconnects,
// and messages and bytes through it.
func (b *Bus) Collectors() []prometheus.Collector {
	conn := b.Conn
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gwanje_nats_connected",
			Help: "1 while this process's NATS connection is up, else 0."}, func() float64 {
			if conn.IsConnected() {
				return 1
			}
			return 0
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "gwanje_nats_reconnects_total",
			Help: "Times this process's NATS connection was re-established."}, func() float64 {
			return float64(conn.Stats().Reconnects)
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "gwanje_nats_out_bytes_total",
			Help: "Bytes this process published to NATS."}, func() float64 {
			return float64(conn.Stats().OutBytes)
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "gwanje_nats_in_bytes_total",
			Help: "Bytes this process received from NATS."}, func() float64 {
			return float64(conn.Stats().InBytes)
		}),
	}
}
