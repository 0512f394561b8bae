package control

import (
	"bytes"
	"context"
	"log/slog"
	"maps"
	"net"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/gwanje/gwanje/internal/tlsutil"
	pb "github.com/gwanje/gwanje/proto/gwanje/v1"
)

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// panicService is a test service whose methods panic.
var panicService = grpc.ServiceDesc{
	ServiceName: "gwanje.test.Panic",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Unary",
		Handler: func(_ any, ctx context.Context, dec func(any) error, icpt grpc.UnaryServerInterceptor) (any, error) {
			in := new(emptypb.Empty)
			if err := dec(in); err != nil {
				return nil, err
			}
			h := func(context.Context, any) (any, error) { panic("unary handler bug") }
			return icpt(ctx, in, &grpc.UnaryServerInfo{FullMethod: "/gwanje.test.Panic/Unary"}, h)
		},
	}},
	Streams: []grpc.StreamDesc{{
		StreamName:    "Stream",
		ServerStreams: true,
		Handler:       func(any, grpc.ServerStream) error { panic("stream handler bug") },
	}},
}

// TestPanicBecomesInternal: a handler that panics (unary or stream) gives
// its caller Internal with reason INTERNAL, logs its stack, and the server
// goes on serving.
func TestPanicBecomesInternal(t *testing.T) {
	tlsCfg, err := tlsutil.Ensure(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	srv, err := New(Config{Listener: lis, TLS: tlsCfg, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv.grpc.RegisterService(&panicService, struct{}{})
	srv.methods = maps.Clone(methods)
	srv.methods["/gwanje.test.Panic/Unary"] = public()
	srv.methods["/gwanje.test.Panic/Stream"] = public()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()

	cc := tlsCfg.Clone()
	cc.Certificates = nil
	cc.InsecureSkipVerify = true
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(credentials.NewTLS(cc)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	for i := 0; i < 2; i++ {
		err = conn.Invoke(ctx, "/gwanje.test.Panic/Unary", &emptypb.Empty{}, &emptypb.Empty{})
		if status.Code(err) != codes.Internal || pb.ReasonOf(err) != pb.ReasonInternal || strings.Contains(err.Error(), "bug") {
			t.Fatalf("unary panic: %v", err)
		}
	}
	st, err := conn.NewStream(ctx, &panicService.Streams[0], "/gwanje.test.Panic/Stream")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SendMsg(&emptypb.Empty{}); err != nil {
		t.Fatal(err)
	}
	st.CloseSend()
	if err := st.RecvMsg(&emptypb.Empty{}); status.Code(err) != codes.Internal || pb.ReasonOf(err) != pb.ReasonInternal {
		t.Fatalf("stream panic: %v", err)
	}
	// Still serving.
	if _, err := pb.NewSystemServiceClient(conn).GetInfo(ctx, &pb.GetInfoRequest{}); err != nil {
		t.Fatalf("the server stopped serving after a panic: %v", err)
	}
	l := logs.String()
	for _, want := range []string{"unary handler bug", "stream handler bug", "goroutine", "interceptors_test.go"} {
		if !strings.Contains(l, want) {
			t.Errorf("the log lacks %q:\n%s", want, l)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
