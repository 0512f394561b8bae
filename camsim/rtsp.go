package camsim

import (
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/liberrors"
	"github.com/pion/rtp"
)

// rtspServer serves the camera's profiles. Streams are created on first
// DESCRIBE/SETUP and frames are produced only while at least one session plays.
type rtspServer struct {
	c    *Camera
	srv  *gortsplib.Server
	port int

	mu      sync.Mutex
	closed  bool
	streams map[string]*profStream
	wg      sync.WaitGroup // producers
}

type profStream struct {
	p       *profileDef
	cl      *clip
	stream  *gortsplib.ServerStream
	media   *description.Media
	readers int
	stop    chan struct{}
}

func newRTSPServer(c *Camera, addr string) (*rtspServer, error) {
	rs := &rtspServer{c: c, streams: map[string]*profStream{}}
	var ln net.Listener
	rs.srv = &gortsplib.Server{
		Handler:     rs,
		RTSPAddress: addr,
		Listen: func(network, address string) (net.Listener, error) {
			l, err := net.Listen(network, address)
			ln = l
			return l, err
		},
		ReadTimeout:  10 * time.Second,
		WriteTimeout: 10 * time.Second,
	}
	if err := rs.srv.Start(); err != nil {
		return nil, fmt.Errorf("rtsp listen %s: %w", addr, err)
	}
	rs.port = ln.Addr().(*net.TCPAddr).Port
	return rs, nil
}

func (rs *rtspServer) close() {
	rs.mu.Lock()
	rs.closed = true
	for _, ps := range rs.streams {
		if ps.stop != nil {
			close(ps.stop)
			ps.stop = nil
		}
	}
	rs.mu.Unlock()
	rs.srv.Close()
	rs.wg.Wait()
	rs.mu.Lock()
	for _, ps := range rs.streams {
		ps.stream.Close()
	}
	rs.streams = nil
	rs.mu.Unlock()
}

func (rs *rtspServer) profileFor(path, query string) *profileDef {
	key := "/" + strings.TrimPrefix(path, "/")
	if query != "" {
		key += "?" + query
	}
	for i := range rs.c.d.profiles {
		if rs.c.cfg.Quirks.CredentialsInPath {
			if key == credPath(rs.c.cfg.Username, rs.c.password(), i) {
				return &rs.c.d.profiles[i]
			}
			continue
		}
		if rs.c.d.profiles[i].rtspPath == key {
			return &rs.c.d.profiles[i]
		}
	}
	return nil
}

// streamFor returns (creating it if needed) the stream of a profile.
func (rs *rtspServer) streamFor(p *profileDef) (*profStream, error) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.closed {
		return nil, liberrors.ErrServerTerminated{}
	}
	if ps, ok := rs.streams[p.logical]; ok {
		return ps, nil
	}
	cl := rs.c.clipFor(p)
	var forma format.Format
	if cl.h265 {
		forma = &format.H265{PayloadTyp: 96, VPS: cl.vps, SPS: cl.sps, PPS: cl.pps}
	} else {
		forma = &format.H264{PayloadTyp: 96, PacketizationMode: 1, SPS: cl.sps, PPS: cl.pps}
	}
	medi := &description.Media{Type: description.MediaTypeVideo, Formats: []format.Format{forma}}
	st := &gortsplib.ServerStream{
		Server: rs.srv,
		Desc:   &description.Session{Title: p.name, Medias: []*description.Media{medi}},
	}
	if err := st.Initialize(); err != nil {
		return nil, fmt.Errorf("stream init: %w", err)
	}
	ps := &profStream{p: p, cl: cl, stream: st, media: medi}
	rs.streams[p.logical] = ps
	return ps, nil
}

func (rs *rtspServer) auth(conn *gortsplib.ServerConn, req *base.Request) bool {
	return conn.VerifyCredentials(req, rs.c.cfg.Username, rs.c.password())
}

// OnDescribe implements gortsplib.ServerHandlerOnDescribe.
func (rs *rtspServer) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if !rs.auth(ctx.Conn, ctx.Request) {
		return &base.Response{StatusCode: base.StatusUnauthorized}, nil, liberrors.ErrServerAuth{}
	}
	p := rs.profileFor(ctx.Path, ctx.Query)
	if p == nil {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	ps, err := rs.streamFor(p)
	if err != nil {
		return &base.Response{StatusCode: base.StatusServiceUnavailable}, nil, err
	}
	return &base.Response{StatusCode: base.StatusOK}, ps.stream, nil
}

// OnSetup implements gortsplib.ServerHandlerOnSetup.
func (rs *rtspServer) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if !rs.auth(ctx.Conn, ctx.Request) {
		return &base.Response{StatusCode: base.StatusUnauthorized}, nil, liberrors.ErrServerAuth{}
	}
	p := rs.profileFor(ctx.Path, ctx.Query)
	if p == nil {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	ps, err := rs.streamFor(p)
	if err != nil {
		return &base.Response{StatusCode: base.StatusServiceUnavailable}, nil, err
	}
	ctx.Session.SetUserData(nil)
	return &base.Response{StatusCode: base.StatusOK}, ps.stream, nil
}

// OnPlay implements gortsplib.ServerHandlerOnPlay: the first reader starts the producer.
func (rs *rtspServer) OnPlay(ctx *gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	if !rs.auth(ctx.Conn, ctx.Request) {
		return &base.Response{StatusCode: base.StatusUnauthorized}, liberrors.ErrServerAuth{}
	}
	p := rs.profileFor(ctx.Path, ctx.Query)
	if p == nil {
		return &base.Response{StatusCode: base.StatusNotFound}, nil
	}
	if ctx.Session.UserData() != nil { // PLAY after PAUSE
		return &base.Response{StatusCode: base.StatusOK}, nil
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	ps, ok := rs.streams[p.logical]
	if !ok || rs.closed {
		return &base.Response{StatusCode: base.StatusSessionNotFound}, nil
	}
	ctx.Session.SetUserData(ps)
	ps.readers++
	if ps.readers == 1 {
		ps.stop = make(chan struct{})
		rs.wg.Add(1)
		go func(stop chan struct{}) {
			defer rs.wg.Done()
			rs.produce(ps, stop)
		}(ps.stop)
	}
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// OnSessionClose implements gortsplib.ServerHandlerOnSessionClose: the last reader stops the producer.
func (rs *rtspServer) OnSessionClose(ctx *gortsplib.ServerHandlerOnSessionCloseCtx) {
	ps, ok := ctx.Session.UserData().(*profStream)
	if !ok {
		return
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	ps.readers--
	if ps.readers == 0 && ps.stop != nil {
		close(ps.stop)
		ps.stop = nil
	}
}

// produce loops the clip at its frame rate with continuous timestamps.
func (rs *rtspServer) produce(ps *profStream, stop chan struct{}) {
	var enc interface {
		Encode([][]byte) ([]*rtp.Packet, error)
	}
	switch f := ps.media.Formats[0].(type) {
	case *format.H264:
		e, err := f.CreateEncoder()
		if err != nil {
			rs.c.log.Warn("rtp encoder", "err", err)
			return
		}
		enc = e
	case *format.H265:
		e, err := f.CreateEncoder()
		if err != nil {
			rs.c.log.Warn("rtp encoder", "err", err)
			return
		}
		enc = e
	}
	tsBase := rand.Uint32()
	start := time.Now()
	tick := time.NewTicker(frameDuration)
	defer tick.Stop()
	n := len(ps.cl.aus)
	for frame := int64(0); ; frame++ {
		f := rs.c.currentFaults()
		if !f.StreamStall {
			pkts, err := enc.Encode(ps.cl.withParams(int(frame % int64(n))))
			if err != nil {
				rs.c.log.Warn("rtp encode", "err", err)
				return
			}
			pts := frame * 90000 / clipFPS
			ntp := start.Add(time.Duration(frame) * frameDuration)
			for _, pkt := range pkts {
				if f.PacketLoss > 0 && rand.Float64() < f.PacketLoss {
					continue
				}
				pkt.Timestamp = tsBase + uint32(pts)
				if err := ps.stream.WritePacketRTPWithNTP(ps.media, pkt, ntp); err != nil {
					return
				}
			}
		}
		select {
		case <-stop:
			return
		case <-tick.C:
		}
	}
}
