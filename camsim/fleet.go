package camsim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
)

// FleetConfig starts many cameras at once.
type FleetConfig struct {
	// Count is the number of cameras; required.
	Count int
	// IDPrefix names cameras IDPrefix0001...; default "cam-".
	IDPrefix string
	// Dialects are assigned round-robin; default all of Dialects.
	Dialects []Dialect
	// PTZEvery makes every n-th camera a PTZ camera; 0 = none.
	PTZEvery int
	// BaseIP, when set (e.g. 127.0.1.1), gives camera i the address BaseIP+i with
	// the fixed ports below, like a real subnet. Otherwise every camera listens
	// on Host with random ports.
	BaseIP string
	// Host for random-port mode; default "127.0.0.1".
	Host string
	// Fixed ports for BaseIP mode; defaults 80, 554, 3702.
	HTTPPort, RTSPPort, DiscoveryPort int
	// Template supplies the remaining settings (credentials, faults, logger...).
	Template Config
}

// Fleet is a set of running cameras.
type Fleet struct {
	cams []*Camera
}

// StartFleet starts cfg.Count cameras; on error the ones already started are closed.
func StartFleet(ctx context.Context, cfg FleetConfig) (*Fleet, error) {
	if cfg.Count <= 0 {
		return nil, errors.New("camsim: fleet Count must be positive")
	}
	if cfg.IDPrefix == "" {
		cfg.IDPrefix = "cam-"
	}
	if len(cfg.Dialects) == 0 {
		cfg.Dialects = Dialects
	}
	var base net.IP
	if cfg.BaseIP != "" {
		base = net.ParseIP(cfg.BaseIP).To4()
		if base == nil {
			return nil, fmt.Errorf("camsim: BaseIP %q is not an IPv4 address", cfg.BaseIP)
		}
		if cfg.HTTPPort == 0 {
			cfg.HTTPPort = 80
		}
		if cfg.RTSPPort == 0 {
			cfg.RTSPPort = 554
		}
		if cfg.DiscoveryPort == 0 {
			cfg.DiscoveryPort = 3702
		}
	}
	if cfg.Template.Logger == nil {
		cfg.Template.Logger = slog.Default()
	}
	f := &Fleet{}
	for i := range cfg.Count {
		cc := cfg.Template
		cc.ID = fmt.Sprintf("%s%04d", cfg.IDPrefix, i+1)
		cc.Dialect = cfg.Dialects[i%len(cfg.Dialects)]
		cc.PTZ = cfg.PTZEvery > 0 && i%cfg.PTZEvery == 0
		if base != nil {
			v := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8 | uint32(base[3])
			v += uint32(i)
			cc.Host = net.IPv4(byte(v>>24), byte(v>>16), byte(v>>8), byte(v)).String()
			cc.HTTPPort, cc.RTSPPort, cc.DiscoveryPort = cfg.HTTPPort, cfg.RTSPPort, cfg.DiscoveryPort
		} else if cfg.Host != "" {
			cc.Host = cfg.Host
		}
		cam, err := New(cc)
		if err == nil {
			err = cam.Start(ctx)
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("camsim: fleet camera %d: %w", i+1, err)
		}
		f.cams = append(f.cams, cam)
	}
	return f, nil
}

// Cameras returns the cameras in start order.
func (f *Fleet) Cameras() []*Camera { return f.cams }

// Close closes every camera. Safe to call twice.
func (f *Fleet) Close() {
	for _, c := range f.cams {
		_ = c.Close()
	}
}
