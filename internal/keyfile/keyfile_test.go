package keyfile

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	childEnv = "GWANJE_KEYFILE_CHILD"
	goEnv    = "GWANJE_KEYFILE_GO"
)

// TestMain lets the test binary act as a racing process: with childEnv set
// to a key path it waits for the go file, creates the key from 8 goroutines
// and prints what each read.
func TestMain(m *testing.M) {
	if path := os.Getenv(childEnv); path != "" {
		os.Exit(child(path, os.Getenv(goEnv)))
	}
	os.Exit(m.Run())
}

func child(path, goFile string) int {
	for {
		if _, err := os.Stat(goFile); err == nil {
			break
		}
		time.Sleep(time.Millisecond) // poll for the start signal
	}
	out, errs := race(path, 8)
	for _, err := range errs {
		fmt.Fprintln(os.Stderr, err)
	}
	if len(errs) > 0 {
		return 1
	}
	for _, b := range out {
		fmt.Println(hex.EncodeToString(b))
	}
	return 0
}

// race calls LoadOrCreate from n goroutines released at once.
func race(path string, n int) ([][]byte, []error) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	out := make([][]byte, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			out[i], errs[i] = LoadOrCreate(path, Random(32), Size(32))
		}()
	}
	close(start)
	wg.Wait()
	var bad []error
	for _, err := range errs {
		if err != nil {
			bad = append(bad, err)
		}
	}
	return out, bad
}

func TestConcurrentGoroutinesOneKey(t *testing.T) {
	for round := range 20 {
		path := filepath.Join(t.TempDir(), "keys", "k.key")
		out, errs := race(path, 32)
		if len(errs) > 0 {
			t.Fatalf("round %d: %v", round, errs)
		}
		onDisk, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for i, b := range out {
			if !bytes.Equal(b, onDisk) {
				t.Fatalf("round %d: goroutine %d read %x, file holds %x", round, i, b, onDisk)
			}
		}
		assertClean(t, filepath.Dir(path))
	}
}

// TestTwoProcessesOneKey starts two real processes (this test binary) that
// race, each from 8 goroutines, to create the same key in a shared
// directory, and checks that all 16 read the bytes left in the file.
func TestTwoProcessesOneKey(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for round := range 5 {
		dir := t.TempDir()
		path := filepath.Join(dir, "shared", "totp.key")
		goFile := filepath.Join(dir, "go")
		var outs [2]bytes.Buffer
		var cmds [2]*exec.Cmd
		for i := range cmds {
			c := exec.Command(exe, "-test.run=^$")
			c.Env = append(os.Environ(), childEnv+"="+path, goEnv+"="+goFile)
			c.Stdout = &outs[i]
			c.Stderr = os.Stderr
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			cmds[i] = c
		}
		if err := os.WriteFile(goFile, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		for i, c := range cmds {
			if err := c.Wait(); err != nil {
				t.Fatalf("round %d: process %d: %v", round, i, err)
			}
		}
		onDisk, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		want := hex.EncodeToString(onDisk)
		n := 0
		for i := range outs {
			for _, line := range strings.Fields(outs[i].String()) {
				n++
				if line != want {
					t.Fatalf("round %d: process %d read %s, file holds %s", round, i, line, want)
				}
			}
		}
		if n != 16 {
			t.Fatalf("round %d: %d reads, want 16", round, n)
		}
		assertClean(t, filepath.Dir(path))
	}
}

// assertClean checks that only the key is left: no temporary files.
func assertClean(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Fatalf("key dir holds %q, want only the key", names)
	}
	st, err := os.Stat(filepath.Join(dir, ents[0].Name()))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key mode %04o, want 0600", st.Mode().Perm())
	}
	dst, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if dst.Mode().Perm() != 0o700 {
		t.Fatalf("key dir mode %04o, want 0700", dst.Mode().Perm())
	}
}

func TestReadRefuses(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	key := bytes.Repeat([]byte{7}, 32)
	tests := []struct {
		name string
		path string
		want error
	}{
		{"group readable", write("g.key", key, 0o640), ErrMode},
		{"world readable", write("o.key", key, 0o604), ErrMode},
		{"group writable", write("w.key", key, 0o620), ErrMode},
		{"short", write("s.key", key[:31], 0o600), ErrContents},
		{"long", write("l.key", append(key, 1), 0o600), ErrContents},
		{"empty", write("e.key", nil, 0o600), ErrContents},
		{"directory", func() string { p := filepath.Join(dir, "d.key"); _ = os.Mkdir(p, 0o700); return p }(), ErrContents},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := os.ReadFile(tc.path)
			_, err := LoadOrCreate(tc.path, Random(32), Size(32))
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			after, _ := os.ReadFile(tc.path)
			if !bytes.Equal(before, after) {
				t.Fatal("a refused key file was changed")
			}
		})
	}
	ok := write("ok.key", key, 0o600)
	if b, err := LoadOrCreate(ok, Random(32), Size(32)); err != nil || !bytes.Equal(b, key) {
		t.Fatalf("good key: %x %v", b, err)
	}
}

func TestDecodeKey(t *testing.T) {
	raw := bytes.Repeat([]byte{0xab}, 32)
	tests := []struct {
		in   []byte
		ok   bool
		name string
	}{
		{raw, true, "raw"},
		{[]byte(hex.EncodeToString(raw)), true, "hex"},
		{[]byte(" " + hex.EncodeToString(raw) + "\n"), true, "hex with space"},
		{[]byte(hex.EncodeToString(raw[:31])), false, "short hex"},
		{[]byte("zz" + hex.EncodeToString(raw[:31])), false, "not hex"},
	}
	for _, tc := range tests {
		k, err := DecodeKey(tc.in, 32)
		if (err == nil) != tc.ok || (tc.ok && !bytes.Equal(k, raw)) {
			t.Errorf("%s: %x %v", tc.name, k, err)
		}
	}
	path := filepath.Join(t.TempDir(), "h.key")
	a, err := LoadOrCreate(path, RandomHex(32), KeyCheck(32))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeKey(a, 32); err != nil || len(a) != 65 {
		t.Fatalf("hex key %q: %v", a, err)
	}
}

func TestEd25519(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sign.pem")
	k1, err := Ed25519(path)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := Ed25519(path)
	if err != nil || !k1.Equal(k2) {
		t.Fatalf("reloaded key differs: %v", err)
	}
	msg := []byte("m")
	if !ed25519.Verify(k1.Public().(ed25519.PublicKey), msg, ed25519.Sign(k2, msg)) {
		t.Fatal("signature does not verify")
	}
	bad := filepath.Join(t.TempDir(), "bad.pem")
	if err := os.WriteFile(bad, []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Ed25519(bad); !errors.Is(err, ErrContents) {
		t.Fatalf("bad PEM: %v", err)
	}
}
