package manifest

import (
	"fmt"
	"io"
	"time"
)

// WriteSummary writes what a verified manifest says, for people checking an
// export (gwanje export verify, gwanje-verify).
func WriteSummary(w io.Writer, file string, m *Manifest) {
	kst := time.FixedZone("KST", 9*3600)
	f := func(t time.Time) string { return t.In(kst).Format("2006-01-02 15:04:05") }
	fmt.Fprintf(w, "VERIFIED: %s is export %s of this system, unchanged\n", file, m.ExportID)
	fmt.Fprintf(w, "  camera      %s\n  footage     %s ~ %s (%d frames, %s, %s)\n", m.Camera, f(m.FirstFrame), f(m.LastFrame), m.Frames, m.Codec, m.Form)
	fmt.Fprintf(w, "  file        %d bytes, SHA-256 %s\n", m.File.Size, m.File.SHA256)
	fmt.Fprintf(w, "  segments    %d source segments, hashes verified when exported\n", len(m.Segments))
	fmt.Fprintf(w, "  masks       %d\n", len(m.Masks))
	fmt.Fprintf(w, "  reference   %s (%s)\n  requested   %s at %s\n  approved    %s at %s\n  created     %s\n",
		m.Reference, m.Purpose, m.RequestedBy, f(m.RequestedAt), m.ApprovedBy, f(m.ApprovedAt), f(m.CreatedAt))
}
