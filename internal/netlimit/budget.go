package netlimit

import (
	"errors"
	"fmt"
	"math"
	"syscall"
)

// Budget is how the descriptor limit is divided: each client listener may
// hold PerListener connections, and the rest, Reserve, is left to the
// camera side and the process's own files, sockets and pools.
type Budget struct {
	// Limit is the descriptor limit (soft RLIMIT_NOFILE) the budget divides.
	Limit uint64
	// Listeners is the number of client listeners sharing ClientShare.
	Listeners int
	// PerListener is each client listener's connection cap.
	PerListener int
	// Reserve is Limit minus what the client listeners may hold together.
	Reserve uint64
}

// BudgetConfig says how to divide the descriptor limit.
type BudgetConfig struct {
	// ClientShare is the fraction of the descriptor limit that the client
	// listeners may hold together; the rest is the reserve. Default 0.5;
	// at most 0.9.
	ClientShare float64
	// Listeners is the number of client listeners. Required (> 0).
	Listeners int
	// MaxConns, when > 0, is each listener's cap, chosen by hand; it must
	// fit in the client share. When 0 the cap is derived: the client share
	// divided evenly among the listeners, at most Ceiling.
	MaxConns int
	// Ceiling bounds a derived cap (memory, not descriptors, is then the
	// limit: every held connection costs buffers). Default 10000.
	Ceiling int
}

// DefaultClientShare and DefaultCeiling are BudgetConfig's defaults.
const (
	DefaultClientShare = 0.5
	DefaultCeiling     = 10000
)

// Plan divides limit by cfg.
func Plan(limit uint64, cfg BudgetConfig) (Budget, error) {
	if cfg.ClientShare == 0 {
		cfg.ClientShare = DefaultClientShare
	}
	if cfg.Ceiling <= 0 {
		cfg.Ceiling = DefaultCeiling
	}
	if cfg.Listeners <= 0 {
		return Budget{}, errors.New("netlimit: budget for no listeners")
	}
	if math.IsNaN(cfg.ClientShare) || cfg.ClientShare <= 0 || cfg.ClientShare > 0.9 {
		return Budget{}, fmt.Errorf("client share %v: must be more than 0 and at most 0.9 (the rest of the descriptors is the camera side's reserve)", cfg.ClientShare)
	}
	if cfg.MaxConns < 0 {
		return Budget{}, fmt.Errorf("max conns %d: must not be negative (0 derives it from the descriptor limit)", cfg.MaxConns)
	}
	clients := uint64(float64(limit) * cfg.ClientShare)
	fair := clients / uint64(cfg.Listeners)
	per := uint64(cfg.MaxConns)
	switch {
	case per > fair:
		return Budget{}, fmt.Errorf("max conns %d × %d listeners exceeds %d, the client share (%v) of the descriptor limit %d: lower it, raise the limit (ulimit -n, LimitNOFILE=), or leave it 0 to derive it", per, cfg.Listeners, clients, cfg.ClientShare, limit)
	case per == 0:
		per = min(fair, uint64(cfg.Ceiling))
		if per < 1 {
			return Budget{}, fmt.Errorf("the descriptor limit %d leaves no connections for %d listeners: raise it (ulimit -n, LimitNOFILE=)", limit, cfg.Listeners)
		}
	}
	return Budget{Limit: limit, Listeners: cfg.Listeners, PerListener: int(per), Reserve: limit - per*uint64(cfg.Listeners)}, nil
}

// RaiseLimit raises the soft descriptor limit to the hard limit and returns
// the soft limit found (before) and the one in force now.
func RaiseLimit() (before, now uint64, err error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, 0, fmt.Errorf("descriptor limit: %w", err)
	}
	before = rl.Cur
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
			return before, before, fmt.Errorf("raise the descriptor limit from %d to %d: %w", before, rl.Max, err)
		}
	}
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return before, 0, fmt.Errorf("descriptor limit: %w", err)
	}
	return before, rl.Cur, nil
}
