// Command gwanje-verify proves that an exported file (반출 영상) is untouched
// and came from a gwanje system, with nothing but that system's export
// public key:
//
//	gwanje-verify FILE MANIFEST PUBKEY
//
// PUBKEY is the PEM file (export-signing.pem.pub in the server's data dir)
// or 64 hex digits in a file. It exits 0 and prints what the manifest says
// when the signature and the file's SHA-256 and size match, 1 when they do
// not, 2 on usage errors.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/gwanje/gwanje/privacy/manifest"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) != 3 {
		fmt.Fprintln(stderr, "usage: gwanje-verify FILE MANIFEST PUBKEY")
		return 2
	}
	m, err := manifest.VerifyFiles(args[0], args[1], args[2])
	if err != nil {
		if errors.Is(err, manifest.ErrVerify) {
			fmt.Fprintf(stderr, "NOT VERIFIED: %v\n", err)
			return 1
		}
		fmt.Fprintf(stderr, "gwanje-verify: %v\n", err)
		return 2
	}
	kst := time.FixedZone("KST", 9*3600)
	f := func(t time.Time) string { return t.In(kst).Format("2006-01-02 15:04:05") }
	fmt.Fprintf(stdout, "VERIFIED: %s is export %s of this system, unchanged\n", args[0], m.ExportID)
	fmt.Fprintf(stdout, "  camera      %s\n  footage     %s ~ %s (%d frames, %s, %s)\n", m.Camera, f(m.FirstFrame), f(m.LastFrame), m.Frames, m.Codec, m.Form)
	fmt.Fprintf(stdout, "  file        %d bytes, SHA-256 %s\n", m.File.Size, m.File.SHA256)
	fmt.Fprintf(stdout, "  segments    %d source segments, hashes verified when exported\n", len(m.Segments))
	fmt.Fprintf(stdout, "  masks       %d\n", len(m.Masks))
	fmt.Fprintf(stdout, "  reference   %s (%s)\n  requested   %s at %s\n  approved    %s at %s\n  created     %s\n",
		m.Reference, m.Purpose, m.RequestedBy, f(m.RequestedAt), m.ApprovedBy, f(m.ApprovedAt), f(m.CreatedAt))
	return 0
}
