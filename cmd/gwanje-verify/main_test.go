package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gwanje/gwanje/privacy/manifest"
)

func TestRun(t *testing.T) {
	dir := t.TempDir()
	key, err := manifest.LoadOrCreateKey(filepath.Join(dir, "export-signing.pem"))
	if err != nil {
		t.Fatal(err)
	}
	file := []byte("not really an mp4, but bytes all the same")
	sum := sha256.Sum256(file)
	md, err := manifest.Sign(manifest.Manifest{ExportID: "exp-1", Camera: "cam-a", CreatedAt: time.Now(),
		File: manifest.File{Name: "a.mp4", Size: int64(len(file)), SHA256: hex.EncodeToString(sum[:])}}, key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	pub := filepath.Join(dir, "export-signing.pem.pub")
	hexPub := write("pub.hex", []byte(hex.EncodeToString(key.Public().(ed25519.PublicKey))+"\n"))
	otherPub := write("other.pem", manifest.PublicKeyPEM(other.Public().(ed25519.PublicKey)))
	changed := bytes.Clone(file)
	changed[3] ^= 1
	for _, tc := range []struct {
		name           string
		file, md, key  string
		code           int
		stdout, stderr string
	}{
		{"ok", write("f", file), write("m", md), pub, 0, "VERIFIED", ""},
		{"hex key", write("f", file), write("m", md), hexPub, 0, "VERIFIED", ""},
		{"changed file", write("f2", changed), write("m", md), pub, 1, "", "NOT VERIFIED"},
		{"changed manifest", write("f", file), write("m2", bytes.Replace(md, []byte("cam-a"), []byte("cam-b"), 1)), pub, 1, "", "NOT VERIFIED"},
		{"other key", write("f", file), write("m", md), otherPub, 1, "", "NOT VERIFIED"},
		{"missing key", write("f", file), write("m", md), filepath.Join(dir, "nope"), 2, "", "bad key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run([]string{tc.file, tc.md, tc.key}, &out, &errb)
			if code != tc.code || !strings.Contains(out.String(), tc.stdout) || !strings.Contains(errb.String(), tc.stderr) {
				t.Fatalf("code %d\nstdout %s\nstderr %s", code, out.String(), errb.String())
			}
		})
	}
	var out, errb bytes.Buffer
	if run(nil, &out, &errb) != 2 {
		t.Fatal("usage")
	}
}
