package audit

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the store's Prometheus figures (deploy/METRICS.md): append
// latency measured as entries commit, the outbox's and the checkpoints'
// lag read from the database at each scrape.
type metrics struct {
	append *prometheus.HistogramVec
}

func newMetrics() *metrics {
	m := &metrics{
		append: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "gwanje_audit_append_seconds",
			Help:    "Time from Append to the entry's commit (or its failure), by result (ok, error); AppendTx commits with its caller's transaction and is not timed.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 12)}, []string{"result"}),
	}
	m.append.WithLabelValues("ok")
	m.append.WithLabelValues("error")
	return m
}

// Collectors returns the store's metrics for registration: append latency,
// and figures read from the database when scraped (outbox lag, the age of
// entries no checkpoint covers yet, the newest anchored checkpoint).
func (s *Store) Collectors() []prometheus.Collector {
	return []prometheus.Collector{s.m.append, &lagCollector{s: s}}
}

var (
	descHead = prometheus.NewDesc("gwanje_audit_head_seq",
		"Sequence number of the last committed audit entry.", nil, nil)
	descOutboxEntries = prometheus.NewDesc("gwanje_audit_outbox_lag_entries",
		"Committed audit entries not yet published to NATS (chain head minus outbox cursor).", nil, nil)
	descOutboxSeconds = prometheus.NewDesc("gwanje_audit_outbox_lag_seconds",
		"Age of the oldest committed audit entry not yet published to NATS (0 when none waits).", nil, nil)
	descUncovered = prometheus.NewDesc("gwanje_audit_unanchored_seconds",
		"Age of the oldest audit entry no signed checkpoint covers yet (0 when the newest checkpoint covers the head): what could be cut from the tail unseen.", nil, nil)
	descCheckpointAge = prometheus.NewDesc("gwanje_audit_anchored_checkpoint_age_seconds",
		"Seconds since the log time of the newest signed checkpoint (anchored in NATS and the anchor file as it is signed).", nil, nil)
	descScrapeOK = prometheus.NewDesc("gwanje_audit_scrape_ok",
		"1 when the audit figures above could be read from the database at this scrape, else 0.", nil, nil)
)

// lagCollector reads the chain head, outbox cursor and newest checkpoint
// at scrape time (three single-row reads and two index look-ups).
type lagCollector struct{ s *Store }

func (c *lagCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descHead, descOutboxEntries, descOutboxSeconds, descUncovered, descCheckpointAge, descScrapeOK} {
		ch <- d
	}
}

func (c *lagCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	var head, cursor, ckpt int64
	var ckptAt, unpublishedAt, uncoveredAt *time.Time
	err := c.s.pool.QueryRow(ctx, `
		select h.seq, o.seq, coalesce(k.seq, 0), k.logged_at,
		       (select logged_at from audit_entry where seq = o.seq + 1),
		       (select logged_at from audit_entry where seq = coalesce(k.seq, 0) + 1)
		from audit_head h, audit_outbox o
		left join lateral (select seq, logged_at from audit_checkpoint order by seq desc limit 1) k on true`).
		Scan(&head, &cursor, &ckpt, &ckptAt, &unpublishedAt, &uncoveredAt)
	if err != nil {
		c.s.log.Debug("audit metrics: cannot read the chain head, outbox and checkpoints", "err", err)
		ch <- prometheus.MustNewConstMetric(descScrapeOK, prometheus.GaugeValue, 0)
		return
	}
	now := c.s.now()
	age := func(t *time.Time, behind bool) float64 {
		if !behind || t == nil {
			return 0
		}
		return max(0, now.Sub(*t).Seconds())
	}
	ch <- prometheus.MustNewConstMetric(descScrapeOK, prometheus.GaugeValue, 1)
	ch <- prometheus.MustNewConstMetric(descHead, prometheus.GaugeValue, float64(head))
	ch <- prometheus.MustNewConstMetric(descOutboxEntries, prometheus.GaugeValue, float64(max(0, head-cursor)))
	ch <- prometheus.MustNewConstMetric(descOutboxSeconds, prometheus.GaugeValue, age(unpublishedAt, head > cursor))
	ch <- prometheus.MustNewConstMetric(descUncovered, prometheus.GaugeValue, age(uncoveredAt, head > ckpt))
	if ckptAt != nil {
		ch <- prometheus.MustNewConstMetric(descCheckpointAge, prometheus.GaugeValue, max(0, now.Sub(*ckptAt).Seconds()))
	}
}

func (m *metrics) observeAppend(start time.Time, err error) {
	r := "ok"
	if err != nil {
		r = "error"
	}
	m.append.WithLabelValues(r).Observe(time.Since(start).Seconds())
}
