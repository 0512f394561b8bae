package export_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gwanje/gwanje/privacy/export"
	"github.com/gwanje/gwanje/privacy/manifest"
	"github.com/gwanje/gwanje/stream/record"
)

// needFFmpeg returns the masker, or skips the test when ffmpeg (with
// libx264) and ffprobe are not installed.
func needFFmpeg(t testing.TB) *export.FFmpegMasker {
	t.Helper()
	m, err := export.NewFFmpegMasker(context.Background(), "")
	if errors.Is(err, export.ErrFFmpegNotFound) {
		t.Skipf("skipped: masking needs ffmpeg with libx264; install the Debian package: apt-get install ffmpeg (%v)", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("ffprobe"); err != nil {
		t.Skipf("skipped: ffprobe not found; install the Debian package: apt-get install ffmpeg (%v)", err)
	}
	return m
}

func TestDrawboxFilter(t *testing.T) {
	o := time.Date(2026, 5, 18, 9, 0, 10, 0, record.KST)
	box := func(x, y, x2, y2, a, b string) string {
		return "drawbox=x='floor(iw*" + x + ")':y='floor(ih*" + y + ")':w='max(1,ceil(iw*" + x2 + ")-floor(iw*" + x +
			"))':h='max(1,ceil(ih*" + y2 + ")-floor(ih*" + y + "))':color=black@1:t=fill:enable='between(t," + a + "," + b + ")'"
	}
	for _, tc := range []struct {
		name  string
		masks []manifest.Mask
		pad   time.Duration
		want  string
	}{
		{"inside", []manifest.Mask{{X: 0.25, Y: 0.5, W: 0.5, H: 0.25, From: o.Add(5 * time.Second), To: o.Add(10 * time.Second)}},
			0, box("0.25", "0.5", "0.75", "0.75", "5", "10")},
		{"padded", []manifest.Mask{{X: 0, Y: 0, W: 1, H: 1, From: o.Add(5 * time.Second), To: o.Add(10 * time.Second)}},
			200 * time.Millisecond, box("0", "0", "1", "1", "4.8", "10.2")},
		{"starts before the file", []manifest.Mask{{X: 0.1, Y: 0.1, W: 0.2, H: 0.2, From: o.Add(-time.Minute), To: o.Add(1500 * time.Millisecond)}},
			0, box("0.1", "0.1", "0.30000000000000004", "0.30000000000000004", "0", "1.5")},
		{"ends before the file", []manifest.Mask{{X: 0.1, Y: 0.1, W: 0.2, H: 0.2, From: o.Add(-time.Minute), To: o.Add(-time.Second)}},
			0, "null"},
		{"two", []manifest.Mask{
			{X: 0, Y: 0, W: 0.5, H: 0.5, From: o, To: o.Add(time.Second)},
			{X: 0.5, Y: 0.5, W: 0.5, H: 0.5, From: o.Add(2 * time.Second), To: o.Add(3 * time.Second)}},
			0, box("0", "0", "0.5", "0.5", "0", "1") + "," + box("0.5", "0.5", "1", "1", "2", "3")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := export.DrawboxFilter(tc.masks, o, tc.pad); got != tc.want {
				t.Fatalf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestDetectFFmpegMissing(t *testing.T) {
	for _, tc := range []struct{ name, path string }{
		{"no such file", filepath.Join(t.TempDir(), "ffmpeg")},
		{"not ffmpeg", "/bin/true"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := export.DetectFFmpeg(tc.path)
			if !errors.Is(err, export.ErrFFmpegNotFound) || m != nil {
				t.Fatalf("DetectFFmpeg(%q) = %v, %v", tc.path, m, err)
			}
			if !strings.Contains(err.Error(), "apt-get install ffmpeg") {
				t.Fatalf("error does not say what to install: %v", err)
			}
		})
	}
}

// probe is what ffprobe says about an exported file.
type probe struct {
	Streams []struct {
		CodecName    string `json:"codec_name"`
		CodecType    string `json:"codec_type"`
		Width        int    `json:"width"`
		Height       int    `json:"height"`
		PixFmt       string `json:"pix_fmt"`
		NbReadFrames string `json:"nb_read_frames"`
	} `json:"streams"`
	Format struct {
		FormatName string `json:"format_name"`
		Duration   string `json:"duration"`
	} `json:"format"`
}

func ffprobe(t *testing.T, path string) probe {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-show_streams", "-show_format", "-of", "json", path).Output()
	if err != nil {
		t.Fatalf("ffprobe: %v", err)
	}
	var p probe
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// grayFrame decodes the frame at at seconds into 8-bit luma (w×h).
func grayFrame(t *testing.T, path string, at float64, w, h int) []byte {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command("ffmpeg", "-v", "error", "-nostdin", "-ss", strconv.FormatFloat(at, 'f', 3, 64), "-i", path,
		"-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "gray", "-")
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil || len(b) != w*h {
		t.Fatalf("decoding the frame at %.3fs: %v (%d bytes) %s", at, err, len(b), stderr.String())
	}
	return b
}

// region is a rectangle of pixels [x0,x1)×[y0,y1).
type region struct{ x0, y0, x1, y1 int }

// stats are the brightest pixel and the share of pixels at least 40 (of
// 255) in r: black is 0 (limited-range Y 16), the clip's darkest colour
// bar (blue) about 30.
func stats(pix []byte, w int, r region) (max byte, bright float64) {
	n, lit := 0, 0
	for y := r.y0; y < r.y1; y++ {
		for x := r.x0; x < r.x1; x++ {
			p := pix[y*w+x]
			if p > max {
				max = p
			}
			if p >= 40 {
				lit++
			}
			n++
		}
	}
	return max, float64(lit) / float64(n)
}

// TestMaskedExport exports camsim footage (through the record store) with
// a mask over the middle of the frame for 5 s of a 20 s range, and checks
// the file is a standard H.264 MP4 of the same frames, verifies against
// its manifest (which lists the mask), and is black in the rectangle
// while the mask is on, and only there and then.
func TestMaskedExport(t *testing.T) {
	masker := needFFmpeg(t)
	st := newStore(t)
	t0 := time.Date(2026, 5, 18, 9, 0, 0, 0, record.KST)
	recordSynthetic(t, st, "cam-m", t0, time.Minute, 1_000_000)
	dataDir := t.TempDir()
	x, err := export.New(export.Config{Store: st, DataDir: dataDir, Masker: masker})
	if err != nil {
		t.Fatal(err)
	}
	if !x.MaskingAvailable() {
		t.Fatal("masking not available with a masker")
	}
	ctx := context.Background()
	from, to := t0.Add(10*time.Second), t0.Add(30*time.Second)
	const w, h = 640, 360                            // camsim's main clip
	mid := region{160 + 4, 90 + 4, 480 - 4, 270 - 4} // inside the mask, 4 px in from its edges
	right := region{490, 20, 640, 340}               // outside it

	plain, err := x.Export(ctx, export.Job{CameraID: "cam-m", From: from, To: to})
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name   string
		form   string
		mask   manifest.Mask
		frames int
		dur    float64
		black  []float64 // frame times (s) with the mask on
		clear  []float64 // frame times (s) with the mask off
	}{
		{name: "video", form: export.FormVideo,
			mask:   manifest.Mask{X: 0.25, Y: 0.25, W: 0.5, H: 0.5, From: from.Add(5 * time.Second), To: from.Add(10 * time.Second), Reason: "bystander"},
			frames: 500, dur: 20,
			black: []float64{5.3, 7, 9.7}, clear: []float64{0, 3, 4.6, 10.4, 12, 19.9}},
		{name: "still", form: export.FormStill,
			mask:   manifest.Mask{X: 0.25, Y: 0.25, W: 0.5, H: 0.5, From: from, To: to},
			frames: 1, dur: 0.04, black: []float64{0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := x.Export(ctx, export.Job{CameraID: "cam-m", From: from, To: to, Form: tc.form, Masks: []manifest.Mask{tc.mask},
				Reference: "PRV-1", RequestedBy: "kim", ApprovedBy: "lee"})
			if err != nil {
				t.Fatal(err)
			}
			// Only the masked file and its manifest are left in the
			// export directory (no intermediate, no spool).
			var names []string
			ents, _ := os.ReadDir(x.Dir())
			for _, e := range ents {
				if !strings.HasPrefix(e.Name(), plain.ID+".") {
					names = append(names, e.Name())
				}
			}
			if want := []string{res.ID + ".manifest.json", res.ID + ".mp4"}; strings.Join(names, " ") != strings.Join(want, " ") {
				t.Fatalf("export dir: %v, want %v", names, want)
			}

			// (1) A standard H.264 MP4 of the same frames.
			p := ffprobe(t, res.Path)
			if len(p.Streams) != 1 {
				t.Fatalf("streams: %+v", p.Streams)
			}
			s := p.Streams[0]
			d, _ := strconv.ParseFloat(p.Format.Duration, 64)
			if s.CodecName != "h264" || s.CodecType != "video" || s.Width != w || s.Height != h || s.PixFmt != "yuv420p" ||
				!strings.Contains(p.Format.FormatName, "mp4") || s.NbReadFrames != strconv.Itoa(tc.frames) ||
				d < tc.dur-0.05 || d > tc.dur+0.05 {
				t.Fatalf("ffprobe: %+v %+v", s, p.Format)
			}
			head, _ := os.ReadFile(res.Path)
			if moov, mdat := bytes.Index(head, []byte("moov")), bytes.Index(head, []byte("mdat")); moov < 0 || mdat < 0 || moov > mdat {
				t.Fatalf("not progressive: moov at %d, mdat at %d", moov, mdat)
			}

			// (2) It verifies against its signed manifest, which lists the
			// mask; a changed byte does not.
			m, err := manifest.VerifyFiles(res.Path, res.ManifestPath, filepath.Join(dataDir, "export-signing.pem.pub"))
			if err != nil {
				t.Fatal(err)
			}
			md, _ := os.ReadFile(res.ManifestPath)
			f, _ := os.Open(res.Path)
			_, err = manifest.Verify(f, md, x.PublicKey())
			f.Close()
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Masks) != 1 || !m.Masks[0].From.Equal(tc.mask.From) || !m.Masks[0].To.Equal(tc.mask.To) ||
				m.Masks[0].X != tc.mask.X || m.Masks[0].W != tc.mask.W || m.Masks[0].Reason != tc.mask.Reason ||
				m.Frames != tc.frames || m.Codec != record.CodecH264 || m.File.Size != res.Size {
				t.Fatalf("manifest: %+v", m)
			}
			if tc.form == export.FormVideo && m.File.SHA256 == plain.Manifest.File.SHA256 {
				t.Fatal("the masked file is the unmasked one")
			}
			changed := append([]byte(nil), head...)
			changed[len(changed)/2] ^= 1
			if _, err := manifest.Verify(bytes.NewReader(changed), md, x.PublicKey()); !errors.Is(err, manifest.ErrVerify) {
				t.Fatalf("changed byte: %v", err)
			}

			// (3) Really masked: black in the rectangle while the mask is
			// on; the rest of the frame, and the rectangle at other
			// times (and in the unmasked export), show the picture.
			for _, at := range tc.black {
				pix := grayFrame(t, res.Path, at, w, h)
				if mx, _ := stats(pix, w, mid); mx > 24 {
					t.Errorf("t=%.1fs: the masked rectangle is not black (brightest %d)", at, mx)
				}
				if _, lit := stats(pix, w, right); lit < 0.5 {
					t.Errorf("t=%.1fs: outside the rectangle is dark (%.0f%% lit)", at, lit*100)
				}
				if _, lit := stats(grayFrame(t, plain.Path, at, w, h), w, mid); lit < 0.5 {
					t.Errorf("t=%.1fs: the unmasked export is dark in the rectangle (%.0f%% lit): the check proves nothing", at, lit*100)
				}
			}
			for _, at := range tc.clear {
				pix := grayFrame(t, res.Path, at, w, h)
				if _, lit := stats(pix, w, mid); lit < 0.5 {
					t.Errorf("t=%.1fs: the rectangle is dark outside the mask's time (%.0f%% lit)", at, lit*100)
				}
			}
			if err := x.Remove(res.ID); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// fakeMasker records its call and fails after writing part of out.
type fakeMasker struct {
	origin  time.Time
	inSeen  bool
	in, out string
	err     error
}

func (f *fakeMasker) Burn(_ context.Context, in, out string, _ []manifest.Mask, origin time.Time) error {
	f.in, f.out, f.origin = in, out, origin
	_, err := os.Stat(in)
	f.inSeen = err == nil
	if err := os.WriteFile(out, []byte("partial"), 0o600); err != nil {
		return err
	}
	return f.err
}

// TestExportMaskerFailure: when the masker fails nothing is left behind
// (neither the unmasked intermediate nor a partial file nor a manifest);
// the masker is handed the unmasked file and the first frame's time.
func TestExportMaskerFailure(t *testing.T) {
	st := newStore(t)
	t0 := time.Date(2026, 5, 18, 9, 0, 0, 0, record.KST)
	recordSynthetic(t, st, "cam-f", t0, time.Minute, 500_000)
	fm := &fakeMasker{err: errors.New("boom")}
	x, err := export.New(export.Config{Store: st, DataDir: t.TempDir(), Masker: fm})
	if err != nil {
		t.Fatal(err)
	}
	from := t0.Add(10*time.Second + 10*time.Millisecond) // the file starts at the next keyframe
	_, err = x.Export(context.Background(), export.Job{CameraID: "cam-f", From: from, To: t0.Add(20 * time.Second),
		Masks: []manifest.Mask{{X: 0, Y: 0, W: 1, H: 1, From: from, To: t0.Add(20 * time.Second)}}})
	if err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("export: %v", err)
	}
	if !fm.inSeen || fm.in == fm.out || fm.origin.Before(from) || !fm.origin.Before(from.Add(time.Second)) {
		t.Fatalf("masker call: %+v", fm)
	}
	ents, _ := os.ReadDir(x.Dir())
	if len(ents) != 0 {
		t.Fatalf("left behind: %v", ents)
	}
}

// TestFFmpegMaskerFailures: ffmpeg errors carry its diagnostics without
// the paths; a cancelled context kills ffmpeg; no output is left behind.
func TestFFmpegMaskerFailures(t *testing.T) {
	masker := needFFmpeg(t)
	o := time.Date(2026, 5, 18, 9, 0, 0, 0, record.KST)
	masks := []manifest.Mask{{X: 0, Y: 0, W: 0.5, H: 0.5, From: o, To: o.Add(time.Second)}}
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, in, out string) error
		is   error
	}{
		{name: "not a video", run: func(t *testing.T, in, out string) error {
			if err := os.WriteFile(in, bytes.Repeat([]byte("not a video "), 100), 0o600); err != nil {
				t.Fatal(err)
			}
			return masker.Burn(context.Background(), in, out, masks, o)
		}},
		{name: "bad mask", is: export.ErrInvalid, run: func(t *testing.T, in, out string) error {
			return masker.Burn(context.Background(), in, out, []manifest.Mask{{X: 0.5, Y: 0, W: 0.6, H: 1, From: o, To: o.Add(time.Second)}}, o)
		}},
		{name: "cancelled before", is: context.Canceled, run: func(t *testing.T, in, out string) error {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return masker.Burn(ctx, in, out, masks, o)
		}},
		{name: "cancelled while running", is: context.Canceled, run: func(t *testing.T, in, out string) error {
			// ffmpeg reads a FIFO that never delivers a video: it is
			// known to run once our write end opens, then it is killed.
			if err := syscall.Mkfifo(in, 0o600); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- masker.Burn(ctx, in, out, masks, o) }()
			opened := make(chan *os.File, 1)
			go func() {
				w, err := os.OpenFile(in, os.O_WRONLY, 0)
				if err != nil {
					close(opened)
					return
				}
				opened <- w
			}()
			select {
			case w, ok := <-opened:
				if !ok {
					t.Fatal("opening the FIFO failed")
				}
				defer w.Close()
				if _, err := w.Write([]byte{0, 0, 0, 1}); err != nil {
					t.Fatal(err)
				}
				cancel()
				return <-done
			case err := <-done:
				// ffmpeg ended without opening the FIFO: unblock the opener.
				if r, oerr := os.OpenFile(in, os.O_RDONLY|syscall.O_NONBLOCK, 0); oerr == nil {
					if w, ok := <-opened; ok {
						w.Close()
					}
					r.Close()
				}
				t.Fatalf("ffmpeg ended before reading its input: %v", err)
				return nil
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			in, out := filepath.Join(dir, "secret-case-0042.in.mp4"), filepath.Join(dir, "secret-case-0042.out.mp4")
			err := tc.run(t, in, out)
			if err == nil || (tc.is != nil && !errors.Is(err, tc.is)) {
				t.Fatalf("Burn: %v, want %v", err, tc.is)
			}
			if strings.Contains(err.Error(), "secret-case") || strings.Contains(err.Error(), dir) {
				t.Fatalf("the error names the paths: %v", err)
			}
			if tc.is == nil && !strings.Contains(err.Error(), "<input>") {
				t.Fatalf("no ffmpeg diagnostics in the error: %v", err)
			}
			if _, serr := os.Stat(out); !errors.Is(serr, os.ErrNotExist) {
				t.Fatalf("output left behind (%v) after %v", serr, err)
			}
		})
	}
}
