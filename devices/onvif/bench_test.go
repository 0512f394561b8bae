package onvif

import (
	"context"
	"fmt"
	"log/slog"
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

// BenchmarkCamsimDiscover254 probes a /24 in which 254 simulated cameras
// answer; one op is one complete discovery of all of them.
func BenchmarkCamsimDiscover254(b *testing.B) {
	const count = 254
	sub := fmt.Sprintf("127.%d.%d", 100+(time.Now().Nanosecond()%100), 1+(time.Now().Nanosecond()/100)%250)
	port := func() int {
		for range 20 {
			if p := freePortB(sub + ".1"); p > 0 {
				return p
			}
		}
		b.Fatal("no free port")
		return 0
	}
	ctx := context.Background()
	fleet, err := camsim.StartFleet(ctx, camsim.FleetConfig{Count: count, BaseIP: sub + ".1",
		HTTPPort: port(), RTSPPort: port(), DiscoveryPort: port(), Template: camsim.Config{Logger: slog.New(slog.DiscardHandler)}})
	if err != nil {
		b.Fatal(err)
	}
	defer fleet.Close()
	dport := fleet.Cameras()[0].DiscoveryAddr().Port
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		n := 0
		err := Discover(dctx, DiscoveryConfig{Targets: []string{sub + ".0/24"}, Port: dport, Rate: 2000, Wait: 10 * time.Second}, func(Discovered) {
			n++
			if n == count {
				cancel()
			}
		})
		cancel()
		if err != nil || n != count {
			b.Fatalf("found %d of %d: %v", n, count, err)
		}
	}
}
