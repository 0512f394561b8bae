package record

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"testing"
	"time"
)

func sealBytes(t *testing.T, dek, plain []byte, chunk int) ([]byte, []byte) {
	t.Helper()
	var buf bytes.Buffer
	w, err := newSealWriter(&buf, dek, "k1", "cam-1", time.UnixMicro(1_700_000_000_000_000), chunk, nil)
	if err != nil {
		t.Fatal(err)
	}
	for p := plain; len(p) > 0; {
		n := min(len(p), 1000)
		if _, err := w.Write(p[:n]); err != nil {
			t.Fatal(err)
		}
		p = p[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if int64(buf.Len()) != w.Size() {
		t.Fatalf("size %d, written %d", w.Size(), buf.Len())
	}
	return buf.Bytes(), w.Sum()
}

func unseal(file, dek, want []byte) ([]byte, error) {
	_, open, err := openSealed(bytes.NewReader(file), want)
	if err != nil {
		return nil, err
	}
	r, err := open(dek)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

func TestSealRoundTripAndTampering(t *testing.T) {
	dek := make([]byte, 32)
	rand.Read(dek)
	plain := make([]byte, 50_000)
	rand.Read(plain)
	file, sum := sealBytes(t, dek, plain, 4096)
	got, err := unseal(file, dek, sum)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("round trip: %v (equal %v)", err, bytes.Equal(got, plain))
	}
	other, _ := sealBytes(t, dek, plain, 4096) // same key and content, another file
	hdrLen := len(sealMagic) + 1 + 4 + noncePrefixBytes + 8 + 1 + 2 + 1 + 5
	wrongKey := make([]byte, 32)
	for _, tc := range []struct {
		name   string
		mutate func([]byte) []byte
		key    []byte
		want   []byte
	}{
		{"flipped byte in a chunk", func(b []byte) []byte { b[len(b)/2] ^= 1; return b }, dek, sum},
		{"flipped byte in the header", func(b []byte) []byte { b[hdrLen-3] ^= 1; return b }, dek, nil},
		{"truncated at a chunk boundary", func(b []byte) []byte { return b[:hdrLen+2*(4+4096+16)] }, dek, nil},
		{"truncated in a chunk", func(b []byte) []byte { return b[:len(b)-7] }, dek, nil},
		{"appended data", func(b []byte) []byte { return append(b, 0) }, dek, nil},
		{"chunks swapped", func(b []byte) []byte {
			c := 4 + 4096 + 16
			x := append([]byte(nil), b[hdrLen:hdrLen+c]...)
			copy(b[hdrLen:], b[hdrLen+c:hdrLen+2*c])
			copy(b[hdrLen+c:], x)
			return b
		}, dek, nil},
		{"other file's chunk", func(b []byte) []byte {
			c := 4 + 4096 + 16
			copy(b[hdrLen+c:hdrLen+2*c], other[hdrLen+c:hdrLen+2*c])
			return b
		}, dek, nil},
		{"wrong key", func(b []byte) []byte { return b }, wrongKey, nil},
		{"other valid file, index hash", func([]byte) []byte { return append([]byte(nil), other...) }, dek, sum},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.mutate(append([]byte(nil), file...))
			_, err := unseal(b, tc.key, tc.want)
			if !errors.Is(err, ErrTampered) {
				t.Fatalf("err = %v, want ErrTampered", err)
			}
		})
	}
}

func TestSealEmptyAndExactChunks(t *testing.T) {
	dek := make([]byte, 32)
	for _, n := range []int{0, 1, 4096, 8192, 8193} {
		plain := bytes.Repeat([]byte{7}, n)
		file, sum := sealBytes(t, dek, plain, 4096)
		got, err := unseal(file, dek, sum)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("n=%d: %v", n, err)
		}
	}
}
