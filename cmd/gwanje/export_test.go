package main

import (
	"bytes"
	"context"
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

func TestExportVerify(t *testing.T) {
	dir := t.TempDir()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	data := []byte("not really an mp4, but bytes whose hash the manifest names")
	sum := sha256.Sum256(data)
	m := manifest.Manifest{ExportID: "x1", Camera: "cam-1", From: time.Now().Add(-time.Hour), To: time.Now(),
		File: manifest.File{Name: "x1.mp4", Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:]), Format: "video/mp4"}}
	signed, err := manifest.Sign(m, priv)
	if err != nil {
		t.Fatal(err)
	}
	file, man, key := filepath.Join(dir, "x1.mp4"), filepath.Join(dir, "x1.manifest.json"), filepath.Join(dir, "export.pub")
	os.WriteFile(file, data, 0o600)
	os.WriteFile(man, signed, 0o600)
	os.WriteFile(key, manifest.PublicKeyPEM(pub), 0o600)

	run := func() (int, string) {
		var out, errb bytes.Buffer
		code := runCLI(context.Background(), []string{"export", "verify", file, man, "--key", key}, strings.NewReader(""), &out, &errb)
		return code, out.String() + errb.String()
	}
	if code, out := run(); code != 0 || !strings.Contains(out, "VERIFIED") {
		t.Fatalf("good export: %d %s", code, out)
	}
	data[3] ^= 1
	os.WriteFile(file, data, 0o600)
	if code, out := run(); code == 0 || !strings.Contains(out, "NOT VERIFIED") {
		t.Fatalf("changed export: %d %s", code, out)
	}
}
