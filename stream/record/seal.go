package record

import (
	"bufio"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"
)

// Sealed segment file format (version 1). Everything after the header is
// a sequence of chunks; the file's SHA-256 (stored in the index) covers
// every byte, header included.
//
//	header:  "GWREC1\n" | version (1) | chunk size (uint32) | nonce prefix (7 bytes)
//	         | start (int64 µs since the epoch) | key ID (uint8 length + bytes)
//	         | camera ID (uint8 length + bytes)
//	chunk:   length (uint32: bit 31 set on the final chunk, then the
//	         ciphertext length) | AES-256-GCM ciphertext with its tag
//
// A chunk holds at most the chunk size of plaintext; it is sealed when
// full, and earlier when the recorder seals on time (Flush: every
// Config.SealInterval of footage), so a chunk may be shorter. FORMAT.md
// beside this file describes the format, the fsync policy and recovery.
//
// Chunk i is sealed with the camera-day data key, nonce = prefix || i
// (uint32) || final (1 byte), and the header as additional data. So each
// chunk is authenticated before its plaintext is used, chunks cannot be
// reordered, dropped or moved to another file, and a truncated file is
// detected (no final chunk). The prefix is random per file: at most a few
// thousand files share a key, so 56 random bits never repeat in practice.
const (
	sealMagic        = "GWREC1\n"
	sealVersion      = 1
	finalFlag        = 1 << 31
	gcmTag           = 16
	noncePrefixBytes = 7
	// DefaultChunkSize is the plaintext size of a chunk.
	DefaultChunkSize = 128 << 10
	maxChunkSize     = 16 << 20
)

// Errors of sealed files.
var (
	// ErrTampered: a segment failed authentication or its SHA-256 does
	// not match the index (edited, truncated, replaced or corrupted).
	ErrTampered = errors.New("record: segment failed verification")
	// ErrKeyDestroyed: the segment's data key was destroyed (retention).
	ErrKeyDestroyed = errors.New("record: data key destroyed")
	// errTruncated (with ErrTampered) marks a file that ends inside or
	// before a chunk without its final chunk: for a finished segment,
	// tampering; for a segment in progress at a crash, the torn chunk the
	// process was writing.
	errTruncated = errors.New("truncated")
)

type sealHeader struct {
	chunkSize int
	prefix    [noncePrefixBytes]byte
	start     time.Time
	keyID     string
	camera    string
	raw       []byte
}

func (h *sealHeader) marshal() []byte {
	b := make([]byte, 0, 64+len(h.keyID)+len(h.camera))
	b = append(b, sealMagic...)
	b = append(b, sealVersion)
	b = binary.BigEndian.AppendUint32(b, uint32(h.chunkSize))
	b = append(b, h.prefix[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(h.start.UnixMicro()))
	b = append(b, byte(len(h.keyID)))
	b = append(b, h.keyID...)
	b = append(b, byte(len(h.camera)))
	b = append(b, h.camera...)
	h.raw = b
	return b
}

// readSealHeader reads and parses a header from r.
func readSealHeader(r io.Reader) (*sealHeader, error) {
	fixed := make([]byte, len(sealMagic)+1+4+noncePrefixBytes+8+1)
	if _, err := io.ReadFull(r, fixed); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrTampered, err)
	}
	if string(fixed[:len(sealMagic)]) != sealMagic || fixed[len(sealMagic)] != sealVersion {
		return nil, fmt.Errorf("%w: not a sealed segment", ErrTampered)
	}
	p := fixed[len(sealMagic)+1:]
	h := &sealHeader{chunkSize: int(binary.BigEndian.Uint32(p))}
	copy(h.prefix[:], p[4:])
	h.start = time.UnixMicro(int64(binary.BigEndian.Uint64(p[4+noncePrefixBytes:])))
	if h.chunkSize <= 0 || h.chunkSize > maxChunkSize {
		return nil, fmt.Errorf("%w: chunk size %d", ErrTampered, h.chunkSize)
	}
	kl := int(p[len(p)-1])
	rest := make([]byte, kl+1)
	if _, err := io.ReadFull(r, rest); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrTampered, err)
	}
	h.keyID = string(rest[:kl])
	cl := int(rest[kl])
	cam := make([]byte, cl)
	if _, err := io.ReadFull(r, cam); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrTampered, err)
	}
	h.camera = string(cam)
	h.raw = append(append(fixed, rest...), cam...)
	return h, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	blk, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(blk)
}

func chunkNonce(dst []byte, prefix [noncePrefixBytes]byte, i uint32, final bool) []byte {
	dst = append(dst[:0], prefix[:]...)
	dst = binary.BigEndian.AppendUint32(dst, i)
	if final {
		return append(dst, 1)
	}
	return append(dst, 0)
}

// sealWriter encrypts a stream into w in chunks. reserve, when set, is
// asked before every write for the bytes about to be written; an error
// from it aborts the write (disk quota).
type sealWriter struct {
	w       io.Writer
	aead    cipher.AEAD
	hdr     *sealHeader
	buf     []byte
	out     []byte
	nonce   []byte
	i       uint32
	sum     hash.Hash
	n       int64
	reserve func(int64) error
	done    bool
}

func newSealWriter(w io.Writer, dek []byte, keyID, camera string, start time.Time, chunkSize int,
	reserve func(int64) error) (*sealWriter, error) {
	if chunkSize <= 0 {
		chunkSize = DefaultChunkSize
	}
	aead, err := newGCM(dek)
	if err != nil {
		return nil, err
	}
	h := &sealHeader{chunkSize: chunkSize, start: start, keyID: keyID, camera: camera}
	if _, err := rand.Read(h.prefix[:]); err != nil {
		return nil, err
	}
	s := &sealWriter{w: w, aead: aead, hdr: h, buf: make([]byte, 0, chunkSize),
		out: make([]byte, 0, chunkSize+gcmTag+4), sum: sha256.New(), reserve: reserve}
	if err := s.emit(h.marshal()); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *sealWriter) emit(b []byte) error {
	if s.reserve != nil {
		if err := s.reserve(int64(len(b))); err != nil {
			return err
		}
	}
	n, err := s.w.Write(b)
	s.sum.Write(b[:n])
	s.n += int64(n)
	return err
}

func (s *sealWriter) Write(p []byte) (int, error) {
	if s.done {
		return 0, errors.New("record: write after close")
	}
	total := len(p)
	for len(p) > 0 {
		room := s.hdr.chunkSize - len(s.buf)
		k := min(room, len(p))
		s.buf = append(s.buf, p[:k]...)
		p = p[k:]
		if len(s.buf) == s.hdr.chunkSize {
			if err := s.seal(false); err != nil {
				return total - len(p), err
			}
		}
	}
	return total, nil
}

func (s *sealWriter) seal(final bool) error {
	s.nonce = chunkNonce(s.nonce, s.hdr.prefix, s.i, final)
	s.i++
	ln := uint32(len(s.buf) + gcmTag)
	if final {
		ln |= finalFlag
	}
	s.out = binary.BigEndian.AppendUint32(s.out[:0], ln)
	s.out = s.aead.Seal(s.out, s.nonce, s.buf, s.hdr.raw)
	s.buf = s.buf[:0]
	return s.emit(s.out)
}

// Flush seals the plaintext buffered so far as a (short) chunk, so that
// it reaches the file now rather than when the chunk is full. A crash
// after Flush keeps everything written before it: the reader accepts
// chunks shorter than the chunk size. Nothing buffered: nothing written.
func (s *sealWriter) Flush() error {
	if s.done {
		return errors.New("record: flush after close")
	}
	if len(s.buf) == 0 {
		return nil
	}
	return s.seal(false)
}

// Pending is the plaintext not yet written.
func (s *sealWriter) Pending() int { return len(s.buf) }

// Close seals the final chunk. It does not close w.
func (s *sealWriter) Close() error {
	if s.done {
		return nil
	}
	s.done = true
	return s.seal(true)
}

// Sum is the SHA-256 of everything written.
func (s *sealWriter) Sum() []byte { return s.sum.Sum(nil) }

// Size is the number of bytes written.
func (s *sealWriter) Size() int64 { return s.n }

// sealReader decrypts a sealed stream, verifying every chunk as it is read
// and, at the end, the SHA-256 of the whole file against want (when set).
type sealReader struct {
	r      *bufio.Reader
	aead   cipher.AEAD
	hdr    *sealHeader
	sum    hash.Hash
	want   []byte
	plain  []byte
	ct     []byte
	nonce  []byte
	i      uint32
	final  bool
	err    error
	nbytes int64
}

// openSealed reads the header of r and returns it with a function that,
// given the data key, yields the verifying reader. The split lets the
// caller look the key up by the header's key ID.
func openSealed(r io.Reader, want []byte) (*sealHeader, func(dek []byte) (*sealReader, error), error) {
	sum := sha256.New()
	br := bufio.NewReaderSize(io.TeeReader(r, sum), 64<<10)
	h, err := readSealHeader(br)
	if err != nil {
		return nil, nil, err
	}
	return h, func(dek []byte) (*sealReader, error) {
		aead, err := newGCM(dek)
		if err != nil {
			return nil, err
		}
		return &sealReader{r: br, aead: aead, hdr: h, sum: sum, want: want}, nil
	}, nil
}

func (s *sealReader) next() error {
	var lb [4]byte
	if _, err := io.ReadFull(s.r, lb[:]); err != nil {
		return fmt.Errorf("%w: %w (chunk %d): %v", ErrTampered, errTruncated, s.i, err)
	}
	ln := binary.BigEndian.Uint32(lb[:])
	final := ln&finalFlag != 0
	ln &^= finalFlag
	if ln < gcmTag || int(ln) > s.hdr.chunkSize+gcmTag {
		return fmt.Errorf("%w: chunk %d length %d", ErrTampered, s.i, ln)
	}
	if cap(s.ct) < int(ln) {
		s.ct = make([]byte, ln)
	}
	s.ct = s.ct[:ln]
	if _, err := io.ReadFull(s.r, s.ct); err != nil {
		return fmt.Errorf("%w: %w (chunk %d): %v", ErrTampered, errTruncated, s.i, err)
	}
	s.nonce = chunkNonce(s.nonce, s.hdr.prefix, s.i, final)
	pt, err := s.aead.Open(s.plain[:0], s.nonce, s.ct, s.hdr.raw)
	if err != nil {
		return fmt.Errorf("%w: chunk %d does not authenticate", ErrTampered, s.i)
	}
	s.i++
	s.plain = pt
	if final {
		s.final = true
		// Nothing may follow the final chunk.
		if _, err := s.r.ReadByte(); err != io.EOF {
			return fmt.Errorf("%w: data after the final chunk", ErrTampered)
		}
		if s.want != nil && subtle.ConstantTimeCompare(s.sum.Sum(nil), s.want) != 1 {
			return fmt.Errorf("%w: SHA-256 differs from the index", ErrTampered)
		}
	}
	return nil
}

func (s *sealReader) Read(p []byte) (int, error) {
	for len(s.plain) == 0 {
		if s.err != nil {
			return 0, s.err
		}
		if s.final {
			return 0, io.EOF
		}
		if err := s.next(); err != nil {
			s.err = err
			return 0, err
		}
	}
	n := copy(p, s.plain)
	s.plain = s.plain[n:]
	s.nbytes += int64(n)
	return n, nil
}

// verifySealed reads a whole sealed stream and returns its SHA-256 and
// size; with a nil dek only the framing and the hash are checked.
func digest(r io.Reader) ([]byte, int64, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	return h.Sum(nil), n, err
}
