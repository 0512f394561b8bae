package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gwanje/gwanje/internal/tlsutil"
	pb "github.com/gwanje/gwanje/proto/gwanje/v1"
)

// describe turns an error into a message that says what to do. It decides
// on the error's reason (google.rpc.ErrorInfo, stable) and code, never on
// the message, which is for people.
func (c *cli) describe(err error) string {
	st, ok := status.FromError(err)
	if !ok {
		return err.Error()
	}
	msg := st.Message()
	switch pb.ReasonOf(err) {
	case pb.ReasonSessionExpired, pb.ReasonUnauthenticated:
		return fmt.Sprintf("%s: log in with 'gwanje login --user NAME'", msg)
	case pb.ReasonPermissionDenied:
		return fmt.Sprintf("%s: your account has no right to do this here; ask your manager for a grant", msg)
	case pb.ReasonPasswordChangeRequired:
		return msg
	case pb.ReasonFourEyesRequired:
		return fmt.Sprintf("%s: ask another person who holds the right to approve it", msg)
	case pb.ReasonAuditUnavailable:
		return fmt.Sprintf("%s (nothing was changed)", msg)
	case pb.ReasonResourceExhausted:
		return fmt.Sprintf("%s: too many requests; wait a little and try again", msg)
	case pb.ReasonAlreadyExists:
		return fmt.Sprintf("%s: it already exists; list it, or choose another name", msg)
	case pb.ReasonCameraUnreachable:
		return fmt.Sprintf("%s: check the camera's power and network path", msg)
	case pb.ReasonCameraUnauthorized:
		return fmt.Sprintf("%s: give the camera's current username and password", msg)
	case pb.ReasonTicketExpired:
		return fmt.Sprintf("%s: ask for a new one", msg)
	case pb.ReasonNoStreamNode, pb.ReasonUnavailable:
		return fmt.Sprintf("%s (%s)", msg, st.Code())
	case pb.ReasonInvalidArgument:
		return fmt.Sprintf("%s: see 'gwanje COMMAND --help'", msg)
	case "":
		// Not an answer of the server: the client's own transport failed.
		switch st.Code() {
		case codes.Unavailable:
			if terr := c.checkTLS(); terr != nil {
				return fmt.Sprintf("TLS failed (%v): pass --ca with the ca.crt from the server's data dir (data/tls/ca.crt)", terr)
			}
			return fmt.Sprintf("server unavailable (%s): is gwanjed running at the --server address?", msg)
		case codes.DeadlineExceeded:
			return fmt.Sprintf("%s: the server did not answer in time (--timeout)", msg)
		}
	}
	return fmt.Sprintf("%s (%s)", msg, st.Code())
}

// checkTLS returns the certificate error of a TLS handshake with the
// server, or nil when the handshake succeeds or fails for another reason.
func (c *cli) checkTLS() error {
	tc, err := tlsutil.ClientConfig(c.caFile)
	if err != nil {
		return nil // reported by dial already
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d := tls.Dialer{NetDialer: &net.Dialer{}, Config: tc}
	conn, err := d.DialContext(ctx, "tcp", c.server)
	if err == nil {
		conn.Close()
		return nil
	}
	var (
		verr *tls.CertificateVerificationError
		uerr x509.UnknownAuthorityError
		herr x509.HostnameError
		cerr x509.CertificateInvalidError
	)
	if errors.As(err, &verr) || errors.As(err, &uerr) || errors.As(err, &herr) || errors.As(err, &cerr) {
		return err
	}
	return nil
}
