package accesscontrol

import (
	"fmt"
	"net"
	"sync"
	"time"
)

// guard throttles unauthenticated callers by client address and keeps the
// lockout state of logins, in this process's memory, bounded by
// Config.MaxTrackedSources per map (least recently seen forgotten first).
// The design and its reasons are in ROLES.md ("Logins under attack").
//
//   - sources: each client address has a token bucket for Login (LoginBurst,
//     one more per LoginInterval) and a failure count: after FreeFailures
//     failed logins or unknown session tokens, each further failure blocks
//     the address for FailureBackoff, doubled with every failure up to
//     MaxFailureBackoff; failures are forgotten LockoutPeriod after the last.
//   - pairs: MaxFailedLogins consecutive failures of one account from one
//     address lock that account at that address only, for LockoutPeriod.
//   - accounts: after AccountFailureCeiling failures of one account from all
//     addresses together (within LockoutPeriod, since its last success), its
//     password checks are slowed to one per AccountSlowInterval. This only
//     slows: the right password still gets in from an address that is not
//     locked.
//
// Refusals return at once with an error wrapping ErrTooMany and the delay
// after which trying again can succeed; no goroutine sleeps on them.
type guard struct {
	cfg *Config

	mu       sync.Mutex
	sources  *lru[string, *sourceState]
	pairs    *lru[pairKey, *pairState]
	accounts *lru[string, *accountState]
}

type sourceState struct {
	tokens       float64
	refilled     time.Time
	failures     int
	lastFailure  time.Time
	blockedUntil time.Time
}

type pairKey struct{ account, source string }

type pairState struct {
	failures, inflight int
	lockedUntil        time.Time
}

type accountState struct {
	failures  int
	last      time.Time // last failure
	nextCheck time.Time // in slow mode, the earliest next password check
	inflight  int
}

func newGuard(cfg *Config) *guard {
	return &guard{
		cfg:      cfg,
		sources:  newLRU[string, *sourceState](cfg.MaxTrackedSources),
		pairs:    newLRU[pairKey, *pairState](cfg.MaxTrackedSources),
		accounts: newLRU[string, *accountState](cfg.MaxTrackedSources),
	}
}

// sourceOf is the throttling key of a client address ("ip:port" or "ip"):
// the IP for IPv4, the /64 network for IPv6 (what one subscriber usually
// holds). Anything else is used as it is; "" (in-process callers, no
// network peer) is not throttled per address.
func sourceOf(addr string) string {
	host := addr
	if h, _, err := net.SplitHostPort(addr); err == nil {
		host = h
	}
	ip := net.ParseIP(host)
	switch {
	case ip == nil:
		return host
	case ip.To4() != nil:
		return ip.To4().String()
	default:
		return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
	}
}

func (g *guard) source(src string, now time.Time) *sourceState {
	ss := g.sources.getOrAdd(src, func() *sourceState {
		return &sourceState{tokens: float64(g.cfg.LoginBurst), refilled: now}
	})
	if ss.failures > 0 && now.Sub(ss.lastFailure) >= g.cfg.LockoutPeriod {
		ss.failures = 0
	}
	return ss
}

// blocked is the refusal of a client address in failure backoff, or nil.
func (g *guard) blocked(ss *sourceState, now time.Time) error {
	if now.Before(ss.blockedUntil) {
		return tooMany(ss.blockedUntil.Sub(now), "address in failure backoff", fmt.Sprintf(
			"too many failed logins or invalid sessions from this address; try again in %s", ss.blockedUntil.Sub(now).Round(time.Second)))
	}
	return nil
}

// checkSource refuses a call from a client address in failure backoff.
func (g *guard) checkSource(src string, now time.Time) error {
	if src == "" {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.blocked(g.source(src, now), now)
}

// sourceFailed counts a failure (a failed login, an unknown token) against
// the client address, blocking it with a growing delay past FreeFailures.
func (g *guard) sourceFailed(src string, now time.Time) {
	if src == "" {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.failSource(g.source(src, now), now)
}

func (g *guard) failSource(ss *sourceState, now time.Time) {
	ss.failures++
	ss.lastFailure = now
	if over := ss.failures - g.cfg.FreeFailures; over > 0 {
		d := g.cfg.FailureBackoff
		for i := 1; i < over && d < g.cfg.MaxFailureBackoff; i++ {
			d *= 2
		}
		ss.blockedUntil = now.Add(min(d, g.cfg.MaxFailureBackoff))
	}
}

// loginAttempt is a password check admitted by the guard; done must be
// called once with its outcome.
type loginAttempt struct {
	g       *guard
	src     string
	ss      *sourceState
	pair    *pairState
	account *accountState
}

// attemptOutcome is what a login attempt came to, for the counters.
type attemptOutcome int

const (
	attemptNotChecked attemptOutcome = iota // cancelled, busy, database down, TOTP code missing
	attemptFailed                           // a password or code was checked and was wrong, or the user is unknown or disabled
	attemptSucceeded
)

// admitLogin decides whether a login for account from src may check a
// password now: refused when the address is in failure backoff, the account
// is locked at this address (or its remaining tries are all in flight), the
// account is in slow mode and its next check is not due, or the address's
// login bucket is empty.
func (g *guard) admitLogin(account, src string, now time.Time) (*loginAttempt, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	a := &loginAttempt{g: g, src: src}
	if src != "" {
		a.ss = g.source(src, now)
		if err := g.blocked(a.ss, now); err != nil {
			return nil, err
		}
	}
	a.pair = g.pairs.getOrAdd(pairKey{account, src}, func() *pairState { return &pairState{} })
	if now.Before(a.pair.lockedUntil) {
		d := a.pair.lockedUntil.Sub(now)
		return nil, tooMany(d, "account locked at this address", fmt.Sprintf("too many failed logins for this account from this address; try again in %s, or from another workstation", d.Round(time.Second)))
	}
	if a.pair.failures+a.pair.inflight >= g.cfg.MaxFailedLogins {
		return nil, tooMany(time.Second, "account's tries at this address in flight", "another login for this account from this address is being checked; try again shortly")
	}
	a.account = g.accounts.getOrAdd(account, func() *accountState { return &accountState{} })
	if a.account.failures > 0 && now.Sub(a.account.last) >= g.cfg.LockoutPeriod {
		a.account.failures = 0
	}
	slow := a.account.failures >= g.cfg.AccountFailureCeiling
	if slow && (now.Before(a.account.nextCheck) || a.account.inflight > 0) {
		d := max(a.account.nextCheck.Sub(now), g.cfg.AccountSlowInterval)
		return nil, tooMany(d, "account slowed", fmt.Sprintf("this account has had many failed logins, so its logins are slowed; try again in %s", d.Round(time.Second)))
	}
	if a.ss != nil {
		ss := a.ss
		ss.tokens = min(float64(g.cfg.LoginBurst), ss.tokens+float64(now.Sub(ss.refilled))/float64(g.cfg.LoginInterval))
		ss.refilled = now
		if ss.tokens < 1 {
			d := time.Duration((1 - ss.tokens) * float64(g.cfg.LoginInterval))
			return nil, tooMany(d, "address login rate", fmt.Sprintf("too many logins from this address; try again in %s", d.Round(time.Second)))
		}
		ss.tokens--
	}
	if slow {
		a.account.nextCheck = now.Add(g.cfg.AccountSlowInterval)
	}
	a.pair.inflight++
	a.account.inflight++
	return a, nil
}

// attemptResult says what a finished attempt changed, for the audit.
type attemptResult struct {
	pairLocked    bool // this failure locked the account at this address
	accountSlowed bool // this failure put the account in slow mode
}

// done records the outcome of an admitted attempt.
func (a *loginAttempt) done(o attemptOutcome, now time.Time) attemptResult {
	g := a.g
	g.mu.Lock()
	defer g.mu.Unlock()
	a.pair.inflight--
	a.account.inflight--
	var r attemptResult
	switch o {
	case attemptSucceeded:
		a.pair.failures, a.pair.lockedUntil = 0, time.Time{}
		a.account.failures, a.account.nextCheck = 0, time.Time{}
	case attemptFailed:
		if a.pair.failures++; a.pair.failures >= g.cfg.MaxFailedLogins {
			a.pair.failures, a.pair.lockedUntil = 0, now.Add(g.cfg.LockoutPeriod)
			r.pairLocked = true
		}
		a.account.failures++
		a.account.last = now
		r.accountSlowed = a.account.failures == g.cfg.AccountFailureCeiling
		if a.ss != nil {
			g.failSource(a.ss, now)
		}
	}
	return r
}

// forgetAccount lifts the account's locks at every address and its slow
// mode (an administrator's unlock).
func (g *guard) forgetAccount(account string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.accounts.delete(account)
	g.pairs.deleteIf(func(k pairKey, p *pairState) bool { return k.account == account && p.inflight == 0 })
}
