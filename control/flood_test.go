package control

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/gwanje/gwanje/internal/pgtest"
	pb "github.com/gwanje/gwanje/proto/gwanje/v1"
)

// dialFrom connects to the harness's server from the local address ip (a
// loopback alias such as 127.0.0.2), so that the server sees another client
// address.
func (h *harness) dialFrom(ip string) *grpc.ClientConn {
	h.t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	conn, err := grpc.NewClient(h.conn.Target(),
		grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{InsecureSkipVerify: true})),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }))
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { conn.Close() })
	return conn
}

// retryDelay is the RetryInfo of a status, or 0.
func retryDelay(err error) time.Duration {
	for _, d := range status.Convert(err).Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			return ri.GetRetryDelay().AsDuration()
		}
	}
	return 0
}

// TestStrangersCannotFloodTheTrailOrLockOut reproduces finding 7 of issue
// 14: from one address, 10,000 calls with bad tokens and 1,000 wrong
// passwords for the operator used to write 11,000 audit entries and lock the
// operator out everywhere for 15 minutes. Now they add a few dozen entries
// that still count every attempt, the address is throttled with a retry
// delay, and the operator logs in from another address.
func TestStrangersCannotFloodTheTrailOrLockOut(t *testing.T) {
	pool := pgtest.Pool(t)
	h := newHarnessOn(t, pool)
	ctx := context.Background()
	var before int64
	if err := pool.QueryRow(ctx, "select coalesce(max(seq), 0) from audit_entry").Scan(&before); err != nil {
		t.Fatal(err)
	}
	attacker := h.dialFrom("127.0.0.2")
	access := pb.NewAccessServiceClient(attacker)

	const badTokens, wrongPasswords = 10000, 1000
	codesSeen := map[codes.Code]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	work := make(chan int)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				var err error
				cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
				if i < wrongPasswords {
					_, err = access.Login(cctx, &pb.LoginRequest{Username: "u-operator", Password: fmt.Sprintf("guess-%d", i)})
				} else {
					token := base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "%032d", i))
					_, err = access.WhoAmI(withToken(cctx, token), &pb.WhoAmIRequest{})
				}
				cancel()
				c := status.Code(err)
				if c == codes.ResourceExhausted && retryDelay(err) <= 0 {
					t.Errorf("ResourceExhausted without RetryInfo: %v", err)
				}
				mu.Lock()
				codesSeen[c]++
				mu.Unlock()
			}
		}()
	}
	for i := 0; i < badTokens+wrongPasswords; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	t.Logf("answers to the attacker: %v", codesSeen)
	if codesSeen[codes.Unauthenticated]+codesSeen[codes.ResourceExhausted] != badTokens+wrongPasswords || codesSeen[codes.ResourceExhausted] == 0 {
		t.Fatalf("answers to the attacker: %v", codesSeen)
	}
	// The operator is locked at the attacker's address, and the address is
	// throttled, with the wait, for whatever it sends next.
	_, err := access.Login(ctx, &pb.LoginRequest{Username: "u-operator", Password: testPassword})
	if status.Code(err) != codes.ResourceExhausted || retryDelay(err) <= 0 {
		t.Fatalf("attacker's next login: %v (retry after %v)", err, retryDelay(err))
	}

	// The operator logs in from another address, and their open session
	// works as before.
	res, err := pb.NewAccessServiceClient(h.conn).Login(h.as(""), &pb.LoginRequest{Username: "u-operator", Password: testPassword})
	if err != nil {
		t.Fatalf("operator login from another address during the attack: %v", err)
	}
	if _, err := pb.NewAccessServiceClient(h.conn).WhoAmI(withToken(h.as(""), res.GetToken()), &pb.WhoAmIRequest{}); err != nil {
		t.Fatalf("operator's new session: %v", err)
	}
	if _, err := pb.NewAccessServiceClient(h.conn).WhoAmI(h.as("operator"), &pb.WhoAmIRequest{}); err != nil {
		t.Fatalf("operator's open session: %v", err)
	}

	// Stopping the access service writes the windows still open; then
	// every attempt is accounted for, in a few dozen entries.
	h.access.Close()
	countQuery := `select count(*), coalesce(sum(coalesce((details::jsonb->>'coalesced')::int, 1)) filter (
			where type in ('auth.session.invalid', 'auth.throttled', 'auth.login')), 0),
			count(*) filter (where type = 'auth.lockout' and username = 'u-operator')
		from audit_entry where seq > $1 and client_addr like '127.0.0.2%'`
	var entries, attempts, lockouts int
	deadline := time.Now().Add(20 * time.Second)
	for {
		if err := pool.QueryRow(ctx, countQuery, before).Scan(&entries, &attempts, &lockouts); err != nil {
			t.Fatal(err)
		}
		if attempts >= badTokens+wrongPasswords+1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	var all int
	if err := pool.QueryRow(ctx, "select count(*) from audit_entry where seq > $1", before).Scan(&all); err != nil {
		t.Fatal(err)
	}
	t.Logf("audit entries: %d from the attacker's address (accounting for %d attempts), %d in all", entries, attempts, all)
	if attempts != badTokens+wrongPasswords+1 {
		t.Errorf("the entries account for %d attempts, want %d", attempts, badTokens+wrongPasswords+1)
	}
	if lockouts != 1 {
		t.Errorf("%d auth.lockout entries for the operator at the attacker's address, want 1", lockouts)
	}
	if all > 36 {
		t.Errorf("%d audit entries for the attack, want a few dozen at most", all)
	}
}
