package control

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Paging, the same on every List RPC (proto/API.md): page_size defaults to
// defaultPageSize and is capped at maxPageSize; next_page_token is opaque
// and bound to the request's filters, so a token replayed with other
// filters is refused instead of paging through the wrong list.
const (
	defaultPageSize = 100
	maxPageSize     = 1000
)

// pageOf returns the page of items that r's page_size and page_token ask
// for, and the token of the next page ("" on the last). r is the List
// request; its fields other than page_size and page_token are its filters.
func pageOf[T any](r proto.Message, items []T) ([]T, string, error) {
	size, token, digest := pageRequest(r)
	if size < 0 {
		return nil, "", status.Error(codes.InvalidArgument, "page_size must not be negative")
	}
	if size == 0 {
		size = defaultPageSize
	}
	size = min(size, maxPageSize)
	offset := 0
	if token != "" {
		var err error
		if offset, err = parsePageToken(token, digest); err != nil {
			return nil, "", err
		}
	}
	if offset >= len(items) {
		return nil, "", nil
	}
	end := min(offset+size, len(items))
	next := ""
	if end < len(items) {
		next = pageToken(end, digest)
	}
	return items[offset:end], next, nil
}

// pageRequest reads page_size and page_token off a List request and
// digests its other fields.
func pageRequest(r proto.Message) (size int, token string, digest []byte) {
	m := proto.Clone(r).ProtoReflect()
	fields := m.Descriptor().Fields()
	if f := fields.ByName("page_size"); f != nil {
		size = int(m.Get(f).Int())
		m.Clear(f)
	}
	if f := fields.ByName("page_token"); f != nil {
		token = m.Get(f).String()
		m.Clear(f)
	}
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(m.Interface())
	sum := sha256.Sum256(append([]byte(m.Descriptor().FullName()+"\x00"), b...))
	return size, token, sum[:8]
}

func pageToken(offset int, digest []byte) string {
	b := binary.BigEndian.AppendUint32(nil, uint32(offset))
	return base64.RawURLEncoding.EncodeToString(append(b, digest...))
}

func parsePageToken(token string, digest []byte) (int, error) {
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(b) != 4+len(digest) {
		return 0, status.Error(codes.InvalidArgument, "page_token is not one this server issued")
	}
	if string(b[4:]) != string(digest) {
		return 0, status.Error(codes.InvalidArgument, "page_token belongs to a listing with other filters: start again without it")
	}
	return int(binary.BigEndian.Uint32(b[:4])), nil
}
