package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/gwanje/gwanje/privacy/manifest"
)

func init() {
	register(command{name: "export", summary: "export verify FILE MANIFEST --key PUBKEY: prove an exported file is untouched and came from this system", run: runExport})
}

func runExport(ctx context.Context, c *cli, args []string) error {
	if len(args) == 0 || args[0] != "verify" {
		return errors.New("usage: gwanje export verify FILE MANIFEST --key PUBKEY")
	}
	fs := newFlags("export verify", c)
	key := fs.String("key", "", "the system's export public key (export-signing.pem.pub from the server's key dir) (required)")
	var pos []string
	rest := args[1:]
	for len(rest) > 0 {
		if err := fs.Parse(rest); err != nil {
			return err
		}
		rest = fs.Args()
		if len(rest) > 0 {
			pos, rest = append(pos, rest[0]), rest[1:]
		}
	}
	if len(pos) != 2 || *key == "" {
		return errors.New("usage: gwanje export verify FILE MANIFEST --key PUBKEY")
	}
	m, err := manifest.VerifyFiles(pos[0], pos[1], *key)
	if err != nil {
		if errors.Is(err, manifest.ErrVerify) {
			return fmt.Errorf("NOT VERIFIED: %w", err)
		}
		return err
	}
	manifest.WriteSummary(c.stdout, pos[0], m)
	return nil
}
