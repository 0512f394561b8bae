// Package browsertest starts a real headless Chromium (Debian's chromium
// package) for tests and benchmarks and hands back a chromedp context that
// drives it. One launcher for every browser test: WHEP live view, playback,
// the console.
//
//	ctx := browsertest.Start(t)
//	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil { t.Fatal(err) }
//	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`1 + 2`))
//
// The browser is closed, and its fresh profile directory removed, when the
// test ends. Without a Chromium binary Start skips the test, saying what to
// install; .ci/run installs it so CI never skips.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"testing"

	"github.com/chromedp/chromedp"
)

// Flags are the command-line switches every browser gets: headless, no
// sandbox (tests run as root in containers), nothing that reaches the
// network on its own, and WebRTC that works on loopback (host candidates
// on 127.0.0.1, no mDNS obfuscation) with media that plays without a user
// gesture.
var Flags = []string{
	"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
	"--disable-background-networking", "--disable-component-update", "--disable-sync",
	"--allow-loopback-in-peer-connection",
	"--disable-features=WebRtcHideLocalIpsWithMdns",
	"--autoplay-policy=no-user-gesture-required",
	"--hide-scrollbars",
}

// Binary finds a Chromium (or Chrome) binary: $GWANJE_CHROMIUM, else the
// usual names on PATH; "" when there is none.
func Binary() string {
	if p := os.Getenv("GWANJE_CHROMIUM"); p != "" {
		return p
	}
	for _, n := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	return ""
}

// Start starts a headless Chromium with Flags and a fresh --user-data-dir
// and returns a context for chromedp.Run / chromedp.Do on its first tab
// (chromedp.NewContext(ctx) opens more tabs of the same browser). extra switches
// ("--window-size=1280,720") are added to Flags. The browser closes when
// the test ends. Without a binary the test is skipped, saying so.
func Start(t testing.TB, extra ...string) context.Context {
	t.Helper()
	bin := Binary()
	if bin == "" {
		t.Skip("chromium not installed (apt-get install -y chromium, or set GWANJE_CHROMIUM): browser test skipped")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.NoDefaultBrowserCheck,
		chromedp.ExecPath(bin),
		chromedp.UserDataDir(t.TempDir()),
	}
	for _, f := range append(append([]string(nil), Flags...), extra...) {
		name, value := splitFlag(f)
		if value == "" {
			opts = append(opts, chromedp.Flag(name, true))
		} else {
			opts = append(opts, chromedp.Flag(name, value))
		}
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	// Start the browser now, so that a broken binary fails here, clearly.
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		cancelAlloc()
		t.Fatalf("browsertest: starting %s: %v", bin, err)
	}
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	return ctx
}

// splitFlag turns "--name=value" into ("name", "value") and "--name" into
// ("name", "").
func splitFlag(f string) (string, string) {
	for len(f) > 0 && f[0] == '-' {
		f = f[1:]
	}
	for i := 0; i < len(f); i++ {
		if f[i] == '=' {
			return f[:i], f[i+1:]
		}
	}
	return f, ""
}
