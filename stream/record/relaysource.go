package record

import (
	"context"
	"fmt"

	"github.com/bluenviron/gortsplib/v5/pkg/format"

	"github.com/gwanje/gwanje/stream"
)

// RelaySource records from the live relay's shared upstream: a camera that
// is watched and recorded is connected to once, and the recorder is just
// another reader of that pull. Use it when the relay runs in the same
// process; RTSPSource otherwise.
type RelaySource struct {
	Relay *stream.Relay
}

// Subscribe joins (or opens) the camera profile's upstream on the relay.
func (s RelaySource) Subscribe(ctx context.Context, cameraID, profile string) (Subscription, error) {
	t, err := s.Relay.Tap(ctx, cameraID, profile)
	if err != nil {
		return nil, err
	}
	var tr Track
	switch f := t.Format().(type) {
	case *format.H264:
		tr = Track{Codec: CodecH264, SPS: f.SPS, PPS: f.PPS}
	case *format.H265:
		tr = Track{Codec: CodecH265, VPS: f.VPS, SPS: f.SPS, PPS: f.PPS}
	default:
		t.Close()
		return nil, fmt.Errorf("record: relay format %T is not recordable", t.Format())
	}
	return &relaySub{t: t, track: tr}, nil
}

type relaySub struct {
	t     *stream.Tap
	track Track
}

func (s *relaySub) Next(ctx context.Context) (Unit, error) {
	au, err := s.t.Next(ctx)
	if err != nil {
		return Unit{}, err
	}
	return Unit{PTS: au.PTS, AU: au.NALUs, Key: au.Key}, nil
}

func (s *relaySub) Track() Track { return s.track }

func (s *relaySub) Close() error { return s.t.Close() }
