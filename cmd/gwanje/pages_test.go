package main

import (
	"errors"
	"testing"

	pb "github.com/gwanje/gwanje/proto/gwanje/v1"
)

func TestAllPagesFollowsTokens(t *testing.T) {
	pages := map[string]*pb.ListRecordingsResponse{
		"":   {Spans: []*pb.RecordedSpan{{Node: "a"}, {Node: "b"}}, Gaps: []*pb.Gap{{}}, NextPageToken: "t1"},
		"t1": {Spans: []*pb.RecordedSpan{{Node: "c"}}, Gaps: []*pb.Gap{{}}, NextPageToken: "t2"},
		"t2": {Spans: []*pb.RecordedSpan{{Node: "d"}}},
	}
	var asked []string
	res, err := allPages(func(token string) (*pb.ListRecordingsResponse, error) {
		asked = append(asked, token)
		return pages[token], nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var nodes string
	for _, s := range res.GetSpans() {
		nodes += s.GetNode()
	}
	if nodes != "abcd" || len(res.GetGaps()) != 2 || res.GetNextPageToken() != "" || len(asked) != 3 {
		t.Fatalf("spans %q, %d gaps, next %q after asking %q", nodes, len(res.GetGaps()), res.GetNextPageToken(), asked)
	}
}

func TestAllPagesStops(t *testing.T) {
	boom := errors.New("boom")
	for _, tc := range []struct {
		name string
		page func(string) (*pb.ListUsersResponse, error)
	}{
		{"an error on a later page", func(tok string) (*pb.ListUsersResponse, error) {
			if tok != "" {
				return nil, boom
			}
			return &pb.ListUsersResponse{NextPageToken: "x"}, nil
		}},
		{"a repeated token", func(string) (*pb.ListUsersResponse, error) {
			return &pb.ListUsersResponse{NextPageToken: "same"}, nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := allPages(tc.page); err == nil {
				t.Fatal("no error")
			}
		})
	}
}
