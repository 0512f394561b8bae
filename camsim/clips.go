package camsim

import (
	"bytes"
	"embed"
	"fmt"
	"sync"
	"time"
)

//go:embed testdata/*.h264 testdata/*.h265 testdata/*.jpg
var clipFS embed.FS

// clipFPS is the frame rate every committed clip was encoded at.
const clipFPS = 10

// clip is an elementary stream split into access units, ready to loop.
type clip struct {
	h265   bool
	vps    []byte // H.265 only
	sps    []byte
	pps    []byte
	aus    [][][]byte // access units: NAL units without start codes, parameter sets stripped
	key    []bool     // aus[i] starts a GOP (IDR / IRAP)
	width  int
	height int
}

var (
	clipsOnce sync.Once
	clipsErr  error
	clips     map[string]*clip
	snapshots map[string][]byte
)

// loadClips parses the embedded clips once per process; all cameras share them.
func loadClips() (map[string]*clip, map[string][]byte, error) {
	clipsOnce.Do(func() {
		clips = map[string]*clip{}
		snapshots = map[string][]byte{}
		for _, f := range []struct {
			name string
			h265 bool
			w, h int
		}{
			{"main_gop1s.h264", false, 640, 360},
			{"main_gop2s.h264", false, 640, 360},
			{"main_gop4s.h264", false, 640, 360},
			{"sub_gop2s.h264", false, 320, 180},
			{"h265_gop2s.h265", true, 640, 360},
		} {
			b, err := clipFS.ReadFile("testdata/" + f.name)
			if err != nil {
				clipsErr = fmt.Errorf("camsim: read clip %s: %w", f.name, err)
				return
			}
			c, err := parseClip(b, f.h265)
			if err != nil {
				clipsErr = fmt.Errorf("camsim: parse clip %s: %w", f.name, err)
				return
			}
			c.width, c.height = f.w, f.h
			clips[f.name] = c
		}
		for _, n := range []string{"snapshot_main.jpg", "snapshot_sub.jpg"} {
			b, err := clipFS.ReadFile("testdata/" + n)
			if err != nil {
				clipsErr = fmt.Errorf("camsim: read snapshot %s: %w", n, err)
				return
			}
			snapshots[n] = b
		}
	})
	return clips, snapshots, clipsErr
}

// splitAnnexB returns the NAL units of an Annex-B byte stream.
func splitAnnexB(b []byte) [][]byte {
	var out [][]byte
	start := -1
	i := 0
	for i+2 < len(b) {
		if b[i] == 0 && b[i+1] == 0 && b[i+2] == 1 {
			if start >= 0 {
				end := i
				if end > start && b[end-1] == 0 { // 4-byte start code
					end--
				}
				out = append(out, b[start:end])
			}
			i += 3
			start = i
			continue
		}
		i++
	}
	if start >= 0 && start < len(b) {
		out = append(out, bytes.TrimRight(b[start:], "\x00"))
	}
	return out
}

// parseClip groups NAL units into access units. A slice whose first_mb_in_slice
// (H.264) or first_slice_segment_in_pic_flag (H.265) marks a new picture starts
// a new access unit; parameter sets are kept aside and re-sent before every
// key frame by the streamer.
func parseClip(b []byte, h265 bool) (*clip, error) {
	c := &clip{h265: h265}
	var cur [][]byte
	curKey := false
	var pending [][]byte // SEI etc. that precede the next picture
	flush := func() {
		if len(cur) > 0 {
			c.aus = append(c.aus, cur)
			c.key = append(c.key, curKey)
		}
		cur, curKey = nil, false
	}
	for _, n := range splitAnnexB(b) {
		if len(n) < 3 {
			continue
		}
		if !h265 {
			switch t := n[0] & 0x1f; t {
			case 7:
				c.sps = n
			case 8:
				c.pps = n
			case 9: // access unit delimiter: dropped
			case 1, 5:
				if n[1]&0x80 != 0 { // first_mb_in_slice == 0
					flush()
					cur = append(cur, pending...)
					pending = nil
					curKey = t == 5
				}
				cur = append(cur, n)
			default:
				pending = append(pending, n)
			}
			continue
		}
		switch t := (n[0] >> 1) & 0x3f; {
		case t == 32:
			c.vps = n
		case t == 33:
			c.sps = n
		case t == 34:
			c.pps = n
		case t == 35: // AUD
		case t <= 21: // VCL
			if n[2]&0x80 != 0 { // first_slice_segment_in_pic_flag
				flush()
				cur = append(cur, pending...)
				pending = nil
				curKey = t >= 16
			}
			cur = append(cur, n)
		default:
			pending = append(pending, n)
		}
	}
	flush()
	if c.sps == nil || c.pps == nil || (h265 && c.vps == nil) {
		return nil, fmt.Errorf("parameter sets missing")
	}
	if len(c.aus) == 0 || !c.key[0] {
		return nil, fmt.Errorf("clip must start with a key frame (%d access units)", len(c.aus))
	}
	return c, nil
}

// frameDuration is the duration of one access unit.
const frameDuration = time.Second / clipFPS

// withParams returns access unit i with parameter sets prepended when it is a key frame.
func (c *clip) withParams(i int) [][]byte {
	au := c.aus[i]
	if !c.key[i] {
		return au
	}
	out := make([][]byte, 0, len(au)+3)
	if c.h265 {
		out = append(out, c.vps)
	}
	out = append(out, c.sps, c.pps)
	return append(out, au...)
}
