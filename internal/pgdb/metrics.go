package pgdb

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

var (
	descUp = prometheus.NewDesc("gwanje_postgres_up",
		"1 when PostgreSQL answered a ping within a second at this scrape, else 0.", nil, nil)
	descConns = prometheus.NewDesc("gwanje_postgres_connections",
		"Connections of this process's pool by state (acquired, idle, constructing, max).", []string{"state"}, nil)
	descAcquireWait = prometheus.NewDesc("gwanje_postgres_acquire_wait_seconds_total",
		"Time callers waited for a pool connection.", nil, nil)
	descPrimary = prometheus.NewDesc("gwanje_postgres_primary",
		"1 when the server this pool reaches is a primary (accepts writes), 0 on a standby.", nil, nil)
)

// Collectors returns the pool's figures for registration (deploy/METRICS.md):
// whether PostgreSQL answers and is a primary, checked at each scrape, and the
// pool's connections.
func Collectors(pool *pgxpool.Pool) []prometheus.Collector {
	return []prometheus.Collector{poolCollector{pool}}
}

type poolCollector struct{ pool *pgxpool.Pool }

func (c poolCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descUp
	ch <- descConns
	ch <- descAcquireWait
	ch <- descPrimary
}

func (c poolCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var standby bool
	up := 0.0
	if err := c.pool.QueryRow(ctx, "select pg_is_in_recovery()").Scan(&standby); err == nil {
		up = 1
		primary := 1.0
		if standby {
			primary = 0
		}
		ch <- prometheus.MustNewConstMetric(descPrimary, prometheus.GaugeValue, primary)
	}
	ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, up)
	st := c.pool.Stat()
	for state, n := range map[string]int32{"acquired": st.AcquiredConns(), "idle": st.IdleConns(),
		"constructing": st.ConstructingConns(), "max": st.MaxConns()} {
		ch <- prometheus.MustNewConstMetric(descConns, prometheus.GaugeValue, float64(n), state)
	}
	ch <- prometheus.MustNewConstMetric(descAcquireWait, prometheus.CounterValue, st.AcquireDuration().Seconds())
}
