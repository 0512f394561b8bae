package pglocal

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// DefaultPlaceDir is Config.PlaceDir's default.
const DefaultPlaceDir = "/var/lib/gwanje-postgres"

// place moves cfg.DataDir to where the server's OS user can reach it, when
// it cannot reach it where it is: it follows the place recorded in
// DataDir+".location", or, for a new cluster whose parents that user cannot
// enter, chooses one under PlaceDir and records it. An existing cluster or
// a non-empty directory at DataDir is left where it is (then prepareDir or
// initdb say what is wrong).
func place(cfg *Config, cred *syscall.Credential) error {
	loc := cfg.DataDir + ".location"
	b, err := os.ReadFile(loc)
	switch {
	case err == nil:
		dir := strings.TrimSpace(string(b))
		if !filepath.IsAbs(dir) || filepath.Clean(dir) != dir {
			return fmt.Errorf("pglocal: %s records the cluster at %q, which is not a clean absolute path: fix or remove the file", loc, dir)
		}
		if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
			cfg.Logger.Warn("the PostgreSQL cluster recorded for this data dir is gone; a new one is made there", "cluster", dir, "recorded_in", loc)
		}
		cfg.Logger.Info("PostgreSQL cluster lives outside the data dir", "cluster", dir, "recorded_in", loc)
		cfg.DataDir = dir
		return nil
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("pglocal: %w", err)
	}
	if entries, err := os.ReadDir(cfg.DataDir); err == nil && len(entries) > 0 {
		return nil
	}
	parent := filepath.Dir(cfg.DataDir)
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return fmt.Errorf("pglocal: data dir %s: %w", cfg.DataDir, err)
	}
	blocked, err := blocking(parent, cred)
	if err != nil {
		return fmt.Errorf("pglocal: data dir %s: %w", cfg.DataDir, err)
	}
	if blocked == "" {
		return nil
	}

	// The OS user cannot enter blocked (e.g. /root, mode 0700): the cluster
	// goes under PlaceDir, which root owns and only lets others traverse.
	if err := os.MkdirAll(cfg.PlaceDir, 0o711); err != nil {
		return fmt.Errorf("pglocal: %s cannot be entered by the PostgreSQL OS user (uid %d), and the cluster cannot be placed in %s instead: %w", blocked, cred.Uid, cfg.PlaceDir, err)
	}
	if p, err := blocking(cfg.PlaceDir, cred); err != nil || p != "" {
		return fmt.Errorf("pglocal: %s cannot be entered by the PostgreSQL OS user (uid %d), nor can %s (%v): choose a data dir elsewhere", blocked, cred.Uid, p, err)
	}
	var rnd [4]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return err
	}
	base := filepath.Join(cfg.PlaceDir, fmt.Sprintf("%08x-%s", hashString(cfg.DataDir), hex.EncodeToString(rnd[:])))
	if err := prepareDir(base, cred); err != nil {
		return fmt.Errorf("pglocal: cluster place %s: %w", base, err)
	}
	dir := filepath.Join(base, "data")
	// Recorded before initdb, so that an interrupted first start comes
	// back to the same place.
	tmp := loc + ".tmp"
	if err := os.WriteFile(tmp, []byte(dir+"\n"), 0o600); err != nil {
		return fmt.Errorf("pglocal: record the cluster's place: %w", err)
	}
	if err := os.Rename(tmp, loc); err != nil {
		return fmt.Errorf("pglocal: record the cluster's place: %w", err)
	}
	cfg.Logger.Info("the PostgreSQL OS user cannot enter "+blocked+", so the cluster lives outside the data dir",
		"cluster", dir, "recorded_in", loc, "os_user", cfg.OSUser)
	cfg.DataDir = dir
	return nil
}
