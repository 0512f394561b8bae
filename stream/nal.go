package stream

// codec is the video codec of an upstream.
type codec int

const (
	codecH264 codec = iota + 1
	codecH265
)

func (c codec) String() string {
	switch c {
	case codecH264:
		return "H264"
	case codecH265:
		return "H265"
	}
	return "unknown"
}

// isRandomAccess reports whether an RTP payload carries (the start of) a
// NAL unit a decoder can start from: an H.264 IDR slice, or an H.265 IRAP
// picture (BLA, IDR, CRA). It looks into single NAL unit packets,
// aggregation packets (STAP-A, AP) and the first fragment of fragmented
// units (FU-A, FU); it never reads past the payload.
func isRandomAccess(c codec, p []byte) bool {
	switch c {
	case codecH264:
		return h264RandomAccess(p)
	case codecH265:
		return h265RandomAccess(p)
	}
	return false
}

func h264RandomAccess(p []byte) bool {
	if len(p) < 1 {
		return false
	}
	switch t := p[0] & 0x1f; {
	case t >= 1 && t <= 23:
		return t == 5
	case t == 24: // STAP-A
		for i := 1; i+2 < len(p); {
			n := int(p[i])<<8 | int(p[i+1])
			i += 2
			if n == 0 || i+n > len(p) {
				return false
			}
			if p[i]&0x1f == 5 {
				return true
			}
			i += n
		}
	case t == 28: // FU-A
		return len(p) >= 2 && p[1]&0x80 != 0 && p[1]&0x1f == 5
	}
	return false
}

func h265Irap(t byte) bool { return t >= 16 && t <= 21 }

func h265RandomAccess(p []byte) bool {
	if len(p) < 2 {
		return false
	}
	switch t := (p[0] >> 1) & 0x3f; {
	case t < 48:
		return h265Irap(t)
	case t == 48: // AP
		for i := 2; i+2 < len(p); {
			n := int(p[i])<<8 | int(p[i+1])
			i += 2
			if n == 0 || i+n > len(p) {
				return false
			}
			if h265Irap((p[i] >> 1) & 0x3f) {
				return true
			}
			i += n
		}
	case t == 49: // FU
		return len(p) >= 3 && p[2]&0x80 != 0 && h265Irap(p[2]&0x3f)
	}
	return false
}
