package devices

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gwanje/gwanje/camsim"
)

// BenchmarkDiscoverRegister1000 discovers 1,000 simulated cameras (unicast
// probes on 127.0.0.1, random ports, every dialect) and registers them all
// with a bounded worker pool. Run with -benchtime=1x:
//
//	go test ./devices/ -run '^$' -bench DiscoverRegister1000 -benchtime=1x
func BenchmarkDiscoverRegister1000(b *testing.B) {
	const n, workers = 1000, 32
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx := context.Background()
	t0 := time.Now()
	fleet, err := camsim.StartFleet(ctx, camsim.FleetConfig{Count: n, PTZEvery: 10, Template: camsim.Config{Logger: quiet}})
	if err != nil {
		b.Fatal(err)
	}
	defer fleet.Close()
	b.Logf("fleet of %d cameras started in %v", n, time.Since(t0).Round(time.Millisecond))
	var targets []string
	for _, c := range fleet.Cameras() {
		targets = append(targets, c.DiscoveryAddr().String())
	}
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		e := newEnvTB(b, func(c *Config) {
			c.Logger = quiet
			c.DiscoveryRate = 5000
			c.DiscoveryWait = time.Second
			c.CallTimeout = 20 * time.Second
			c.RTSPTimeout = 20 * time.Second
			c.RegisterTimeout = time.Minute
		})
		site := e.site("bench")
		b.StartTimer()
		start := time.Now()
		var cands []Candidate
		if err := e.reg.Discover(ctx, DiscoverRequest{Targets: targets}, func(c Candidate) {
			cands = append(cands, c)
		}); err != nil {
			b.Fatal(err)
		}
		discovered := time.Since(start)
		if len(cands) != n {
			b.Fatalf("discovered %d of %d", len(cands), n)
		}
		regStart := time.Now()
		reqs := make([]RegisterRequest, len(cands))
		for j := range cands {
			reqs[j] = RegisterRequest{Candidate: &cands[j], Username: "admin", Password: "camsim",
				Fields: fields(site, fmt.Sprintf("cam %04d", j))}
		}
		var failed atomic.Int64
		var firstErr atomic.Value
		e.reg.RegisterAll(ctx, reqs, workers, e.actor, func(o RegisterOutcome) {
			if o.Err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, o.Err.Error())
			}
		})
		registered := time.Since(regStart)
		total := time.Since(start)
		if f := failed.Load(); f > 0 {
			b.Fatalf("%d registrations failed, first: %v", f, firstErr.Load())
		}
		if got := e.count(`select count(*) from devices_cameras`); got != n {
			b.Fatalf("%d cameras stored", got)
		}
		b.ReportMetric(discovered.Seconds(), "s-discover")
		b.ReportMetric(registered.Seconds(), "s-register")
		b.ReportMetric(total.Seconds(), "s-total")
		b.ReportMetric(float64(n)/registered.Seconds(), "registrations/s")
		b.Logf("discovered %d cameras in %v (wait %v included), registered them with %d workers in %v (%.0f/s), total %v",
			n, discovered.Round(time.Millisecond), e.reg.cfg.DiscoveryWait, workers, registered.Round(time.Millisecond),
			float64(n)/registered.Seconds(), total.Round(time.Millisecond))
	}
}

// genOpenData writes n rows of the standard, spread over every national purpose.
func genOpenData(n int) []byte {
	var b bytes.Buffer
	b.WriteString(header)
	for i := 0; i < n; i++ {
		p := NationalPurposes[i%len(NationalPurposes)]
		fmt.Fprintf(&b, "3000000,2026%014d,서울특별시 종로구청,\"서울특별시 종로구 북촌로 %d, %d\",,%s,%d,200,360도 전방면,%d,2020%02d,02-2148-3033,%.5f,%.5f,2026-05-18,,2026-05-19 22:58:23,2026-05-18 15:24:18\n",
			i, i%500+1, i%7, p, i%4+1, []int{7, 14, 30, 60, 90}[i%5], i%12+1, 37.0+float64(i%1000)/10000, 126.0+float64(i%997)/10000)
	}
	return b.Bytes()
}

// BenchmarkImportOpenData100k parses, validates and imports a generated
// 100,000-row 전국CCTV표준데이터 CSV (250,000 cameras) in one transaction.
//
//	go test ./devices/ -run '^$' -bench ImportOpenData100k -benchtime=1x
func BenchmarkImportOpenData100k(b *testing.B) {
	const n = 100000
	data := genOpenData(n)
	b.SetBytes(int64(len(data)))
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		e := newEnvTB(b, func(c *Config) { c.Logger = quiet })
		b.StartTimer()
		t0 := time.Now()
		rows, bad, err := ParseOpenData(bytes.NewReader(data), ParseOptions{})
		if err != nil || len(bad) != 0 || len(rows) != n {
			b.Fatalf("parse: %d %v %v", len(rows), bad, err)
		}
		parsed := time.Since(t0)
		t1 := time.Now()
		res, err := e.reg.ImportOpenData(context.Background(), bytes.NewReader(data), ImportOptions{}, e.actor)
		if err != nil || res.Rows != n {
			b.Fatalf("import: %+v %v", res, err)
		}
		imported := time.Since(t1)
		b.ReportMetric(parsed.Seconds(), "s-parse")
		b.ReportMetric(imported.Seconds(), "s-import")
		b.ReportMetric(float64(n)/imported.Seconds(), "rows/s")
		b.Logf("%d rows (%.1f MB, %d cameras): parse+validate %v, import (parse, validate, collision check, COPY, audit, commit) %v = %.0f rows/s",
			n, float64(len(data))/1e6, res.Cameras, parsed.Round(time.Millisecond), imported.Round(time.Millisecond), float64(n)/imported.Seconds())
		// CP949 parse of the same file.
		var cp bytes.Buffer
		if err := WriteOpenData(&cp, rows, EncodingCP949); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		if rows2, bad2, err := ParseOpenData(&cp, ParseOptions{}); err != nil || len(bad2) != 0 || len(rows2) != n {
			b.Fatalf("CP949: %d %v", len(rows2), err)
		}
		b.Logf("CP949 auto-detected parse of the same rows: %v", time.Since(t2).Round(time.Millisecond))
	}
	_ = strings.TrimSpace
}
