package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/gwanje/gwanje/proto/gwanje/v1"
)

func init() {
	register(command{name: "audit", summary: "audit query|verify|public-key|ledger|review: the audit trail (auditors)", run: runAudit})
}

func (c *cli) auditClient(ctx context.Context) (context.Context, context.CancelFunc, pb.AuditServiceClient, error) {
	return connect(ctx, c, pb.NewAuditServiceClient)
}

func optWhen(s string) (*timestamppb.Timestamp, error) {
	if s == "" {
		return nil, nil
	}
	t, err := parseWhen(s)
	if err != nil {
		return nil, err
	}
	return timestamppb.New(t), nil
}

func runAudit(ctx context.Context, c *cli, args []string) error {
	return sub(ctx, c, "audit", args, map[string]func(context.Context, *cli, []string) error{
		"query": func(ctx context.Context, c *cli, args []string) error {
			fs := newFlags("audit query", c)
			from := fs.String("from", "", "entries at or after, YYYY-MM-DD or RFC 3339, "+zoneNote)
			to := fs.String("to", "", "entries before, "+zoneNote)
			user := fs.String("user", "", "actor's username")
			camera := fs.String("camera", "", "camera id")
			types := fs.String("type", "", `entry types, comma-separated; "playback.*" for a prefix`)
			var outcome pb.AuditOutcome
			enumVar(fs, &outcome, "outcome", "", "success, denied or failed")
			var purpose pb.Purpose
			enumVar(fs, &purpose, "purpose", "", "purpose of viewing")
			limit := fs.Int("limit", 50, "entries per page")
			page := fs.String("page", "", "page token from a previous query")
			if err := fs.Parse(args); err != nil {
				return err
			}
			r := &pb.QueryEntriesRequest{Username: *user, CameraId: *camera, Types: list(*types), Outcome: outcome,
				Purpose: purpose, PageSize: int32(*limit), PageToken: *page, NewestFirst: true}
			var err error
			if r.From, err = optWhen(*from); err != nil {
				return fmt.Errorf("--from: %w", err)
			}
			if r.To, err = optWhen(*to); err != nil {
				return fmt.Errorf("--to: %w", err)
			}
			ctx, cancel, cl, err := c.auditClient(ctx)
			if err != nil {
				return err
			}
			defer cancel()
			res, err := cl.QueryEntries(ctx, r)
			if err != nil {
				return err
			}
			return c.print(res, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "SEQ\tTIME\tTYPE\tOUTCOME\tUSER\tCAMERAS\tFOOTAGE\tPURPOSE\tREASON")
				for _, e := range res.GetEntries() {
					footage := ""
					switch {
					case e.GetLive():
						footage = "live"
					case e.GetFootageFrom() != nil:
						footage = fmtTime(e.GetFootageFrom()) + "~" + fmtTime(e.GetFootageTo())
					}
					fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.GetSeq(), e.GetTime().AsTime().In(zone).Format("2006-01-02 15:04:05"),
						e.GetType(), pb.Code(e.GetOutcome()), e.GetUsername(), strings.Join(e.GetCameras(), ","), footage, purposeLabel(e.GetPurpose()), e.GetReason())
				}
				if res.GetNextPageToken() != "" {
					fmt.Fprintf(w, "\nmore: gwanje audit query … --page %s\n", res.GetNextPageToken())
				}
			})
		},
		"verify": func(ctx context.Context, c *cli, args []string) error {
			fs := newFlags("audit verify", c)
			from := fs.String("from", "", "entries logged at or after, YYYY-MM-DD or RFC 3339, "+zoneNote)
			to := fs.String("to", "", "entries logged before, "+zoneNote)
			fromSeq := fs.Int64("from-seq", 0, "first sequence number")
			toSeq := fs.Int64("to-seq", 0, "last sequence number")
			if err := fs.Parse(args); err != nil {
				return err
			}
			r := &pb.VerifyRequest{FromSeq: *fromSeq, ToSeq: *toSeq}
			var err error
			if r.From, err = optWhen(*from); err != nil {
				return fmt.Errorf("--from: %w", err)
			}
			if r.To, err = optWhen(*to); err != nil {
				return fmt.Errorf("--to: %w", err)
			}
			ctx, cancel, cl, err := c.auditClient(ctx)
			if err != nil {
				return err
			}
			defer cancel()
			res, err := cl.Verify(ctx, r)
			if err != nil {
				return err
			}
			if err := c.print(res, func(w *tabwriter.Writer) {
				state := "INTACT"
				if !res.GetOk() {
					state = "BROKEN"
				}
				fmt.Fprintf(w, "result\t%s\n", state)
				fmt.Fprintf(w, "entries\t%d (seq %d–%d), anchored at %s\n", res.GetChecked(), res.GetFirstSeq(), res.GetLastSeq(), res.GetAnchor())
				fmt.Fprintf(w, "signed checkpoints\t%d, last at seq %d; %d entries after it\n", res.GetCheckpoints(), res.GetLastCheckpoint(), res.GetUnsigned())
				if !res.GetOk() {
					fmt.Fprintf(w, "first problem\tentry %d: %s: %s\n", res.GetProblemSeq(), res.GetProblemKind(), res.GetProblemDetail())
				}
				fmt.Fprintf(w, "took\t%s\n", time.Duration(res.GetSeconds()*float64(time.Second)).Round(time.Millisecond))
			}); err != nil {
				return err
			}
			if !res.GetOk() {
				return errors.New("the audit trail is broken: report it to the privacy officer; the entry above is where it starts")
			}
			return nil
		},
		"public-key": func(ctx context.Context, c *cli, args []string) error {
			if err := newFlags("audit public-key", c).Parse(args); err != nil {
				return err
			}
			ctx, cancel, cl, err := c.auditClient(ctx)
			if err != nil {
				return err
			}
			defer cancel()
			res, err := cl.GetPublicKey(ctx, &pb.GetPublicKeyRequest{})
			if err != nil {
				return err
			}
			_, err = fmt.Fprint(c.stdout, res.GetPublicKeyPem())
			return err
		},
		"ledger": func(ctx context.Context, c *cli, args []string) error {
			fs := newFlags("audit ledger", c)
			from := fs.String("from", "", "period start, YYYY-MM-DD (required), "+zoneNote)
			to := fs.String("to", "", "period end (exclusive), YYYY-MM-DD (required), "+zoneNote)
			format := fs.String("format", "xlsx", "xlsx or csv")
			out := fs.String("out", "", "file to write (default: the server's file name)")
			if err := fs.Parse(args); err != nil {
				return err
			}
			if err := required(fs, "from", "to"); err != nil {
				return err
			}
			r := &pb.GetLedgerRequest{Format: *format}
			var err error
			if r.From, err = optWhen(*from); err != nil {
				return fmt.Errorf("--from: %w", err)
			}
			if r.To, err = optWhen(*to); err != nil {
				return fmt.Errorf("--to: %w", err)
			}
			ctx, cancel, cl, err := c.auditClient(ctx)
			if err != nil {
				return err
			}
			defer cancel()
			rep, err := cl.GetLedger(ctx, r)
			if err != nil {
				return err
			}
			return c.saveReport(rep, *out)
		},
		"review": func(ctx context.Context, c *cli, args []string) error {
			fs := newFlags("audit review", c)
			month := fs.String("month", "", "month reviewed, YYYY-MM (required)")
			format := fs.String("format", "xlsx", "xlsx or csv")
			out := fs.String("out", "", "file to write (default: the server's file name)")
			if err := fs.Parse(args); err != nil {
				return err
			}
			if err := required(fs, "month"); err != nil {
				return err
			}
			ctx, cancel, cl, err := c.auditClient(ctx)
			if err != nil {
				return err
			}
			defer cancel()
			rep, err := cl.GetAccessReview(ctx, &pb.GetAccessReviewRequest{Month: *month, Format: *format})
			if err != nil {
				return err
			}
			return c.saveReport(rep, *out)
		},
	})
}

// saveReport writes a report to path (default its own file name), never
// over an existing file.
func (c *cli) saveReport(rep *pb.ReportFile, path string) error {
	if path == "" {
		path = rep.GetFilename()
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("%w (choose another file with --out)", err)
	}
	if _, err := f.Write(rep.GetContent()); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "wrote %s (%d bytes)\n", path, len(rep.GetContent()))
	return nil
}
