package playback

import (
	"fmt"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"
	mp4codecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"

	"github.com/gwanje/gwanje/stream/record"
)

// muxer turns recorded frames back into fMP4 for a browser's Media Source
// Extensions: an init segment (ftyp, moov) per track, then one fragment
// (moof, mdat) per frame, so a frame can be decoded as soon as it
// arrives. The media timeline is the footage's: a frame's decode time is
// its footage time minus base (the ticket's start), so the player's
// currentTime 0 is the ticket's start and a gap in the footage is a gap
// in the buffered ranges.
type muxer struct {
	base time.Time
	seq  uint32
	buf  seekablebuffer.Buffer
}

// codecString is the RFC 6381 codec of an H.264 track (avc1.PPCCLL).
func codecString(tr record.Track) (string, error) {
	if tr.Codec != record.CodecH264 || len(tr.SPS) < 4 {
		return "", fmt.Errorf("playback: %s footage cannot be played in a browser (H.264 only)", tr.Codec)
	}
	return fmt.Sprintf("avc1.%02x%02x%02x", tr.SPS[1], tr.SPS[2], tr.SPS[3]), nil
}

// init is the init segment of a track.
func (m *muxer) init(tr record.Track) ([]byte, error) {
	if _, err := codecString(tr); err != nil {
		return nil, err
	}
	in := fmp4.Init{Tracks: []*fmp4.InitTrack{{ID: 1, TimeScale: record.Timescale,
		Codec: &mp4codecs.H264{SPS: tr.SPS, PPS: tr.PPS}}}}
	m.buf.Reset()
	if err := in.Marshal(&m.buf); err != nil {
		return nil, fmt.Errorf("playback: init segment: %w", err)
	}
	return m.buf.Bytes(), nil
}

// frame is one fragment holding f, lasting d.
func (m *muxer) frame(f record.Frame, d time.Duration) ([]byte, error) {
	payload, err := h264.AVCC(f.AU).Marshal()
	if err != nil {
		return nil, fmt.Errorf("playback: frame: %w", err)
	}
	m.seq++
	dur := max(ticks(d), 1)
	p := fmp4.Part{SequenceNumber: m.seq, Tracks: []*fmp4.PartTrack{{ID: 1,
		BaseTime: uint64(ticks(f.Time.Sub(m.base))),
		Samples: []*fmp4.Sample{{Duration: uint32(dur), PTSOffset: int32(f.PTS - f.DTS),
			IsNonSyncSample: !f.Key, Payload: payload}}}}}
	m.buf.Reset()
	if err := p.Marshal(&m.buf); err != nil {
		return nil, fmt.Errorf("playback: fragment: %w", err)
	}
	return m.buf.Bytes(), nil
}

// ticks is d in Timescale units, without overflow for ranges of years.
func ticks(d time.Duration) int64 {
	return int64(d/time.Second)*record.Timescale + int64(d%time.Second)*record.Timescale/int64(time.Second)
}
