package main

import (
	"fmt"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// describe turns an error into a message that says what to do.
func describe(err error) string {
	st, ok := status.FromError(err)
	if !ok {
		return err.Error()
	}
	msg := st.Message()
	switch st.Code() {
	case codes.Unavailable:
		if strings.Contains(msg, "certificate") || strings.Contains(msg, "x509") || strings.Contains(msg, "tls") {
			return fmt.Sprintf("TLS failed (%s): pass --ca with the ca.crt from the server's data dir (data/tls/ca.crt)", msg)
		}
		return fmt.Sprintf("server unavailable (%s): is gwanjed running at the --server address?", msg)
	case codes.Unauthenticated:
		return fmt.Sprintf("%s: log in with 'gwanje login --user NAME'", msg)
	case codes.PermissionDenied:
		return fmt.Sprintf("%s: your account has no right to do this here; ask your manager for a grant", msg)
	case codes.DeadlineExceeded:
		return fmt.Sprintf("%s: the server did not answer in time (--timeout)", msg)
	}
	return fmt.Sprintf("%s (%s)", msg, st.Code())
}
