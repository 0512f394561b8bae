// Command gwanje is the client CLI for every role of a gwanje control center:
// operators, technicians, contractors, auditors and administrators.
//
//	gwanje [--server ADDR] [--ca FILE] [--output table|json] COMMAND …
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	pb "github.com/gwanje/gwanje/proto/gwanje/v1"
	"io"
	"os"
	"os/signal"
	"sort"
	"text/tabwriter"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/gwanje/gwanje/accesscontrol"
	"github.com/gwanje/gwanje/internal/tlsutil"
)

// cli holds the global options and the connection of one invocation.
type cli struct {
	server  string
	caFile  string
	output  string
	timeout time.Duration
	stdout  io.Writer
	stderr  io.Writer
	stdin   io.Reader
	// stdinLines reads secrets line by line from stdin (--password-stdin).
	stdinLines *bufio.Reader
	conn       *grpc.ClientConn
}

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, c *cli, args []string) error
}

var commands []command

func register(cmd command) { commands = append(commands, cmd) }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(runCLI(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// runCLI runs one invocation and returns its exit code.
func runCLI(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := &cli{stdout: stdout, stderr: stderr, stdin: stdin}
	fs := flag.NewFlagSet("gwanje", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.server, "server", envOr("GWANJE_SERVER", "127.0.0.1:7100"), "address of gwanjed's gRPC service (env GWANJE_SERVER)")
	fs.StringVar(&c.caFile, "ca", envOr("GWANJE_CA", "./data/tls/ca.crt"), "CA certificate that signed the server's certificate (env GWANJE_CA)")
	fs.StringVar(&c.output, "output", "table", "output format: table or json")
	fs.DurationVar(&c.timeout, "timeout", 30*time.Second, "deadline of each call")
	fs.Usage = func() { usage(stderr, fs) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if c.output != "table" && c.output != "json" {
		fmt.Fprintf(stderr, "gwanje: --output must be table or json, not %q\n", c.output)
		return 2
	}
	if fs.NArg() == 0 {
		usage(stderr, fs)
		return 2
	}
	name, rest := fs.Arg(0), fs.Args()[1:]
	for _, cmd := range commands {
		if cmd.name == name {
			err := cmd.run(ctx, c, rest)
			if c.conn != nil {
				c.conn.Close()
			}
			if err != nil {
				if !errors.Is(err, flag.ErrHelp) {
					fmt.Fprintf(stderr, "gwanje %s: %v\n", name, c.describe(err))
				}
				return 1
			}
			return 0
		}
	}
	fmt.Fprintf(stderr, "gwanje: unknown command %q (gwanje --help lists them)\n", name)
	return 2
}

func usage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintln(w, "usage: gwanje [--server ADDR] [--ca FILE] [--output table|json] COMMAND [ARGS]")
	fmt.Fprintln(w, "\ncommands:")
	sorted := append([]command(nil), commands...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].name < sorted[j].name })
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	for _, cmd := range sorted {
		fmt.Fprintf(tw, "  %s\t%s\n", cmd.name, cmd.summary)
	}
	tw.Flush()
	fmt.Fprintln(w, "\noptions:")
	fs.PrintDefaults()
}

// dial connects to the server over TLS, trusting only the given CA.
func (c *cli) dial() (*grpc.ClientConn, error) {
	if c.conn != nil {
		return c.conn, nil
	}
	tc, err := tlsutil.ClientConfig(c.caFile)
	if err != nil {
		return nil, err
	}
	conn, err := grpc.NewClient(c.server, grpc.WithTransportCredentials(credentials.NewTLS(tc)),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(pb.MaxResponseBytes), grpc.MaxCallSendMsgSize(pb.MaxRequestBytes)))
	if err != nil {
		return nil, fmt.Errorf("server address %q: %w", c.server, err)
	}
	c.conn = conn
	return conn, nil
}

// connect returns a deadline-bound context carrying the saved session and
// a client of one service.
func connect[T any](ctx context.Context, c *cli, newClient func(grpc.ClientConnInterface) T) (context.Context, context.CancelFunc, T, error) {
	var zero T
	conn, err := c.dial()
	if err != nil {
		return nil, nil, zero, err
	}
	ctx, err = c.authed(ctx)
	if err != nil {
		return nil, nil, zero, err
	}
	ctx, cancel := c.callCtx(ctx)
	return ctx, cancel, newClient(conn), nil
}

func (c *cli) callCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.timeout)
}

// print writes v as JSON with --output json, else calls table.
func (c *cli) print(v any, table func(w *tabwriter.Writer)) error {
	if c.output == "json" {
		if m, ok := v.(proto.Message); ok {
			b, err := protojson.MarshalOptions{Multiline: true, UseProtoNames: true}.Marshal(m)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(c.stdout, string(b))
			return err
		}
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	tw := tabwriter.NewWriter(c.stdout, 2, 4, 2, ' ', 0)
	table(tw)
	return tw.Flush()
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func newFlags(name string, c *cli) *flag.FlagSet {
	fs := flag.NewFlagSet("gwanje "+name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	return fs
}

// purposeLabel shows a purpose-of-viewing code with its Korean label, as
// people read it: "crime_prevention (범죄 예방·수사)".
func purposeLabel(p pb.Purpose) string {
	if p == pb.Purpose_PURPOSE_UNSPECIFIED {
		return ""
	}
	return accesscontrol.Purpose(pb.Code(p)).String()
}
