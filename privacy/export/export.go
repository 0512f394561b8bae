// Package export makes the files that leave the center (반출): it reads a
// camera's footage for a time range from the record store (every segment
// decrypted and its SHA-256 verified against the index while read), writes
// a standard progressive MP4 (ftyp, moov with the sample tables, then one
// mdat: it plays in common players and starts at once when streamed),
// burns in masks when a Masker is configured, and signs a manifest
// (package privacy/manifest) with the export key from the data dir.
//
// Masks. Burning masks in needs decoding and re-encoding the H.264: pure
// Go cannot, so Config.Masker does it (FFmpegMasker runs ffmpeg's drawbox
// with libx264). Without a Masker, an export that asks for masks is
// refused with ErrMaskingUnavailable; an unmasked file is never produced in
// its place.
//
// Range. The file starts at the first keyframe at or after From (so no
// footage from before the approved range leaves the center) and ends with
// the last frame before To; the manifest states both the range asked for
// and the first and last frame, and any gaps without footage.
//
// Downloads. Links (links.go) are one-time download links: the token is
// shown once, only its SHA-256 is stored; Handler serves GET
// /exports/download/{token} once, before the expiry, after committing the
// export.provide audit entry (fail closed).
package export

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/pmp4"

	"github.com/gwanje/gwanje/privacy/manifest"
	"github.com/gwanje/gwanje/stream/record"
)

// Errors; the caller maps them to gRPC codes.
var (
	// ErrInvalid: a bad job (empty range, unknown form, bad mask).
	ErrInvalid = errors.New("export: invalid request")
	// ErrNotFound: no footage in the range (or an unknown export / link).
	ErrNotFound = errors.New("export: not found")
	// ErrMaskingUnavailable: masks were asked for but no Masker is
	// configured; nothing was exported.
	ErrMaskingUnavailable = errors.New("export: masking is not available on this server (no masker configured); an unmasked file is not produced instead")
	// ErrTampered: a source segment failed verification; nothing was
	// exported and the record store's tampering alarm was raised.
	ErrTampered = errors.New("export: source footage failed verification")
	// ErrOtherNode: some footage of the range is stored on another
	// recorder node; run the export there (record.NodeURL names it).
	ErrOtherNode = errors.New("export: footage is on another node")
	// ErrTooLarge: the range is too large for one file; split it.
	ErrTooLarge = errors.New("export: range too large for one file")
	// ErrExpired: the download link expired or was already used.
	ErrExpired = errors.New("export: download link expired or already used")
)

// Forms.
const (
	FormVideo = "video" // 동영상
	FormStill = "still" // 사진: the first keyframe at or after From, as a one-frame MP4
)

// Masker burns masks into an MP4 file: it reads in and writes out (a
// standard MP4 of the same timing). origin is the footage time of the
// file's first frame; mask times are footage times. The exporter hashes,
// signs and delivers out (never in) and removes both on failure. A Masker
// whose output codec differs from the footage's may say so with a method
// OutputCodec() string; the manifest then names that codec.
type Masker interface {
	Burn(ctx context.Context, in, out string, masks []manifest.Mask, origin time.Time) error
}

// Config configures an Exporter. Zero values take the defaults documented
// on each field.
type Config struct {
	// Store is this node's record store. Required.
	Store *record.Store
	// DataDir holds the export signing key. Required unless KeyFile is set.
	DataDir string
	// KeyFile is the Ed25519 export signing key (PKCS#8 PEM), created mode
	// 0600 on first use; the public key is written beside it (.pub).
	// Default DataDir/export-signing.pem.
	KeyFile string
	// Dir is where export files are kept until destroyed. Default
	// DataDir/exports.
	Dir string
	// System names this installation in manifests. Default "gwanje".
	System string
	// Masker burns in masks; nil refuses masked exports.
	Masker Masker
	// MaxBytes bounds one file (the MP4 sample offsets are 32-bit).
	// Default and maximum 4,000,000,000.
	MaxBytes int64
	// Location formats file names. Default record.KST.
	Location *time.Location
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger. Default slog.Default().
	Logger *slog.Logger
}

// Exporter makes export files and their manifests.
type Exporter struct {
	cfg  Config
	key  ed25519.PrivateKey
	pub  ed25519.PublicKey
	log  *slog.Logger
	dir  string
	node string
}

const maxFile = 4_000_000_000

// New loads or creates the signing key and the export directory.
func New(cfg Config) (*Exporter, error) {
	if cfg.Store == nil {
		return nil, fmt.Errorf("%w: Config.Store is required", ErrInvalid)
	}
	if cfg.KeyFile == "" {
		if cfg.DataDir == "" {
			return nil, fmt.Errorf("%w: Config.DataDir or KeyFile is required", ErrInvalid)
		}
		cfg.KeyFile = filepath.Join(cfg.DataDir, "export-signing.pem")
	}
	if cfg.Dir == "" {
		if cfg.DataDir == "" {
			return nil, fmt.Errorf("%w: Config.DataDir or Dir is required", ErrInvalid)
		}
		cfg.Dir = filepath.Join(cfg.DataDir, "exports")
	}
	if cfg.System == "" {
		cfg.System = "gwanje"
	}
	if cfg.MaxBytes <= 0 || cfg.MaxBytes > maxFile {
		cfg.MaxBytes = maxFile
	}
	if cfg.Location == nil {
		cfg.Location = record.KST
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	key, err := manifest.LoadOrCreateKey(cfg.KeyFile)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	return &Exporter{cfg: cfg, key: key, pub: key.Public().(ed25519.PublicKey), dir: cfg.Dir,
		node: cfg.Store.Node(), log: cfg.Logger.With("component", "export")}, nil
}

// PublicKey verifies this exporter's manifests.
func (x *Exporter) PublicKey() ed25519.PublicKey { return x.pub }

// PublicKeyPEM is PublicKey as PEM, to hand to recipients.
func (x *Exporter) PublicKeyPEM() []byte { return manifest.PublicKeyPEM(x.pub) }

// Dir is where export files are written.
func (x *Exporter) Dir() string { return x.dir }

// MaskingAvailable reports whether masked exports can be made.
func (x *Exporter) MaskingAvailable() bool { return x.cfg.Masker != nil }

// Job is one export: one camera, one range.
type Job struct {
	// ID names the export; default a new random ID.
	ID       string
	CameraID string
	From, To time.Time
	// Form: FormVideo (default) or FormStill.
	Form  string
	Masks []manifest.Mask
	// Reference is the provision or subject request; Purpose its purpose.
	Reference   string
	Purpose     string
	RequestedBy string
	ApprovedBy  string
	RequestedAt time.Time
	ApprovedAt  time.Time
}

// Result is a finished export.
type Result struct {
	ID           string
	FileName     string
	Path         string
	ManifestPath string
	Size         int64
	SHA256       []byte
	Manifest     manifest.Manifest
	ManifestData []byte
}

// ValidateMasks checks mask rectangles (fractions of the frame, non-empty,
// inside it) and their time ranges.
func ValidateMasks(masks []manifest.Mask) error {
	for i, m := range masks {
		switch {
		case m.W <= 0 || m.H <= 0 || m.X < 0 || m.Y < 0 || m.X+m.W > 1.0000001 || m.Y+m.H > 1.0000001:
			return fmt.Errorf("%w: mask %d: the rectangle must be inside the frame (fractions 0..1)", ErrInvalid, i+1)
		case m.From.IsZero() || !m.To.After(m.From):
			return fmt.Errorf("%w: mask %d: needs a time range (from < to)", ErrInvalid, i+1)
		}
	}
	return nil
}

func (j *Job) check() error {
	if j.Form == "" {
		j.Form = FormVideo
	}
	switch {
	case j.CameraID == "":
		return fmt.Errorf("%w: a camera is required", ErrInvalid)
	case j.From.IsZero() || !j.To.After(j.From):
		return fmt.Errorf("%w: a time range (from < to) is required", ErrInvalid)
	case j.Form != FormVideo && j.Form != FormStill:
		return fmt.Errorf("%w: form %q (video or still)", ErrInvalid, j.Form)
	}
	return ValidateMasks(j.Masks)
}

// NewID returns a new random export ID.
func NewID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "exp-" + hex.EncodeToString(b[:])
}

// sampleRec is one access unit spooled to disk.
type sampleRec struct {
	t    time.Time
	pts  int64 // PTS - DTS, ticks
	size uint32
	key  bool
}

// Export reads the footage and writes the file and its manifest. It fails
// (and leaves nothing behind) when a segment does not verify, when masks
// are asked for without a Masker, or when the range has no footage.
func (x *Exporter) Export(ctx context.Context, job Job) (*Result, error) {
	if err := job.check(); err != nil {
		return nil, err
	}
	if len(job.Masks) > 0 && x.cfg.Masker == nil {
		return nil, ErrMaskingUnavailable
	}
	if job.ID == "" {
		job.ID = NewID()
	}
	if strings.ContainsAny(job.ID, `/\`) || strings.HasPrefix(job.ID, ".") {
		return nil, fmt.Errorf("%w: export id %q", ErrInvalid, job.ID)
	}
	st := x.cfg.Store
	listing, err := st.ListRecordings(ctx, job.CameraID, job.From, job.To)
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	if len(listing.Segments) == 0 {
		return nil, fmt.Errorf("%w: no footage of camera %s in the range", ErrNotFound, job.CameraID)
	}
	for _, sg := range listing.Segments {
		if sg.Node != x.node {
			return nil, fmt.Errorf("%w: segment %d of camera %s is on node %s", ErrOtherNode, sg.ID, job.CameraID, sg.Node)
		}
	}
	spoolPath := filepath.Join(x.dir, job.ID+".spool")
	spool, err := os.OpenFile(spoolPath, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	defer func() {
		spool.Close()
		os.Remove(spoolPath)
	}()
	sw := bufio.NewWriterSize(spool, 1<<20)
	var (
		samples []sampleRec
		track   record.Track
		srcs    []manifest.Segment
		total   int64
		started bool
		done    bool
		avcc    []byte
	)
	for _, sg := range listing.Segments {
		if done {
			break
		}
		r, err := st.OpenSegment(ctx, sg)
		if err != nil {
			return nil, x.readErr(sg, err)
		}
		if track.Codec == "" {
			track = r.Track()
		} else if r.Track().Codec != track.Codec {
			r.Close()
			return nil, fmt.Errorf("%w: the codec changes within the range (%s, then %s); export the parts separately", ErrInvalid, track.Codec, r.Track().Codec)
		}
		for {
			f, err := r.Next()
			if errors.Is(err, io.EOF) {
				break // the file's hash was verified
			}
			if err != nil {
				r.Close()
				return nil, x.readErr(sg, err)
			}
			if done || !f.Time.Before(job.To) {
				done = true
				continue // read on to the end: the whole file's hash is checked there
			}
			if !started {
				if !f.Key || f.Time.Before(job.From) {
					continue
				}
				started = true
			}
			avcc, err = marshalAU(avcc[:0], f.AU)
			if err != nil {
				r.Close()
				return nil, fmt.Errorf("%w: segment %d: %v", ErrTampered, sg.ID, err)
			}
			total += int64(len(avcc))
			if total > x.cfg.MaxBytes-(64<<20) {
				r.Close()
				return nil, fmt.Errorf("%w: more than %d bytes; split the range", ErrTooLarge, x.cfg.MaxBytes)
			}
			if _, err := sw.Write(avcc); err != nil {
				r.Close()
				return nil, fmt.Errorf("export: spool: %w", err)
			}
			samples = append(samples, sampleRec{t: f.Time, pts: f.PTS - f.DTS, size: uint32(len(avcc)), key: f.Key})
			if job.Form == FormStill {
				done = true
			}
			if err := ctx.Err(); err != nil {
				r.Close()
				return nil, err
			}
		}
		r.Close()
		srcs = append(srcs, manifest.Segment{ID: sg.ID, Node: sg.Node, Start: sg.Start.UTC(), End: sg.End.UTC(),
			SHA256: hex.EncodeToString(sg.SHA256), Size: sg.Size})
	}
	if len(samples) == 0 {
		return nil, fmt.Errorf("%w: no keyframe of camera %s in the range", ErrNotFound, job.CameraID)
	}
	if err := sw.Flush(); err != nil {
		return nil, fmt.Errorf("export: spool: %w", err)
	}
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("export: spool: %w", err)
	}
	codec, err := mp4Codec(track)
	if err != nil {
		return nil, err
	}
	pres := buildPresentation(samples, codec, bufio.NewReaderSize(spool, 1<<20))

	first, last := samples[0].t, samples[len(samples)-1].t
	fileName := fmt.Sprintf("%s_%s_%s.mp4", job.CameraID, first.In(x.cfg.Location).Format("20060102T150405"), job.ID)
	final := filepath.Join(x.dir, job.ID+".mp4")
	tmp := final + ".tmp"
	defer os.Remove(tmp)
	var size int64
	var sum []byte
	outCodec := track.Codec
	if len(job.Masks) == 0 {
		size, sum, err = writeHashed(tmp, func(w io.Writer) error { return pres.Marshal(w) })
		if err != nil {
			return nil, fmt.Errorf("export: write: %w", err)
		}
	} else {
		clear := final + ".unmasked.tmp"
		defer os.Remove(clear)
		if _, _, err := writeHashed(clear, func(w io.Writer) error { return pres.Marshal(w) }); err != nil {
			return nil, fmt.Errorf("export: write: %w", err)
		}
		if err := x.cfg.Masker.Burn(ctx, clear, tmp, job.Masks, first); err != nil {
			return nil, fmt.Errorf("export: masking: %w", err)
		}
		os.Remove(clear) // the unmasked intermediate never outlives the burn
		if oc, ok := x.cfg.Masker.(interface{ OutputCodec() string }); ok {
			outCodec = oc.OutputCodec() // e.g. FFmpegMasker re-encodes H.265 as H.264
		}
		size, sum, err = hashFile(tmp)
		if err != nil {
			return nil, fmt.Errorf("export: %w", err)
		}
	}
	m := manifest.Manifest{
		ExportID: job.ID, System: x.cfg.System, Camera: job.CameraID,
		From: job.From.UTC(), To: job.To.UTC(), FirstFrame: first.UTC(), LastFrame: last.UTC(),
		Frames: len(samples), Codec: outCodec, Form: job.Form, Segments: srcs, Masks: job.Masks,
		File:      manifest.File{Name: fileName, Size: size, SHA256: hex.EncodeToString(sum), Format: "video/mp4"},
		Reference: job.Reference, Purpose: job.Purpose, RequestedBy: job.RequestedBy, ApprovedBy: job.ApprovedBy,
		RequestedAt: job.RequestedAt.UTC(), ApprovedAt: job.ApprovedAt.UTC(), CreatedAt: x.cfg.Now().UTC(),
	}
	for _, g := range listing.Gaps {
		m.Gaps = append(m.Gaps, manifest.Range{From: g.From.UTC(), To: g.To.UTC()})
	}
	if m.Masks == nil {
		m.Masks = []manifest.Mask{}
	}
	md, err := manifest.Sign(m, x.key)
	if err != nil {
		return nil, err
	}
	mpath := filepath.Join(x.dir, job.ID+".manifest.json")
	if err := writeFileSync(mpath, md); err != nil {
		return nil, fmt.Errorf("export: manifest: %w", err)
	}
	if err := os.Rename(tmp, final); err != nil {
		os.Remove(mpath)
		return nil, fmt.Errorf("export: %w", err)
	}
	x.log.Info("export: file written", "export", job.ID, "camera", job.CameraID, "frames", len(samples),
		"bytes", size, "segments", len(srcs), "masks", len(job.Masks))
	return &Result{ID: job.ID, FileName: fileName, Path: final, ManifestPath: mpath, Size: size, SHA256: sum,
		Manifest: m, ManifestData: md}, nil
}

func (x *Exporter) readErr(sg record.Segment, err error) error {
	if errors.Is(err, record.ErrTampered) {
		x.cfg.Store.RaiseAlarm(record.Alarm{Kind: record.AlarmTampered, CameraID: sg.CameraID, Path: sg.Path,
			Detail: "export: " + err.Error()})
		return fmt.Errorf("%w: segment %d (%s): %v", ErrTampered, sg.ID, sg.Path, err)
	}
	return fmt.Errorf("export: segment %d: %w", sg.ID, err)
}

// Remove deletes an export's file and manifest (export.destroy is the
// caller's entry). Missing files are not an error.
func (x *Exporter) Remove(id string) error {
	if id == "" || strings.ContainsAny(id, `/\`) || strings.HasPrefix(id, ".") {
		return fmt.Errorf("%w: export id %q", ErrInvalid, id)
	}
	var errs []error
	for _, p := range []string{filepath.Join(x.dir, id+".mp4"), filepath.Join(x.dir, id+".manifest.json")} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func marshalAU(dst []byte, au [][]byte) ([]byte, error) {
	n := 0
	for _, nalu := range au {
		n += 4 + len(nalu)
	}
	if n == 0 {
		return nil, errors.New("empty access unit")
	}
	if cap(dst) < n {
		dst = make([]byte, 0, n)
	}
	for _, nalu := range au {
		l := len(nalu)
		dst = append(dst, byte(l>>24), byte(l>>16), byte(l>>8), byte(l))
		dst = append(dst, nalu...)
	}
	return dst, nil
}

func mp4Codec(t record.Track) (codecs.Codec, error) {
	switch t.Codec {
	case record.CodecH264:
		return &codecs.H264{SPS: t.SPS, PPS: t.PPS}, nil
	case record.CodecH265:
		return &codecs.H265{VPS: t.VPS, SPS: t.SPS, PPS: t.PPS}, nil
	}
	return nil, fmt.Errorf("%w: codec %q", ErrInvalid, t.Codec)
}

// buildPresentation lays the spooled samples out on one timeline starting
// at the first frame (90 kHz). Payloads are read from spool in order.
func buildPresentation(samples []sampleRec, codec codecs.Codec, spool *bufio.Reader) *pmp4.Presentation {
	const ts = record.Timescale
	origin := samples[0].t
	dts := make([]int64, len(samples))
	for i, s := range samples {
		d := s.t.Sub(origin).Nanoseconds() * ts / int64(time.Second)
		if i > 0 && d <= dts[i-1] {
			d = dts[i-1] + 1
		}
		dts[i] = d
	}
	out := make([]*pmp4.Sample, len(samples))
	def := int64(ts / 25)
	// pmp4 writes each payload before asking for the next: one buffer.
	var buf []byte
	for i, s := range samples {
		dur := def
		if i+1 < len(samples) {
			dur = dts[i+1] - dts[i]
		} else if i > 0 {
			dur = dts[i] - dts[i-1]
		}
		size := s.size
		out[i] = &pmp4.Sample{Duration: uint32(dur), PTSOffset: int32(s.pts), IsNonSyncSample: !s.key, PayloadSize: size,
			GetPayload: func() ([]byte, error) {
				if cap(buf) < int(size) {
					buf = make([]byte, size)
				}
				b := buf[:size]
				_, err := io.ReadFull(spool, b)
				return b, err
			}}
	}
	return &pmp4.Presentation{Tracks: []*pmp4.Track{{ID: 1, TimeScale: ts, Codec: codec, Samples: out}}}
}

// writeHashed writes path through fn, hashing as it goes, and fsyncs.
func writeHashed(path string, fn func(io.Writer) error) (int64, []byte, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return 0, nil, err
	}
	h := sha256.New()
	cw := &countWriter{w: io.MultiWriter(f, h)}
	bw := bufio.NewWriterSize(cw, 1<<20)
	if err := fn(bw); err != nil {
		f.Close()
		return 0, nil, err
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return 0, nil, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return 0, nil, err
	}
	if err := f.Close(); err != nil {
		return 0, nil, err
	}
	return cw.n, h.Sum(nil), nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func hashFile(path string) (int64, []byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, nil, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	return n, h.Sum(nil), err
}

func writeFileSync(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
