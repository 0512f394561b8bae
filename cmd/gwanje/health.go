package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	gwanjev1 "github.com/gwanje/gwanje/proto/gwanje/v1"
)

func init() {
	register(command{name: "health", summary: "ask the server whether it is serving (over TLS)", run: runHealth})
}

func runHealth(ctx context.Context, c *cli, args []string) error {
	fs := newFlags("health", c)
	if err := fs.Parse(args); err != nil {
		return err
	}
	conn, err := c.dial()
	if err != nil {
		return err
	}
	ctx, cancel := c.callCtx(ctx)
	defer cancel()
	h, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return err
	}
	info, err := gwanjev1.NewSystemServiceClient(conn).GetInfo(ctx, &gwanjev1.GetInfoRequest{})
	if err != nil {
		return err
	}
	out := map[string]any{
		"server":      c.server,
		"status":      h.GetStatus().String(),
		"version":     info.GetVersion(),
		"roles":       info.GetRoles(),
		"instance_id": info.GetInstanceId(),
		"started_at":  info.GetStartedAt().AsTime(),
	}
	if err := c.print(out, func(w *tabwriter.Writer) {
		fmt.Fprintf(w, "server\t%s\n", c.server)
		fmt.Fprintf(w, "status\t%s\n", h.GetStatus())
		fmt.Fprintf(w, "version\t%s\n", info.GetVersion())
		fmt.Fprintf(w, "roles\t%v\n", info.GetRoles())
		fmt.Fprintf(w, "started\t%s\n", info.GetStartedAt().AsTime().In(zone).Format("2006-01-02 15:04:05"))
	}); err != nil {
		return err
	}
	if h.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("server is %s", h.GetStatus())
	}
	return nil
}
