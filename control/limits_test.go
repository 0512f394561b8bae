package control

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/gwanje/gwanje/audit"
	"github.com/gwanje/gwanje/camsim"
	pb "github.com/gwanje/gwanje/proto/gwanje/v1"
)

var updateDocs = flag.Bool("update", false, "rewrite generated documentation (proto/gwanje/v1/LIMITS.md)")

// apiFiles are the files of the gwanje API.
var apiFiles = []protoreflect.FileDescriptor{pb.File_gwanje_v1_access_proto, pb.File_gwanje_v1_system_proto,
	pb.File_gwanje_v1_audit_proto, pb.File_gwanje_v1_device_proto, pb.File_gwanje_v1_stream_proto,
	pb.File_gwanje_v1_health_proto, pb.File_gwanje_v1_policy_proto, pb.File_gwanje_v1_recording_proto,
	pb.File_gwanje_v1_privacy_proto}

func apiServices() []protoreflect.ServiceDescriptor {
	var out []protoreflect.ServiceDescriptor
	for _, fd := range apiFiles {
		for i := 0; i < fd.Services().Len(); i++ {
			out = append(out, fd.Services().Get(i))
		}
	}
	return out
}

// TestEveryRequestFieldHasALimit fails when a text, bytes or list field of
// any request (at any depth) has no entry in the table of limits.
func TestEveryRequestFieldHasALimit(t *testing.T) {
	rows, missing := documentedLimits(apiServices())
	if len(missing) > 0 {
		t.Fatalf("fields without a limit in control/limits.go: %v", missing)
	}
	if len(rows) < 200 {
		t.Fatalf("only %d bounded fields found; the walk misses messages", len(rows))
	}
}

const limitsDoc = "../proto/gwanje/v1/LIMITS.md"

func renderLimits() []byte {
	rows, _ := documentedLimits(apiServices())
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Limits of the gwanje API\n\n")
	fmt.Fprintf(&b, "Generated from control/limits.go by `go test ./control -run TestLimitsDoc -update`; do not edit.\n\n")
	fmt.Fprintf(&b, "Every text, bytes and list field of a request is bounded. A request beyond any limit is refused with\n")
	fmt.Fprintf(&b, "`InvalidArgument` (reason `INVALID_ARGUMENT`) before anything is done or recorded. Text is counted in\n")
	fmt.Fprintf(&b, "characters (Unicode code points), bytes fields in bytes, lists in elements. Text other than passwords\n")
	fmt.Fprintf(&b, "must be valid UTF-8 without bidirectional formatting characters (U+200E, U+200F, U+061C, U+202A–U+202E,\n")
	fmt.Fprintf(&b, "U+2066–U+2069), which would let it display as something else than it is.\n\n")
	fmt.Fprintf(&b, "Messages: the server reads requests of at most %d MiB and sends responses of at most %d MiB; clients\n", MaxRecvMsgSize>>20, MaxSendMsgSize>>20)
	fmt.Fprintf(&b, "should accept responses of %d MiB (the `gwanje` CLI does). Lists of results are paged.\n\n", MaxSendMsgSize>>20)
	fmt.Fprintf(&b, "| field | limit |\n|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| `%s` | %s |\n", r.Field, r.Limit)
	}
	return b.Bytes()
}

// TestLimitsDoc keeps proto/gwanje/v1/LIMITS.md equal to the table.
func TestLimitsDoc(t *testing.T) {
	want := renderLimits()
	if *updateDocs {
		if err := os.WriteFile(limitsDoc, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(limitsDoc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("proto/gwanje/v1/LIMITS.md is stale: run go test ./control -run TestLimitsDoc -update")
	}
}

func TestCheckLimits(t *testing.T) {
	for _, tc := range []struct {
		name string
		req  proto.Message
		want string // "" for accepted, else a part of the error
	}{
		{"empty", &pb.StartLiveViewRequest{}, ""},
		{"reason at the limit", &pb.StartLiveViewRequest{PurposeText: strings.Repeat("가", limitReason)}, ""},
		{"reason one past", &pb.StartLiveViewRequest{PurposeText: strings.Repeat("가", limitReason+1)}, "purpose_text is too long"},
		{"ascii one past", &pb.StartLiveViewRequest{PurposeText: strings.Repeat("a", limitReason+1)}, "purpose_text is too long"},
		{"nested name", &pb.CreateSiteRequest{Fields: &pb.SiteFields{Name: strings.Repeat("n", limitName+1)}}, "fields.name is too long"},
		{"list too long", &pb.WatchEventsRequest{CameraIds: make([]string, listLarge+1)}, "camera_ids has 1001 elements"},
		{"list element too long", &pb.WatchEventsRequest{CameraIds: []string{"a", strings.Repeat("x", limitToken+1)}}, "camera_ids[1] is too long"},
		{"list of messages", &pb.CopyForRequesterRequest{Masks: []*pb.Mask{{}, {Reason: strings.Repeat("r", limitReason+1)}}}, "masks[1].reason is too long"},
		{"bidi override in a name", &pb.CreateSiteRequest{Fields: &pb.SiteFields{Name: "admin\u202egnp.exe"}}, "fields.name contains a bidirectional formatting character U+202E"},
		{"bidi override in a list", &pb.WatchEventsRequest{CameraIds: []string{"\u2067x"}}, "camera_ids[0] contains a bidirectional"},
		{"any character in a password", &pb.LoginRequest{Username: "u", Password: "pa\u202ess"}, ""},
		{"bytes", &pb.ImportOpenDataRequest{Csv: make([]byte, maxCSVBytes+1)}, "csv has"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkLimits(tc.req)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}

// lastSeq is the sequence number of the newest audit entry.
func (h *harness) lastSeq() int64 {
	h.t.Helper()
	p, err := h.audit.Query(context.Background(), audit.Filter{Newest: true, Limit: 1})
	if err != nil {
		h.t.Fatal(err)
	}
	if len(p.Entries) == 0 {
		return 0
	}
	return p.Entries[0].Seq
}

// TestHugePurposeTextIsRefusedAtTheEdge is finding 6 of issue 14: a 10 MB
// purpose_text on StartLiveView is refused with InvalidArgument, nothing is
// written to the audit store, and the auditor's query still works.
func TestHugePurposeTextIsRefusedAtTheEdge(t *testing.T) {
	h := newHarness(t)
	cam := h.registerCamera(camsim.DialectHikvision)
	before := h.lastSeq()
	st := pb.NewStreamServiceClient(h.conn)
	_, err := st.StartLiveView(h.as("operator"), &pb.StartLiveViewRequest{CameraId: cam, Purpose: pb.Purpose_PURPOSE_OTHER,
		PurposeText: strings.Repeat("x", 10<<20)}, grpc.MaxCallSendMsgSize(MaxRecvMsgSize))
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), "purpose_text") {
		t.Fatalf("10 MB purpose_text: got %v, want InvalidArgument naming purpose_text", err)
	}
	if after := h.lastSeq(); after != before {
		t.Fatalf("the refused request wrote %d audit entries", after-before)
	}
	// The same request with a purpose of normal length goes through, so the
	// refusal above was the limit's.
	if _, err := st.StartLiveView(h.as("operator"), &pb.StartLiveViewRequest{CameraId: cam, Purpose: pb.Purpose_PURPOSE_OTHER,
		PurposeText: "교통사고 확인"}); err != nil {
		t.Fatal(err)
	}
	// A streaming method's request is held to the same limits.
	w, err := pb.NewHealthServiceClient(h.conn).WatchEvents(h.as("operator"), &pb.WatchEventsRequest{CameraIds: make([]string, listLarge+1)})
	if err == nil {
		_, err = w.Recv()
	}
	if status.Code(err) != codes.InvalidArgument || pb.ReasonOf(err) != pb.ReasonInvalidArgument {
		t.Fatalf("WatchEvents with %d cameras: %v", listLarge+1, err)
	}
	res, err := pb.NewAuditServiceClient(h.conn).QueryEntries(h.as("auditor"), &pb.QueryEntriesRequest{})
	if err != nil {
		t.Fatalf("the auditor's query fails afterwards: %v", err)
	}
	if len(res.GetEntries()) == 0 {
		t.Fatal("the auditor's query returned nothing")
	}
}

// BenchmarkCheckLimits: the edge's cost per request (a typical registration,
// and the 10 MB purpose_text it refuses).
func BenchmarkCheckLimits(b *testing.B) {
	typical := &pb.RegisterCameraRequest{DeviceUrl: "http://10.0.0.7/onvif/device_service", Username: "admin", Password: "pw",
		Reason: "설치", Fields: &pb.CameraFields{SiteId: "s", Name: "중앙로 사거리 1", Purpose: "방범", RoadAddress: "○○시 중앙로 1",
			Labels: []string{"교차로", "24시간"}, AccessPersons: []string{"관제요원"}}}
	huge := &pb.StartLiveViewRequest{CameraId: "c", Purpose: pb.Purpose_PURPOSE_OTHER, PurposeText: strings.Repeat("x", 10<<20)}
	b.Run("typical", func(b *testing.B) {
		for b.Loop() {
			if err := checkLimits(typical); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("10MB", func(b *testing.B) {
		for b.Loop() {
			if err := checkLimits(huge); err == nil {
				b.Fatal("accepted")
			}
		}
	})
}
