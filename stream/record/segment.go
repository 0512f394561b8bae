package record

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"
)

// Timescale is the clock of recorded timestamps (90 kHz, as RTP video).
const Timescale = 90000

// Codec names.
const (
	CodecH264 = "H264"
	CodecH265 = "H265"
)

// Track describes the video of a segment or a subscription: the codec and
// its parameter sets (NAL units without start codes).
type Track struct {
	Codec         string
	VPS, SPS, PPS []byte
}

func (t Track) mp4Codec() (codecs.Codec, error) {
	switch t.Codec {
	case CodecH264:
		return &codecs.H264{SPS: t.SPS, PPS: t.PPS}, nil
	case CodecH265:
		return &codecs.H265{VPS: t.VPS, SPS: t.SPS, PPS: t.PPS}, nil
	}
	return nil, fmt.Errorf("record: codec %q not supported", t.Codec)
}

func (t Track) same(o Track) bool {
	return t.Codec == o.Codec && bytes.Equal(t.VPS, o.VPS) && bytes.Equal(t.SPS, o.SPS) && bytes.Equal(t.PPS, o.PPS)
}

// sample is one access unit on its way into a segment: timestamps in
// Timescale ticks of the subscription's clock.
type sample struct {
	dts, pts int64
	key      bool
	au       [][]byte
}

// segmentFile is a segment being written: an encrypted fMP4 file named
// <start ms>.partial until it is finished, then renamed to its final name
// and indexed. A crash leaves only the .partial file, which the start-up
// check salvages or quarantines.
type segmentFile struct {
	s        *Store
	camera   string
	start    time.Time
	track    Track
	f        *os.File
	partial  string
	keyID    string
	sw       *sealWriter
	partDur  int64
	seq      uint32
	firstDTS int64
	part     []*fmp4.Sample
	partBase int64
	held     *sample
	lastDur  int64
	endDTS   int64
	frames   int
	buf      seekablebuffer.Buffer
	// sealDur is the footage (ticks) after which what was written is
	// sealed and reaches the file (0: only full chunks); sealedDTS is
	// the footage sealed so far; sync: fdatasync after each timed seal.
	sealDur   int64
	sealedDTS int64
	sync      bool
	dirSynced bool
	// fence is the lease it is written under (pool), nil otherwise.
	fence *fence
}

// segmentOptions say how a segment file is cut into fragments and sealed.
type segmentOptions struct {
	// Part is the fMP4 fragment length.
	Part time.Duration
	// Seal: seal (and, with Sync, fdatasync) every Seal of footage; 0
	// seals full chunks only.
	Seal time.Duration
	Sync bool
	// Fence is the lease the segment is written under (pool); nil: the
	// node's lease at the segment's start, if any (the start-up check).
	Fence *fence
}

func (s *Store) openSegment(ctx context.Context, camera string, start time.Time, track Track, opt segmentOptions) (*segmentFile, error) {
	if !validName(camera) {
		return nil, fmt.Errorf("%w: camera %q", ErrInvalid, camera)
	}
	keyID, dek, err := s.keys.keyFor(ctx, camera, start)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(s.dir, camera, start.In(s.cfg.Location).Format("2006-01-02"))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("record: segment dir: %w", err)
	}
	partial := filepath.Join(dir, fmt.Sprintf("%d.partial", start.UnixMilli()))
	f, err := os.OpenFile(partial, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("record: segment: %w", err)
	}
	sf := &segmentFile{s: s, camera: camera, start: start, track: track, f: f, partial: partial, keyID: keyID,
		partDur: int64(opt.Part.Seconds() * Timescale), sealDur: int64(opt.Seal.Seconds() * Timescale), sync: opt.Sync,
		fence: opt.Fence}
	sf.sw, err = newSealWriter(f, dek, keyID, camera, start, s.cfg.ChunkSize, s.reserve)
	clear(dek)
	if err != nil {
		sf.abort()
		return nil, fmt.Errorf("record: segment: %w", err)
	}
	codec, err := track.mp4Codec()
	if err != nil {
		sf.abort()
		return nil, err
	}
	init := fmp4.Init{Tracks: []*fmp4.InitTrack{{ID: 1, TimeScale: Timescale, Codec: codec}}}
	if err := init.Marshal(&sf.buf); err != nil {
		sf.abort()
		return nil, fmt.Errorf("record: segment init: %w", err)
	}
	if _, err := sf.sw.Write(sf.buf.Bytes()); err != nil {
		sf.abort()
		return nil, fmt.Errorf("record: segment: %w", err)
	}
	return sf, nil
}

// add appends an access unit. The previous one is written when this one
// arrives (its duration is the difference of their DTS).
func (sf *segmentFile) add(smp *sample) error {
	if sf.held == nil && sf.frames == 0 {
		sf.firstDTS = smp.dts
		sf.partBase = 0
	}
	if sf.held != nil {
		if err := sf.push(smp.dts - sf.held.dts); err != nil {
			return err
		}
	}
	sf.held = smp
	return nil
}

// push moves the held sample into the current part with duration d.
func (sf *segmentFile) push(d int64) error {
	h := sf.held
	sf.held = nil
	if d <= 0 {
		d = max(sf.lastDur, 1)
	}
	sf.lastDur = d
	payload, err := h264.AVCC(h.au).Marshal()
	if err != nil {
		return fmt.Errorf("record: sample: %w", err)
	}
	if len(sf.part) == 0 {
		sf.partBase = h.dts - sf.firstDTS
	}
	sf.part = append(sf.part, &fmp4.Sample{Duration: uint32(d), PTSOffset: int32(h.pts - h.dts),
		IsNonSyncSample: !h.key, Payload: payload})
	sf.frames++
	sf.endDTS = h.dts - sf.firstDTS + d
	if sf.endDTS-sf.partBase >= sf.partDur {
		if err := sf.flushPart(); err != nil {
			return err
		}
	}
	if sf.sealDur > 0 && sf.endDTS-sf.sealedDTS >= sf.sealDur {
		return sf.sealNow()
	}
	return nil
}

// sealNow ends the fragment in progress, seals everything written so far
// into a chunk that reaches the file, and with sync fdatasyncs it (and,
// the first time, the directory holding the new .partial name). After it
// returns, a crash loses nothing up to sf.endDTS: the start-up check
// salvages the file up to here.
func (sf *segmentFile) sealNow() error {
	if err := sf.flushPart(); err != nil {
		return err
	}
	if err := sf.sw.Flush(); err != nil {
		return err
	}
	sf.sealedDTS = sf.endDTS
	sf.s.m.Seals.Inc()
	if !sf.sync {
		return nil
	}
	t0 := time.Now()
	if err := syscall.Fdatasync(int(sf.f.Fd())); err != nil {
		return fmt.Errorf("record: sync: %w", err)
	}
	if !sf.dirSynced {
		if err := syncDir(filepath.Dir(sf.partial)); err != nil {
			return fmt.Errorf("record: sync: %w", err)
		}
		sf.dirSynced = true
	}
	sf.s.m.SealSync.Observe(time.Since(t0).Seconds())
	return nil
}

func (sf *segmentFile) flushPart() error {
	if len(sf.part) == 0 {
		return nil
	}
	sf.seq++
	p := fmp4.Part{SequenceNumber: sf.seq, Tracks: []*fmp4.PartTrack{{ID: 1, BaseTime: uint64(sf.partBase), Samples: sf.part}}}
	sf.buf.Reset()
	if err := p.Marshal(&sf.buf); err != nil {
		return fmt.Errorf("record: part: %w", err)
	}
	sf.part = sf.part[:0]
	if _, err := sf.sw.Write(sf.buf.Bytes()); err != nil {
		return err
	}
	return nil
}

// duration is the media time written or held so far.
func (sf *segmentFile) duration(nextDTS int64) time.Duration {
	return time.Duration(nextDTS-sf.firstDTS) * time.Second / Timescale
}

// finish writes what is held (its duration given by nextDTS, or < 0 for
// the last known duration), seals, syncs, renames and indexes the file.
func (sf *segmentFile) finish(ctx context.Context, nextDTS int64) (Segment, error) {
	t0 := time.Now()
	if sf.held != nil {
		d := int64(-1)
		if nextDTS >= 0 {
			d = nextDTS - sf.held.dts
		}
		if err := sf.push(d); err != nil {
			sf.abort()
			return Segment{}, err
		}
	}
	if err := sf.flushPart(); err != nil {
		sf.abort()
		return Segment{}, err
	}
	if sf.frames == 0 {
		sf.abort()
		return Segment{}, errors.New("record: empty segment")
	}
	if err := sf.sw.Close(); err != nil {
		sf.abort()
		return Segment{}, err
	}
	if err := sf.f.Sync(); err != nil {
		sf.abort()
		return Segment{}, fmt.Errorf("record: sync: %w", err)
	}
	if err := sf.f.Close(); err != nil {
		sf.f = nil
		sf.abort()
		return Segment{}, fmt.Errorf("record: close: %w", err)
	}
	sf.f = nil
	end := sf.start.Add(time.Duration(sf.endDTS) * time.Second / Timescale)
	rel := sf.s.segPath(sf.camera, sf.start, end)
	if err := os.Rename(sf.partial, sf.s.abs(rel)); err != nil {
		sf.abort()
		return Segment{}, fmt.Errorf("record: rename: %w", err)
	}
	_ = syncDir(filepath.Dir(sf.partial))
	seg := Segment{CameraID: sf.camera, Start: sf.start, End: end, Path: rel, Size: sf.sw.Size(), SHA256: sf.sw.Sum(),
		KeyID: sf.keyID, Codec: sf.track.Codec, Frames: sf.frames}
	if err := sf.s.insertSegment(ctx, &seg, sf.fence); err != nil {
		if errors.Is(err, ErrFenced) {
			sf.s.dropFenced(rel, err)
			return seg, err
		}
		// The file stays; the start-up check indexes it.
		return seg, err
	}
	sf.s.m.Segments.Inc()
	sf.s.noteSegment(seg, time.Since(t0))
	return seg, nil
}

// abort discards the segment in progress.
func (sf *segmentFile) abort() {
	if sf.f != nil {
		sf.f.Close()
		sf.f = nil
	}
	if sf.partial != "" {
		if fi, err := os.Stat(sf.partial); err == nil {
			sf.s.release(fi.Size())
		}
		_ = os.Remove(sf.partial)
	}
	sf.s.m.SegmentsDropped.Inc()
}

// Frame is one access unit read back from a segment.
type Frame struct {
	// Time is the footage time of the frame (decode order).
	Time time.Time
	// DTS and PTS in Timescale ticks since the segment's start.
	DTS, PTS int64
	Key      bool
	AU       [][]byte
}

// SegmentReader reads the frames of a segment, verifying every chunk as
// it is decrypted and the file's SHA-256 against the index at the end
// (Next returns ErrTampered, wrapped, on any mismatch).
type SegmentReader struct {
	seg    Segment
	f      *os.File
	r      *bufio.Reader
	track  Track
	frames []Frame
	err    error
}

// OpenSegment opens a segment of this node for reading.
func (s *Store) OpenSegment(ctx context.Context, seg Segment) (*SegmentReader, error) {
	if seg.Node != s.node {
		return nil, fmt.Errorf("%w: segment %d is on node %s", ErrNotFound, seg.ID, seg.Node)
	}
	f, err := os.Open(s.abs(seg.Path))
	if err != nil {
		return nil, fmt.Errorf("record: open segment: %w", err)
	}
	hdr, open, err := openSealed(f, seg.SHA256)
	if err != nil {
		f.Close()
		return nil, err
	}
	if hdr.keyID != seg.KeyID || hdr.camera != seg.CameraID {
		f.Close()
		return nil, fmt.Errorf("%w: header names key %s camera %s", ErrTampered, hdr.keyID, hdr.camera)
	}
	dek, err := s.keys.key(ctx, seg.KeyID)
	if err != nil {
		f.Close()
		return nil, err
	}
	sr, err := open(dek)
	clear(dek)
	if err != nil {
		f.Close()
		return nil, err
	}
	r := &SegmentReader{seg: seg, f: f, r: bufio.NewReaderSize(sr, 64<<10)}
	if err := r.readInit(); err != nil {
		f.Close()
		return nil, err
	}
	return r, nil
}

// Track is the segment's video track.
func (r *SegmentReader) Track() Track { return r.track }

// Segment is the segment being read.
func (r *SegmentReader) Segment() Segment { return r.seg }

// Close closes the file.
func (r *SegmentReader) Close() error { return r.f.Close() }

const maxBox = 256 << 20

// readBox reads one top-level box: its type and the whole box bytes.
func (r *SegmentReader) readBox() (string, []byte, error) {
	var h [8]byte
	if _, err := io.ReadFull(r.r, h[:]); err != nil {
		return "", nil, err
	}
	size := uint64(binary.BigEndian.Uint32(h[:4]))
	typ := string(h[4:8])
	hdr := h[:]
	if size == 1 {
		var l [8]byte
		if _, err := io.ReadFull(r.r, l[:]); err != nil {
			return "", nil, noEOF(err)
		}
		size = binary.BigEndian.Uint64(l[:])
		hdr = append(hdr, l[:]...)
	}
	if size < uint64(len(hdr)) || size > maxBox {
		return "", nil, fmt.Errorf("%w: box %q size %d", ErrTampered, typ, size)
	}
	b := make([]byte, size)
	copy(b, hdr)
	if _, err := io.ReadFull(r.r, b[len(hdr):]); err != nil {
		return "", nil, noEOF(err)
	}
	return typ, b, nil
}

func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

func (r *SegmentReader) readInit() error {
	var buf []byte
	for {
		typ, b, err := r.readBox()
		if err != nil {
			return fmt.Errorf("record: segment init: %w", noEOF(err))
		}
		buf = append(buf, b...)
		if typ == "moov" {
			break
		}
	}
	var init fmp4.Init
	if err := init.Unmarshal(bytes.NewReader(buf)); err != nil {
		return fmt.Errorf("record: segment init: %w", err)
	}
	if len(init.Tracks) != 1 {
		return fmt.Errorf("record: segment has %d tracks", len(init.Tracks))
	}
	switch c := init.Tracks[0].Codec.(type) {
	case *codecs.H264:
		r.track = Track{Codec: CodecH264, SPS: c.SPS, PPS: c.PPS}
	case *codecs.H265:
		r.track = Track{Codec: CodecH265, VPS: c.VPS, SPS: c.SPS, PPS: c.PPS}
	default:
		return fmt.Errorf("record: segment codec %T not supported", c)
	}
	return nil
}

// Next returns the next frame, io.EOF after the last one (the file's
// hash was then verified), or an error wrapping ErrTampered.
func (r *SegmentReader) Next() (Frame, error) {
	for len(r.frames) == 0 {
		if r.err != nil {
			return Frame{}, r.err
		}
		r.err = r.readPart()
	}
	f := r.frames[0]
	r.frames = r.frames[1:]
	return f, nil
}

func (r *SegmentReader) readPart() error {
	typ, moof, err := r.readBox()
	if errors.Is(err, io.EOF) {
		return io.EOF
	}
	if err != nil {
		return err
	}
	if typ != "moof" {
		return fmt.Errorf("%w: unexpected box %q", ErrTampered, typ)
	}
	typ, mdat, err := r.readBox()
	if err != nil {
		return noEOF(err)
	}
	if typ != "mdat" {
		return fmt.Errorf("%w: unexpected box %q", ErrTampered, typ)
	}
	var parts fmp4.Parts
	if err := parts.Unmarshal(append(moof, mdat...)); err != nil {
		return fmt.Errorf("%w: part: %v", ErrTampered, err)
	}
	for _, p := range parts {
		for _, t := range p.Tracks {
			dts := int64(t.BaseTime)
			for _, smp := range t.Samples {
				var au h264.AVCC
				if err := au.Unmarshal(smp.Payload); err != nil {
					return fmt.Errorf("%w: sample: %v", ErrTampered, err)
				}
				r.frames = append(r.frames, Frame{
					Time: r.seg.Start.Add(time.Duration(dts) * time.Second / Timescale),
					DTS:  dts, PTS: dts + int64(smp.PTSOffset), Key: !smp.IsNonSyncSample, AU: au})
				dts += int64(smp.Duration)
			}
		}
	}
	return nil
}

func newBufReader(r io.Reader) *bufio.Reader { return bufio.NewReaderSize(r, 64<<10) }
