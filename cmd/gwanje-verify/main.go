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
	manifest.WriteSummary(stdout, args[0], m)
	return 0
}
