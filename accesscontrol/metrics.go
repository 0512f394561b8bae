package accesscontrol

import "github.com/prometheus/client_golang/prometheus"

// Login outcomes counted in gwanje_login_attempts_total.
const (
	loginSuccess     = "success"     // a session was opened
	loginFailed      = "failed"      // wrong password or code, unknown or disabled account
	loginThrottled   = "throttled"   // refused before any check (backoff, lockout, budget, slowed account)
	loginUnavailable = "unavailable" // not checked: busy, database down, TOTP code missing, caller gone
)

// metrics are the service's Prometheus figures (deploy/METRICS.md).
type metrics struct {
	logins   *prometheus.CounterVec
	lockouts prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gwanje_login_attempts_total",
			Help: "Login attempts by outcome: success, failed (wrong credentials), throttled (refused before any check), unavailable (not checked)."},
			[]string{"outcome"}),
		lockouts: prometheus.NewCounter(prometheus.CounterOpts{Name: "gwanje_login_lockouts_total",
			Help: "Accounts locked at an address after repeated failed logins."}),
	}
	for _, o := range []string{loginSuccess, loginFailed, loginThrottled, loginUnavailable} {
		m.logins.WithLabelValues(o)
	}
	return m
}

// Collectors returns the service's metrics for registration.
func (s *Service) Collectors() []prometheus.Collector {
	return []prometheus.Collector{s.m.logins, s.m.lockouts}
}
