package policy_test

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gwanje/gwanje/devices"
	"github.com/gwanje/gwanje/privacy/policy"
)

// chromium finds a Chromium (or Chrome) binary: $GWANJE_CHROMIUM, else the
// usual names on PATH.
func chromium() string {
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

func runChromium(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
		"--user-data-dir=" + t.TempDir()}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", bin, strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes()
}

// TestBrowserRendersPolicy renders /policy and /signage in headless Chromium
// and checks the screenshots. It needs the Debian packages chromium and
// fonts-noto-cjk (a Korean font) and skips, saying so, without them. With
// -update the screenshots are kept under testdata/browser.
func TestBrowserRendersPolicy(t *testing.T) {
	if testing.Short() {
		t.Skip("browser check skipped in -short mode")
	}
	bin := chromium()
	if bin == "" {
		t.Skip("chromium not installed (apt-get install -y chromium fonts-noto-cjk, or set GWANJE_CHROMIUM): browser check skipped")
	}
	if out, err := exec.Command("fc-list", ":lang=ko", "family").Output(); err != nil || len(bytes.TrimSpace(out)) == 0 {
		t.Skip("no Korean font installed (apt-get install -y fonts-noto-cjk): browser check skipped")
	}
	e := newEnv(t)
	inst, contracts := buildCity(e)
	svc := e.service(inst, contracts)
	if _, _, err := svc.Publish(e.ctx, e.actor, policy.PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(7 * 24 * time.Hour)
	// A revision announced (version 2, in force 7 days later): /policy shows
	// its notice, /policy/v/2 its 전·후 비교.
	c := e.cams["문학경기장-01"]
	if _, err := e.reg.Update(e.ctx, devices.UpdateRequest{ID: c.ID, Fields: devices.CameraFields{RetentionDays: 60,
		RetentionReason: "경기 일정에 따른 사고 조사 기간"}, Mask: []string{"retention_days", "retention_reason"}}, e.dev); err != nil {
		t.Fatal(err)
	}
	if _, created, err := svc.Publish(e.ctx, e.actor, policy.PublishOptions{}); err != nil || !created {
		t.Fatal(err, created)
	}
	srv := httptest.NewServer(svc.Handler())
	t.Cleanup(srv.Close)

	dom := string(runChromium(t, bin, "--dump-dom", srv.URL+"/policy"))
	checkEightItems(t, "browser DOM", dom)

	dir := t.TempDir()
	if *update {
		dir = filepath.Join("testdata", "browser")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, shot := range []struct{ name, path, size string }{
		{"policy.png", "/policy", "1000,2600"},
		{"signage.png", "/signage", "900,1400"},
		// the whole of version 2, cropped below to its end: 개정 연혁 and 전·후 비교
		{"compare.png", "/policy/v/2", "1000,8000"},
	} {
		file, err := filepath.Abs(filepath.Join(dir, shot.name))
		if err != nil {
			t.Fatal(err)
		}
		runChromium(t, bin, "--window-size="+shot.size, "--screenshot="+file, srv.URL+shot.path)
		f, err := os.Open(file)
		if err != nil {
			t.Fatalf("no screenshot: %v", err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatalf("screenshot %s: %v", shot.name, err)
		}
		if shot.name == "compare.png" {
			img = cropEnd(img, 1300)
			if err := writePNG(file, img); err != nil {
				t.Fatal(err)
			}
		}
		if ink := inkRatio(img); ink < 0.01 {
			t.Errorf("screenshot %s is nearly blank (%.3f of the pixels are ink)", shot.name, ink)
		}
		t.Logf("screenshot %s: %v, %.1f%% ink", file, img.Bounds().Size(), 100*inkRatio(img))
	}
}

// inkRatio is the share of pixels that are clearly not white.
func inkRatio(img image.Image) float64 {
	b := img.Bounds()
	ink, all := 0, 0
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bl, _ := img.At(x, y).RGBA()
			all++
			if r < 0xc000 || g < 0xc000 || bl < 0xc000 {
				ink++
			}
		}
	}
	if all == 0 {
		return 0
	}
	return float64(ink) / float64(all)
}

// cropEnd keeps the last height pixels of an image above its trailing white
// space.
func cropEnd(img image.Image, height int) image.Image {
	b := img.Bounds()
	last := b.Max.Y - 1
	for ; last > b.Min.Y; last-- {
		blank := true
		for x := b.Min.X; x < b.Max.X && blank; x++ {
			r, g, bl, _ := img.At(x, last).RGBA()
			blank = r >= 0xf000 && g >= 0xf000 && bl >= 0xf000
		}
		if !blank {
			break
		}
	}
	top := max(b.Min.Y, last+16-height)
	rect := image.Rect(b.Min.X, top, b.Max.X, min(b.Max.Y, last+16))
	out := image.NewRGBA(image.Rect(0, 0, rect.Dx(), rect.Dy()))
	for y := rect.Min.Y; y < rect.Max.Y; y++ {
		for x := rect.Min.X; x < rect.Max.X; x++ {
			out.Set(x-rect.Min.X, y-rect.Min.Y, img.At(x, y))
		}
	}
	return out
}

func writePNG(path string, img image.Image) error {
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}
