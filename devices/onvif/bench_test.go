package onvif

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/gwanje/gwanje/camsim"
)

// BenchmarkCamsimReadDevice measures what registration reads from one
// camera with a fresh client: clock, identity, services, profiles, stream and
// snapshot URIs of every profile.
func BenchmarkCamsimReadDevice(b *testing.B) {
	for _, d := range camsim.Dialects {
		b.Run(string(d), func(b *testing.B) {
			cam, err := camsim.New(camsim.Config{Dialect: d, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			if err := cam.Start(ctx); err != nil {
				b.Fatal(err)
			}
			defer cam.Close()
			info := cam.Info()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				c, err := New(Config{Endpoint: cam.DeviceServiceURL(), Username: info.Username, Password: info.Password, Logger: slog.New(slog.DiscardHandler)})
				if err != nil {
					b.Fatal(err)
				}
				cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				if _, err := c.GetSystemDateAndTime(cctx); err != nil {
					b.Fatal(err)
				}
				if _, err := c.GetDeviceInformation(cctx); err != nil {
					b.Fatal(err)
				}
				ps, err := c.GetProfiles(cctx)
				if err != nil {
					b.Fatal(err)
				}
				for _, p := range ps {
					if _, err := c.GetStreamUri(cctx, p.Token); err != nil {
						b.Fatal(err)
					}
					if _, err := c.GetSnapshotUri(cctx, p.Token); err != nil {
						b.Fatal(err)
					}
				}
				cancel()
				c.Close()
			}
		})
	}
}

// BenchmarkCamsimDiscover probes a range in which simulated cameras answer;
// one op is one complete discovery of all of them. GWANJE_BENCH_CAMERAS sets
// the number of cameras (default 254 in a /24; up to 1022 in a /22).
func BenchmarkCamsimDiscover(b *testing.B) {
	count := 254
	if v, err := strconv.Atoi(os.Getenv("GWANJE_BENCH_CAMERAS")); err == nil && v > 0 && v <= 1022 {
		count = v
	}
	n := time.Now().Nanosecond()
	base := fmt.Sprintf("127.%d.%d", 100+n%100, 4*(1+(n/100)%60)) // a /22-aligned block in 127/8
	rng := base + ".0/22"
	port := func() int {
		for range 20 {
			if p := freePortB(base + ".1"); p > 0 {
				return p
			}
		}
		b.Fatal("no free port")
		return 0
	}
	ctx := context.Background()
	start := time.Now()
	fleet, err := camsim.StartFleet(ctx, camsim.FleetConfig{Count: count, BaseIP: base + ".1",
		HTTPPort: port(), RTSPPort: port(), DiscoveryPort: port(), Template: camsim.Config{Logger: slog.New(slog.DiscardHandler)}})
	if err != nil {
		b.Fatal(err)
	}
	defer fleet.Close()
	b.Logf("%d cameras started in %v", count, time.Since(start))
	dport := fleet.Cameras()[0].DiscoveryAddr().Port
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		found := 0
		err := Discover(dctx, DiscoveryConfig{Targets: []string{rng}, Port: dport, Rate: 2000, Wait: 10 * time.Second}, func(Discovered) {
			found++
			if found == count {
				cancel()
			}
		})
		cancel()
		if err != nil || found != count {
			b.Fatalf("found %d of %d: %v", found, count, err)
		}
	}
}
