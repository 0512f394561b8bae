package export

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gwanje/gwanje/privacy/manifest"
	"github.com/gwanje/gwanje/stream/record"
)

// ErrFFmpegNotFound: no usable ffmpeg (with the libx264 encoder) was found,
// so masked exports cannot be made on this server.
var ErrFFmpegNotFound = errors.New("export: ffmpeg with the libx264 encoder was not found (install it: apt-get install ffmpeg)")

// FFmpegMasker burns masks in with the ffmpeg binary: every mask becomes an
// opaque black drawbox filter enabled over its time range, and the video is
// re-encoded as H.264 (libx264, yuv420p, same resolution and frame timing,
// no audio) into a progressive MP4 (moov before mdat).
//
// Make one with NewFFmpegMasker or DetectFFmpeg; the zero value is not
// usable. It is safe for concurrent use.
type FFmpegMasker struct {
	// Path is the ffmpeg binary.
	Path string
	// CRF is libx264's constant rate factor. Default 20 (visually near
	// lossless for surveillance footage).
	CRF int
	// Preset is libx264's preset. Default "veryfast".
	Preset string
	// Threads bounds ffmpeg's threads; 0 lets ffmpeg choose (all cores).
	Threads int
	// Pad widens every mask's time window on both sides, so a mask is never
	// shorter than asked: frame times in the file are presentation times,
	// which run behind the footage (decode-order) times by the reorder
	// delay when the camera sends B-frames. Default 200ms; negative: none.
	Pad time.Duration
	// StderrLimit bounds the ffmpeg diagnostics kept for the error.
	// Default 4 KiB (the last bytes are kept).
	StderrLimit int
	// OnExit, when set, is called after every ffmpeg run (success or not)
	// with its process state: CPU time and, via SysUsage, peak RSS. For
	// metrics and benchmarks.
	OnExit func(*os.ProcessState)

	fpsMode bool // ffmpeg knows -fps_mode (5.1+); else -vsync
}

// DefaultMaskPad is FFmpegMasker.Pad's default.
const DefaultMaskPad = 200 * time.Millisecond

// NewFFmpegMasker checks that the ffmpeg binary at path (or, when path is
// empty, "ffmpeg" on PATH) runs and has the libx264 encoder. It fails with
// an error wrapping ErrFFmpegNotFound when it does not.
func NewFFmpegMasker(ctx context.Context, path string) (*FFmpegMasker, error) {
	if path == "" {
		path = "ffmpeg"
	}
	bin, err := exec.LookPath(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFFmpegNotFound, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	enc, err := exec.CommandContext(ctx, bin, "-hide_banner", "-nostdin", "-encoders").Output()
	if err != nil {
		return nil, fmt.Errorf("%w: %s -encoders: %v", ErrFFmpegNotFound, bin, err)
	}
	if !bytes.Contains(enc, []byte(" libx264 ")) {
		return nil, fmt.Errorf("%w: %s has no libx264 encoder", ErrFFmpegNotFound, bin)
	}
	help, _ := exec.CommandContext(ctx, bin, "-hide_banner", "-nostdin", "-h", "long").Output()
	return &FFmpegMasker{Path: bin, fpsMode: bytes.Contains(help, []byte("-fps_mode"))}, nil
}

// DetectFFmpeg is what gwanjed calls at startup: it returns a Masker for
// Config.Masker backed by the ffmpeg at path (empty: "ffmpeg" on PATH), or
// a nil Masker and an error wrapping ErrFFmpegNotFound (masked exports are
// then refused with ErrMaskingUnavailable; the rest keeps working).
func DetectFFmpeg(path string) (Masker, error) {
	m, err := NewFFmpegMasker(context.Background(), path)
	if err != nil {
		return nil, err // an untyped nil: Config.Masker stays unset
	}
	return m, nil
}

// OutputCodec is the codec of the files Burn writes.
func (f *FFmpegMasker) OutputCodec() string { return record.CodecH264 }

// Burn implements Masker: it reads the MP4 in, burns masks in (origin is
// the footage time of in's first frame) and writes the progressive MP4
// out. On any failure, or when ctx ends (ffmpeg is killed), out is
// removed and the error carries the end of ffmpeg's diagnostics, with the
// file paths replaced by "<input>" and "<output>".
func (f *FFmpegMasker) Burn(ctx context.Context, in, out string, masks []manifest.Mask, origin time.Time) (err error) {
	if f == nil || f.Path == "" {
		return fmt.Errorf("%w: FFmpegMasker has no ffmpeg path (use NewFFmpegMasker)", ErrFFmpegNotFound)
	}
	if err := ValidateMasks(masks); err != nil {
		return err
	}
	pad := f.Pad
	if pad == 0 {
		pad = DefaultMaskPad
	} else if pad < 0 {
		pad = 0
	}
	crf, preset := f.CRF, f.Preset
	if crf <= 0 {
		crf = 20
	}
	if preset == "" {
		preset = "veryfast"
	}
	limit := f.StderrLimit
	if limit <= 0 {
		limit = 4 << 10
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("ffmpeg: %w", err)
	}
	defer func() {
		if err != nil {
			os.Remove(out)
		}
	}()

	args := []string{"-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", "-y",
		"-i", "file:" + in, "-map", "0:v:0", "-an", "-sn", "-dn", "-map_metadata", "-1",
		"-vf", DrawboxFilter(masks, origin, pad),
		"-c:v", "libx264", "-preset", preset, "-crf", strconv.Itoa(crf), "-pix_fmt", "yuv420p"}
	if f.Threads > 0 {
		args = append(args, "-threads", strconv.Itoa(f.Threads))
	}
	if f.fpsMode {
		args = append(args, "-fps_mode", "passthrough")
	} else {
		args = append(args, "-vsync", "passthrough")
	}
	args = append(args, "-video_track_timescale", strconv.Itoa(record.Timescale),
		"-movflags", "+faststart", "-f", "mp4", "file:"+out)

	stderr := &tailBuffer{limit: limit}
	cmd := exec.CommandContext(ctx, f.Path, args...)
	cmd.Stdin = nil
	cmd.Stdout = nil
	cmd.Stderr = stderr
	cmd.Env = ffmpegEnv()
	cmd.WaitDelay = 5 * time.Second
	runErr := cmd.Run()
	if f.OnExit != nil && cmd.ProcessState != nil {
		f.OnExit(cmd.ProcessState)
	}
	if runErr != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return fmt.Errorf("ffmpeg: %w", ctxErr)
		}
		msg := stderr.String()
		for _, p := range []struct{ path, name string }{{in, "<input>"}, {out, "<output>"}} {
			msg = strings.ReplaceAll(msg, "file:"+p.path, p.name)
			msg = strings.ReplaceAll(msg, p.path, p.name)
		}
		msg = strings.TrimSpace(msg)
		if msg == "" {
			msg = "(no diagnostics)"
		}
		return fmt.Errorf("ffmpeg: %w: %s", runErr, msg)
	}
	// ffmpeg does not fsync: make the file durable before it is hashed,
	// signed and renamed into place.
	fh, err := os.OpenFile(out, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("ffmpeg: output: %w", err)
	}
	if err := fh.Chmod(0o600); err != nil {
		fh.Close()
		return fmt.Errorf("ffmpeg: output: %w", err)
	}
	if err := fh.Sync(); err != nil {
		fh.Close()
		return fmt.Errorf("ffmpeg: output: %w", err)
	}
	if err := fh.Close(); err != nil {
		return fmt.Errorf("ffmpeg: output: %w", err)
	}
	return nil
}

// DrawboxFilter is the ffmpeg filter graph Burn uses: one opaque black
// drawbox per mask, enabled while the frame's time t (seconds from the
// file's first frame, whose footage time is origin) is within the mask's
// [From-pad, To+pad]. Rectangles are rounded outwards to whole pixels.
// Masks wholly outside the file's time (t < 0) are left out; with none
// left the graph is "null" (the video is still re-encoded).
func DrawboxFilter(masks []manifest.Mask, origin time.Time, pad time.Duration) string {
	var parts []string
	for _, m := range masks {
		a := m.From.Sub(origin) - pad
		b := m.To.Sub(origin) + pad
		if b < 0 {
			continue
		}
		if a < 0 {
			a = 0
		}
		// Outward rounding: floor the left/top edge, ceil the right/bottom
		// edge, at least one pixel.
		x := "floor(iw*" + num(m.X) + ")"
		y := "floor(ih*" + num(m.Y) + ")"
		w := "max(1,ceil(iw*" + num(math.Min(1, m.X+m.W)) + ")-" + x + ")"
		h := "max(1,ceil(ih*" + num(math.Min(1, m.Y+m.H)) + ")-" + y + ")"
		parts = append(parts, fmt.Sprintf("drawbox=x='%s':y='%s':w='%s':h='%s':color=black@1:t=fill:enable='between(t,%s,%s)'",
			x, y, w, h, num(a.Seconds()), num(b.Seconds())))
	}
	if len(parts) == 0 {
		return "null"
	}
	return strings.Join(parts, ",")
}

func num(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// ffmpegEnv is the environment without the variables that make ffmpeg
// write report files or change its logging.
func ffmpegEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "FFREPORT=") || strings.HasPrefix(kv, "AV_LOG_FORCE_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// tailBuffer keeps the last limit bytes written to it.
type tailBuffer struct {
	mu    sync.Mutex
	limit int
	buf   []byte
	cut   bool
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(p)
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.limit; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
		t.cut = true
	}
	return n, nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cut {
		return "…" + string(t.buf)
	}
	return string(t.buf)
}
