package control

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	ac "github.com/gwanje/gwanje/accesscontrol"
	"github.com/gwanje/gwanje/audit"
	"github.com/gwanje/gwanje/devices"
	"github.com/gwanje/gwanje/devices/health"
	"github.com/gwanje/gwanje/devices/onvif"
	"github.com/gwanje/gwanje/internal/textcheck"
	"github.com/gwanje/gwanje/privacy/export"
	"github.com/gwanje/gwanje/privacy/manifest"
	"github.com/gwanje/gwanje/privacy/policy"
	"github.com/gwanje/gwanje/privacy/requests"
	pb "github.com/gwanje/gwanje/proto/gwanje/v1"
	"github.com/gwanje/gwanje/stream"
	"github.com/gwanje/gwanje/stream/playback"
	"github.com/gwanje/gwanje/stream/record"
	"github.com/gwanje/gwanje/stream/whep"
)

// sentinels are the exported Err* values of the domain packages, by
// "dir.Name" (the package's directory from the module root). The test below
// finds the names in the source: a new sentinel must be added here, and so
// to the mapping.
var sentinels = map[string]error{
	"accesscontrol.ErrInvalid": ac.ErrInvalid, "accesscontrol.ErrNotFound": ac.ErrNotFound,
	"accesscontrol.ErrAlreadyExists": ac.ErrAlreadyExists, "accesscontrol.ErrConflict": ac.ErrConflict,
	"accesscontrol.ErrUnauthenticated": ac.ErrUnauthenticated, "accesscontrol.ErrPermissionDenied": ac.ErrPermissionDenied,
	"accesscontrol.ErrUnavailable": ac.ErrUnavailable, "accesscontrol.ErrTOTPRequired": ac.ErrTOTPRequired,
	"accesscontrol.ErrTooMany": ac.ErrTooMany,

	"audit.ErrUnavailable": audit.ErrUnavailable, "audit.ErrInvalid": audit.ErrInvalid, "audit.ErrClosed": audit.ErrClosed,

	"devices.ErrInvalid": devices.ErrInvalid, "devices.ErrNotFound": devices.ErrNotFound,
	"devices.ErrAlreadyExists": devices.ErrAlreadyExists, "devices.ErrConflict": devices.ErrConflict,
	"devices.ErrUnreachable": devices.ErrUnreachable, "devices.ErrUnauthorized": devices.ErrUnauthorized,
	"devices.ErrNoProfile": devices.ErrNoProfile, "devices.ErrBadResponse": devices.ErrBadResponse,
	"devices/health.ErrAlarmNotFound": health.ErrAlarmNotFound, "devices/health.ErrAlarmAlreadyAcknowledged": health.ErrAlarmAlreadyAcknowledged,
	"devices/onvif.ErrUnreachable": onvif.ErrUnreachable, "devices/onvif.ErrUnauthorized": onvif.ErrUnauthorized,
	"devices/onvif.ErrFault": onvif.ErrFault, "devices/onvif.ErrMalformed": onvif.ErrMalformed,
	"devices/onvif.ErrNotSupported": onvif.ErrNotSupported, "devices/onvif.ErrTimeout": onvif.ErrTimeout,
	"devices/onvif.ErrTooLarge": onvif.ErrTooLarge, "devices/onvif.ErrInvalidArgument": onvif.ErrInvalidArgument,

	"internal/textcheck.ErrBidiControl": textcheck.ErrBidiControl, "internal/textcheck.ErrInvalidUTF8": textcheck.ErrInvalidUTF8,

	"privacy/manifest.ErrVerify": manifest.ErrVerify, "privacy/manifest.ErrSignature": manifest.ErrSignature,
	"privacy/manifest.ErrFileMismatch": manifest.ErrFileMismatch, "privacy/manifest.ErrMalformed": manifest.ErrMalformed,
	"privacy/manifest.ErrKey":   manifest.ErrKey,
	"privacy/policy.ErrInvalid": policy.ErrInvalid, "privacy/policy.ErrNotFound": policy.ErrNotFound,
	"privacy/export.ErrFFmpegNotFound": export.ErrFFmpegNotFound, "privacy/export.ErrInvalid": export.ErrInvalid,
	"privacy/export.ErrNotFound": export.ErrNotFound, "privacy/export.ErrMaskingUnavailable": export.ErrMaskingUnavailable,
	"privacy/export.ErrTampered": export.ErrTampered, "privacy/export.ErrOtherNode": export.ErrOtherNode,
	"privacy/export.ErrTooLarge": export.ErrTooLarge, "privacy/export.ErrExpired": export.ErrExpired,
	"privacy/export.ErrRevoked":   export.ErrRevoked,
	"privacy/requests.ErrInvalid": requests.ErrInvalid, "privacy/requests.ErrNotFound": requests.ErrNotFound,
	"privacy/requests.ErrConflict": requests.ErrConflict, "privacy/requests.ErrPermissionDenied": requests.ErrPermissionDenied,
	"privacy/requests.ErrUnavailable": requests.ErrUnavailable, "privacy/requests.ErrInvalidRefusal": requests.ErrInvalidRefusal,
	"privacy/requests.ErrSelfApproval": requests.ErrSelfApproval, "privacy/requests.ErrNotDestroyed": requests.ErrNotDestroyed,

	"stream.ErrNoTicket": stream.ErrNoTicket, "stream.ErrMalformed": stream.ErrMalformed,
	"stream.ErrUnknownTicket": stream.ErrUnknownTicket, "stream.ErrTicketUsed": stream.ErrTicketUsed,
	"stream.ErrTicketExpired": stream.ErrTicketExpired, "stream.ErrWrongCamera": stream.ErrWrongCamera,
	"stream.ErrWrongProfile": stream.ErrWrongProfile, "stream.ErrNoNode": stream.ErrNoNode,
	"stream/whep.ErrClosed": whep.ErrClosed, "stream/whep.ErrNotH264": whep.ErrNotH264,
	"stream.ErrCannotSwitch": stream.ErrCannotSwitch, "stream.ErrWrongTransport": stream.ErrWrongTransport,
	"stream.ErrInvalidRequest": stream.ErrInvalidRequest, "stream.ErrNotFound": stream.ErrNotFound,
	"stream.ErrClosed": stream.ErrClosed, "stream.ErrUnknownCamera": stream.ErrUnknownCamera,
	"stream.ErrUpstreamLost":      stream.ErrUpstreamLost,
	"stream/playback.ErrNoTicket": playback.ErrNoTicket, "stream/playback.ErrMalformed": playback.ErrMalformed,
	"stream/playback.ErrUnknownTicket": playback.ErrUnknownTicket, "stream/playback.ErrTicketUsed": playback.ErrTicketUsed,
	"stream/playback.ErrTicketExpired": playback.ErrTicketExpired, "stream/playback.ErrWrongCamera": playback.ErrWrongCamera,
	"stream/playback.ErrInvalid": playback.ErrInvalid, "stream/playback.ErrNoFootage": playback.ErrNoFootage, "stream/playback.ErrWrongTransport": playback.ErrWrongTransport,
	"stream/record.ErrTampered": record.ErrTampered, "stream/record.ErrKeyDestroyed": record.ErrKeyDestroyed,
	"stream/record.ErrDiskFull": record.ErrDiskFull, "stream/record.ErrInvalid": record.ErrInvalid,
	"stream/record.ErrNotFound": record.ErrNotFound, "stream/record.ErrFenced": record.ErrFenced,
}

// notDomain are the directories whose errors never reach a client: the
// server's wiring and plumbing (key files, the local PostgreSQL), the CLI,
// the generated API and this package.
func notDomain(dir string) bool {
	switch {
	case dir == "control", dir == "cmd", strings.HasPrefix(dir, "cmd/"), strings.HasPrefix(dir, "proto"),
		strings.HasPrefix(dir, "web"), strings.HasPrefix(dir, "deploy"), strings.HasPrefix(dir, "."):
		return true
	case strings.HasPrefix(dir, "internal/"):
		return dir != "internal/textcheck" // the one internal package whose errors the edge returns
	}
	return false
}

// domainSentinelNames finds every exported package-level Err* variable in
// the non-test sources of the domain packages.
func domainSentinelNames(t *testing.T) []string {
	t.Helper()
	var names []string
	err := filepath.WalkDir("..", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel("..", path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel != "." && notDomain(rel) || d.Name() == "testdata" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.VAR {
				continue
			}
			for _, spec := range gd.Specs {
				for _, n := range spec.(*ast.ValueSpec).Names {
					if strings.HasPrefix(n.Name, "Err") && n.IsExported() {
						names = append(names, filepath.ToSlash(filepath.Dir(rel))+"."+n.Name)
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(names)
	return names
}

// TestEveryDomainSentinelIsMapped enumerates the exported Err* sentinels of
// the domain packages from their source and checks that each, bare and
// wrapped, maps to a code other than Internal and Unknown, with an ErrorInfo
// of domain gwanje.io and a reason.
func TestEveryDomainSentinelIsMapped(t *testing.T) {
	names := domainSentinelNames(t)
	if len(names) < 50 {
		t.Fatalf("found only %d sentinels; the walk misses packages: %v", len(names), names)
	}
	s := &Server{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, name := range names {
		err, ok := sentinels[name]
		if !ok {
			t.Errorf("%s is not in the test's list of sentinels: add it there and map it in errors.go", name)
			continue
		}
		for _, e := range []error{err, fmt.Errorf("doing something: %w", err)} {
			st := s.toStatus(t.Context(), "/test", e)
			code := status.Code(st)
			if code == codes.Internal || code == codes.Unknown || code == codes.OK {
				t.Errorf("%s (%v) maps to %v", name, e, code)
			}
			ei := pb.ErrorInfoOf(st)
			if ei == nil || ei.GetReason() == "" || ei.GetDomain() != "gwanje.io" {
				t.Errorf("%s: no ErrorInfo with a reason and domain gwanje.io: %v", name, ei)
			}
		}
	}
}

func TestToStatus(t *testing.T) {
	s := &Server{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, tc := range []struct {
		name   string
		err    error
		code   codes.Code
		reason string
		msg    string // part of the message ("" = don't care)
	}{
		{"bad input is never internal", fmt.Errorf("x: %w", audit.ErrInvalid), codes.InvalidArgument, "INVALID_ARGUMENT", "invalid audit entry"},
		{"duplicate username", fmt.Errorf("%w: the username is taken", ac.ErrAlreadyExists), codes.AlreadyExists, "ALREADY_EXISTS", "taken"},
		{"duplicate camera", fmt.Errorf("%w: registered", devices.ErrAlreadyExists), codes.AlreadyExists, "ALREADY_EXISTS", ""},
		{"conflict keeps FailedPrecondition", fmt.Errorf("%w: grant revoked", ac.ErrConflict), codes.FailedPrecondition, "FAILED_PRECONDITION", ""},
		{"camera unreachable", fmt.Errorf("%w: dial", devices.ErrUnreachable), codes.FailedPrecondition, "CAMERA_UNREACHABLE", "does not answer"},
		{"ticket expired", stream.ErrTicketExpired, codes.FailedPrecondition, "TICKET_EXPIRED", ""},
		{"four eyes", fmt.Errorf("approve: %w", requests.ErrSelfApproval), codes.PermissionDenied, "FOUR_EYES_REQUIRED", "four eyes"},
		{"generic denial", fmt.Errorf("%w: not in scope of camera 7", ac.ErrPermissionDenied), codes.PermissionDenied, "PERMISSION_DENIED", "permission denied"},
		{"audit down", fmt.Errorf("append: %w", audit.ErrUnavailable), codes.Unavailable, "AUDIT_UNAVAILABLE", "not done"},
		{"totp is not told apart", ac.ErrTOTPRequired, codes.Unauthenticated, "UNAUTHENTICATED", "invalid username, password, code or session"},
		{"masking before conflict", fmt.Errorf("%w: %w", requests.ErrConflict, export.ErrMaskingUnavailable), codes.FailedPrecondition, "MASKING_UNAVAILABLE", ""},
		{"health", health.ErrAlarmAlreadyAcknowledged, codes.FailedPrecondition, "ALREADY_ACKNOWLEDGED", ""},
		{"status without info gets the code's reason", status.Error(codes.InvalidArgument, "purpose required"), codes.InvalidArgument, "INVALID_ARGUMENT", "purpose required"},
		{"status with info passes", errDenied, codes.PermissionDenied, "PERMISSION_DENIED", ""},
		{"unknown is internal and says nothing", errors.New("pq: secret detail"), codes.Internal, "INTERNAL", "internal error: see the server log"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := s.toStatus(t.Context(), "/test", tc.err)
			if status.Code(st) != tc.code || pb.ReasonOf(st) != tc.reason {
				t.Fatalf("got %v %q, want %v %q", status.Code(st), pb.ReasonOf(st), tc.code, tc.reason)
			}
			if !strings.Contains(status.Convert(st).Message(), tc.msg) {
				t.Fatalf("message %q lacks %q", status.Convert(st).Message(), tc.msg)
			}
			if strings.Contains(status.Convert(st).Message(), "secret") {
				t.Fatal("an unknown error's text reached the client")
			}
		})
	}
}

// TestErrorsOverGRPCCarryReasons: over the wire, a duplicate is
// AlreadyExists with reason ALREADY_EXISTS, a denial and a missing login
// carry theirs, all in domain gwanje.io.
func TestErrorsOverGRPCCarryReasons(t *testing.T) {
	h := newHarness(t)
	cl := pb.NewAccessServiceClient(h.conn)
	req := &pb.CreateOrganizationRequest{Kind: "department", Name: "교통정책과", Reason: "조직 개편"}
	if _, err := cl.CreateOrganization(h.as("admin"), req); err != nil {
		t.Fatal(err)
	}
	_, err := cl.CreateOrganization(h.as("admin"), req)
	if status.Code(err) != codes.AlreadyExists || pb.ReasonOf(err) != pb.ReasonAlreadyExists {
		t.Fatalf("duplicate organization: %v (reason %q)", err, pb.ReasonOf(err))
	}
	_, err = cl.CreateOrganization(h.as("operator"), req)
	if status.Code(err) != codes.PermissionDenied || pb.ReasonOf(err) != pb.ReasonPermissionDenied {
		t.Fatalf("denied: %v (reason %q)", err, pb.ReasonOf(err))
	}
	_, err = cl.WhoAmI(h.as(""), &pb.WhoAmIRequest{})
	if status.Code(err) != codes.Unauthenticated || pb.ReasonOf(err) != pb.ReasonUnauthenticated {
		t.Fatalf("anonymous: %v (reason %q)", err, pb.ReasonOf(err))
	}
	_, err = cl.WhoAmI(withToken(h.as(""), "not-a-session"), &pb.WhoAmIRequest{})
	if status.Code(err) != codes.Unauthenticated || pb.ReasonOf(err) != pb.ReasonSessionExpired {
		t.Fatalf("bad session: %v (reason %q)", err, pb.ReasonOf(err))
	}
	if ei := pb.ErrorInfoOf(err); ei.GetDomain() != pb.ErrorDomain {
		t.Fatalf("domain %q", ei.GetDomain())
	}
}

const errorsDoc = "../proto/gwanje/v1/ERRORS.md"

func renderErrors() []byte {
	codesOf := map[string]map[codes.Code]bool{}
	add := func(reason string, c codes.Code) {
		if codesOf[reason] == nil {
			codesOf[reason] = map[codes.Code]bool{}
		}
		codesOf[reason][c] = true
	}
	for _, c := range errorClasses {
		add(c.reason, c.code)
	}
	for c, r := range reasonOfCode {
		add(r, c)
	}
	add(pb.ReasonSessionExpired, codes.Unauthenticated)
	add(pb.ReasonPasswordChangeRequired, codes.FailedPrecondition)
	add(pb.ReasonInternal, codes.Internal)
	var reasons []string
	for r := range codesOf {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	var b strings.Builder
	fmt.Fprintf(&b, "# Errors of the gwanje API\n\n")
	fmt.Fprintf(&b, "Generated from control/errors.go by `go test ./control -run TestErrorsDoc -update`; do not edit.\n\n")
	fmt.Fprintf(&b, "Every error carries a `google.rpc.ErrorInfo` (in the status details) with domain `%s` and a stable\n", pb.ErrorDomain)
	fmt.Fprintf(&b, "`reason`. Clients decide on the reason (and the code), never on the message, which is written for people and\n")
	fmt.Fprintf(&b, "may change. Go clients use `gwanjev1.ReasonOf(err)` and the `gwanjev1.Reason…` constants. Denials and failed\n")
	fmt.Fprintf(&b, "logins are deliberately generic. A request beyond a limit (LIMITS.md) is `INVALID_ARGUMENT`.\n\n")
	fmt.Fprintf(&b, "| reason | codes |\n|---|---|\n")
	for _, r := range reasons {
		var cs []string
		for c := range codesOf[r] {
			cs = append(cs, c.String())
		}
		sort.Strings(cs)
		fmt.Fprintf(&b, "| `%s` | %s |\n", r, strings.Join(cs, ", "))
	}
	return []byte(b.String())
}

// TestErrorsDoc keeps proto/gwanje/v1/ERRORS.md equal to the table.
func TestErrorsDoc(t *testing.T) {
	want := renderErrors()
	if *updateDocs {
		if err := os.WriteFile(errorsDoc, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(errorsDoc)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatal("proto/gwanje/v1/ERRORS.md is stale: run go test ./control -run TestErrorsDoc -update")
	}
}
