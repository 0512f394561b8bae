// Package keyfile creates and reads the secret key files of a gwanje
// installation (camera credentials, audit signing, export signing, recording,
// TOTP). Every key file is made by LoadOrCreate: the new key is written to a
// private temporary file (O_EXCL, mode 0600) that is synced, then linked into
// place with link(2), which fails when the name exists, and the directory is
// synced. So processes starting at once on a shared key directory end with one
// key, and no process ever reads a half-written file. A key file readable or
// writable by group or other is refused, as is one whose contents the caller's
// check rejects (a wrong size).
package keyfile

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
)

// MaxSize bounds the size of a key file that is read.
const MaxSize = 64 << 10

// ErrMode means a key file is accessible by group or other users.
var ErrMode = errors.New("keyfile: key file is accessible by other users")

// ErrContents means a key file's contents were rejected (wrong size or
// format).
var ErrContents = errors.New("keyfile: bad key file contents")

// Read reads an existing key file after checking that it is a regular file
// that only its owner may read or write and that it is not empty or larger
// than MaxSize. check, when set, validates the contents.
func Read(path string, check func([]byte) error) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("keyfile: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("keyfile: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrContents, path)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %04o; chmod 600 it", ErrMode, path, perm)
	}
	if st.Size() == 0 || st.Size() > MaxSize {
		return nil, fmt.Errorf("%w: %s holds %d bytes", ErrContents, path, st.Size())
	}
	b := make([]byte, st.Size())
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, fmt.Errorf("keyfile: read %s: %w", path, err)
	}
	if check != nil {
		if err := check(b); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrContents, path, err)
		}
	}
	return b, nil
}

// LoadOrCreate reads the key file at path (see Read), or, when it does not
// exist, creates it with the contents gen returns: directory 0700, file 0600,
// synced, published atomically so that of several processes or goroutines
// creating it at once exactly one wins and all return the winner's bytes.
func LoadOrCreate(path string, gen func() ([]byte, error), check func([]byte) error) ([]byte, error) {
	b, err := Read(path, check)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return b, err
	}
	nb, err := gen()
	if err != nil {
		return nil, fmt.Errorf("keyfile: generate %s: %w", path, err)
	}
	if check != nil {
		if err := check(nb); err != nil {
			return nil, fmt.Errorf("keyfile: generated key for %s: %w", path, err)
		}
	}
	created, err := create(path, nb)
	if err != nil {
		return nil, err
	}
	if created {
		return nb, nil
	}
	return Read(path, check) // another process or goroutine made it first
}

var tmpSeq atomic.Uint64

// create publishes b at path; it reports false when path already existed.
func create(path string, b []byte) (bool, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false, fmt.Errorf("keyfile: %w", err)
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmp := filepath.Join(dir, "."+filepath.Base(path)+".new-"+strconv.Itoa(os.Getpid())+"-"+
		strconv.FormatUint(tmpSeq.Add(1), 10)+"-"+hex.EncodeToString(rnd[:]))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return false, fmt.Errorf("keyfile: %w", err)
	}
	defer os.Remove(tmp)
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return false, fmt.Errorf("keyfile: write %s: %w", path, err)
	}
	// link(2) fails with EEXIST when path exists: the first one wins and
	// nobody ever sees a partial file.
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return false, nil
		}
		return false, fmt.Errorf("keyfile: create %s: %w", path, err)
	}
	if err := os.Remove(tmp); err != nil {
		return false, fmt.Errorf("keyfile: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return false, fmt.Errorf("keyfile: sync %s: %w", dir, err)
	}
	return true, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Random returns a generator of n random bytes.
func Random(n int) func() ([]byte, error) {
	return func() ([]byte, error) {
		b := make([]byte, n)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		return b, nil
	}
}

// Size returns a check that accepts exactly n bytes.
func Size(n int) func([]byte) error {
	return func(b []byte) error {
		if len(b) != n {
			return fmt.Errorf("holds %d bytes, want %d", len(b), n)
		}
		return nil
	}
}

// RandomHex returns a generator of n random bytes written as 2n hex digits
// and a newline.
func RandomHex(n int) func() ([]byte, error) {
	return func() ([]byte, error) {
		b, err := Random(n)()
		if err != nil {
			return nil, err
		}
		return []byte(hex.EncodeToString(b) + "\n"), nil
	}
}

// DecodeKey returns the n-byte key held in b: n raw bytes, or 2n hex digits
// with optional surrounding white space.
func DecodeKey(b []byte, n int) ([]byte, error) {
	if len(b) == n {
		return b, nil
	}
	k, err := hex.DecodeString(string(bytes.TrimSpace(b)))
	if err != nil || len(k) != n {
		return nil, fmt.Errorf("want %d bytes or %d hex digits", n, 2*n)
	}
	return k, nil
}

// KeyCheck returns a check that accepts what DecodeKey(b, n) accepts.
func KeyCheck(n int) func([]byte) error {
	return func(b []byte) error {
		_, err := DecodeKey(b, n)
		return err
	}
}

// Ed25519 loads the Ed25519 private key (PKCS#8 PEM, "PRIVATE KEY") at path,
// creating it as LoadOrCreate does when it does not exist.
func Ed25519(path string) (ed25519.PrivateKey, error) {
	b, err := LoadOrCreate(path, func() ([]byte, error) {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		der, err := x509.MarshalPKCS8PrivateKey(priv)
		if err != nil {
			return nil, err
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
	}, func(b []byte) error {
		_, err := parseEd25519(b)
		return err
	})
	if err != nil {
		return nil, err
	}
	return parseEd25519(b)
}

func parseEd25519(b []byte) (ed25519.PrivateKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, errors.New("not a PEM PRIVATE KEY")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, err
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, errors.New("not an Ed25519 key")
	}
	return priv, nil
}
