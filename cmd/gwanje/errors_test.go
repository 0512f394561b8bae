package main

import (
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/gwanje/gwanje/proto/gwanje/v1"
)

func withReason(code codes.Code, reason, msg string) error {
	st, err := status.New(code, msg).WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: pb.ErrorDomain})
	if err != nil {
		panic(err)
	}
	return st.Err()
}

// TestDescribeDecidesOnReasons: the advice follows the reason, whatever the
// message says.
func TestDescribeDecidesOnReasons(t *testing.T) {
	c := &cli{server: "127.0.0.1:1", caFile: "/nonexistent"}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{withReason(codes.AlreadyExists, pb.ReasonAlreadyExists, "x"), "it already exists"},
		{withReason(codes.FailedPrecondition, pb.ReasonCameraUnreachable, "permission denied"), "camera's power"},
		{withReason(codes.PermissionDenied, pb.ReasonFourEyesRequired, "certificate"), "another person"},
		{withReason(codes.Unauthenticated, pb.ReasonSessionExpired, "x"), "gwanje login"},
		{withReason(codes.Unavailable, pb.ReasonAuditUnavailable, "tls x509"), "nothing was changed"},
		{status.Error(codes.Unavailable, "connection refused"), "is gwanjed running"},
	} {
		if got := c.describe(tc.err); !strings.Contains(got, tc.want) {
			t.Errorf("%v: %q lacks %q", tc.err, got, tc.want)
		}
	}
}
