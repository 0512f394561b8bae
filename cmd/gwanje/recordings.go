package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/gwanje/gwanje/proto/gwanje/v1"
)

func init() {
	register(command{name: "recordings", summary: "recordings CAMERA --from --to: what footage exists, and the gaps", run: runRecordings})
	register(command{name: "playback", summary: "playback CAMERA --from --to --purpose CODE [--transport rtsp|mse] [--play]: recorded footage (prints the RTSP URL, or the HTTPS URL for a browser; recorded)", run: runPlayback})
	register(command{name: "holds", summary: "holds list|create|release: legal holds that keep footage past retention", run: runHolds})
}

func (c *cli) recordings(ctx context.Context) (context.Context, context.CancelFunc, pb.RecordingServiceClient, error) {
	return connect(ctx, c, pb.NewRecordingServiceClient)
}

// parseRange reads --from/--to as RFC 3339 or "2006-01-02 15:04" in the
// institution's zone (KST), not the workstation's.
func parseRange(from, to string) (*timestamppb.Timestamp, *timestamppb.Timestamp, error) {
	parse := func(s string) (*timestamppb.Timestamp, error) {
		for _, layout := range []string{time.RFC3339, "2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02"} {
			if t, err := time.ParseInLocation(layout, s, zone); err == nil {
				return timestamppb.New(t), nil
			}
		}
		return nil, fmt.Errorf("%q: want RFC 3339 or 'YYYY-MM-DD HH:MM'", s)
	}
	if from == "" || to == "" {
		return nil, nil, errors.New("--from and --to are required")
	}
	f, err := parse(from)
	if err != nil {
		return nil, nil, fmt.Errorf("--from: %w", err)
	}
	t, err := parse(to)
	if err != nil {
		return nil, nil, fmt.Errorf("--to: %w", err)
	}
	return f, t, nil
}

func runRecordings(ctx context.Context, c *cli, args []string) error {
	camera, rest := splitPositional(args)
	fs := newFlags("recordings", c)
	from := fs.String("from", "", "start, e.g. '2026-11-22 09:00' (required), "+zoneNote)
	to := fs.String("to", "", "end (required), "+zoneNote)
	if err := fs.Parse(rest); err != nil {
		return err
	}
	if camera == "" {
		return errors.New("usage: gwanje recordings CAMERA --from TIME --to TIME")
	}
	f, t, err := parseRange(*from, *to)
	if err != nil {
		return err
	}
	ctx, cancel, cl, err := c.recordings(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	lr := &pb.ListRecordingsRequest{CameraId: camera, From: f, To: t}
	res, err := allPages(func(token string) (*pb.ListRecordingsResponse, error) {
		lr.PageToken = token
		return cl.ListRecordings(ctx, lr)
	})
	if err != nil {
		return err
	}
	return c.print(res, func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "FROM\tTO\tSEGMENTS\tMB\tNODE\t")
		for _, s := range res.GetSpans() {
			note := ""
			if s.GetAvailability() == pb.RecordingAvailability_RECORDING_AVAILABILITY_NODE_DOWN {
				note = "unavailable (" + s.GetUnavailableReason() + ")"
			}
			fmt.Fprintf(w, "%s\t%s\t%d\t%.1f\t%s\t%s\n", fmtSec(s.GetStart()), fmtSec(s.GetEnd()), s.GetSegments(), float64(s.GetBytes())/1e6, s.GetNode(), note)
		}
		for _, g := range res.GetGaps() {
			fmt.Fprintf(w, "gap %s\t%s\t\t\t\n", fmtSec(g.GetStart()), fmtSec(g.GetEnd()))
		}
	})
}

func fmtSec(t *timestamppb.Timestamp) string {
	return t.AsTime().In(zone).Format("2006-01-02 15:04:05")
}

func runPlayback(ctx context.Context, c *cli, args []string) error {
	camera, rest := splitPositional(args)
	fs := newFlags("playback", c)
	from := fs.String("from", "", "footage start (required), "+zoneNote)
	to := fs.String("to", "", "footage end (required), "+zoneNote)
	var purpose pb.Purpose
	enumVar(fs, &purpose, "purpose", "", "purpose of viewing (required): "+strings.Join(pb.Codes[pb.Purpose](), ", "))
	reason := fs.String("reason", "", "free text (required with --purpose other)")
	var transport pb.PlaybackTransport
	enumVar(fs, &transport, "transport", "rtsp", "rtsp (players) or mse (an HTTPS URL for a browser's Media Source Extensions: the console)")
	play := fs.Bool("play", false, "open the stream with ffplay or VLC when installed (RTSP only)")
	if err := fs.Parse(rest); err != nil {
		return err
	}
	if *play && transport == pb.PlaybackTransport_PLAYBACK_TRANSPORT_MSE {
		return errors.New("--play opens RTSP URLs; an MSE URL is for a browser (the console)")
	}
	if camera == "" {
		return errors.New("usage: gwanje playback CAMERA --from TIME --to TIME --purpose CODE")
	}
	if err := required(fs, "purpose"); err != nil {
		return err
	}
	f, t, err := parseRange(*from, *to)
	if err != nil {
		return err
	}
	ctx, cancel, cl, err := c.recordings(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	res, err := cl.StartPlayback(ctx, &pb.StartPlaybackRequest{CameraId: camera, From: f, To: t, Purpose: purpose, PurposeText: *reason, Transport: transport})
	if err != nil {
		return err
	}
	if err := c.print(res, func(w *tabwriter.Writer) {
		fmt.Fprintf(w, "url\t%s\n", res.GetUrl())
		fmt.Fprintf(w, "open before\t%s (the URL works once)\n", res.GetExpiresAt().AsTime().In(zone).Format("15:04:05"))
		fmt.Fprintf(w, "recorded as\taudit entry %d\n", res.GetAuditSeq())
	}); err != nil {
		return err
	}
	if !*play {
		return nil
	}
	for _, player := range [][]string{{"ffplay", "-loglevel", "warning", "-rtsp_transport", "tcp"}, {"vlc"}} {
		if p, err := exec.LookPath(player[0]); err == nil {
			cmd := exec.Command(p, append(player[1:], res.GetUrl())...)
			cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
			return cmd.Run()
		}
	}
	return errors.New("no player found (ffplay or VLC): open the URL above in one")
}

func runHolds(ctx context.Context, c *cli, args []string) error {
	return sub(ctx, c, "holds", args, map[string]func(context.Context, *cli, []string) error{
		"list": func(ctx context.Context, c *cli, args []string) error {
			fs := newFlags("holds list", c)
			camera := fs.String("camera", "", "only this camera")
			active := fs.Bool("active", false, "only holds in force")
			if err := fs.Parse(args); err != nil {
				return err
			}
			ctx, cancel, cl, err := c.recordings(ctx)
			if err != nil {
				return err
			}
			defer cancel()
			lr := &pb.ListHoldsRequest{CameraId: *camera, ActiveOnly: *active}
			res, err := allPages(func(token string) (*pb.ListHoldsResponse, error) {
				lr.PageToken = token
				return cl.ListHolds(ctx, lr)
			})
			if err != nil {
				return err
			}
			return c.print(res, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "ID\tCASE\tCAMERAS\tFROM\tTO\tBY\tRELEASED")
				for _, h := range res.GetHolds() {
					fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", h.GetId(), h.GetCaseRef(), len(h.GetCameras()), fmtSec(h.GetFrom()), fmtSec(h.GetTo()), h.GetCreatedBy(), fmtTime(h.GetReleasedAt()))
				}
			})
		},
		"create": func(ctx context.Context, c *cli, args []string) error {
			fs := newFlags("holds create", c)
			cams := fs.String("cameras", "", "camera ids, comma-separated (required)")
			from := fs.String("from", "", "footage start (required), "+zoneNote)
			to := fs.String("to", "", "footage end (required), "+zoneNote)
			caseRef := fs.String("case", "", "case reference, e.g. the official letter number (required)")
			reason := fs.String("reason", "", "why (required)")
			if err := fs.Parse(args); err != nil {
				return err
			}
			if err := required(fs, "cameras", "case", "reason"); err != nil {
				return err
			}
			f, t, err := parseRange(*from, *to)
			if err != nil {
				return err
			}
			ctx, cancel, cl, err := c.recordings(ctx)
			if err != nil {
				return err
			}
			defer cancel()
			h, err := cl.CreateHold(ctx, &pb.CreateHoldRequest{Cameras: list(*cams), From: f, To: t, CaseRef: *caseRef, Reason: *reason})
			if err != nil {
				return err
			}
			return c.print(h, func(w *tabwriter.Writer) { fmt.Fprintf(w, "held\t%s (%s)\n", h.GetCaseRef(), h.GetId()) })
		},
		"release": func(ctx context.Context, c *cli, args []string) error {
			fs := newFlags("holds release", c)
			id := fs.String("id", "", "hold id (required)")
			reason := fs.String("reason", "", "why (required)")
			if err := fs.Parse(args); err != nil {
				return err
			}
			if err := required(fs, "id", "reason"); err != nil {
				return err
			}
			ctx, cancel, cl, err := c.recordings(ctx)
			if err != nil {
				return err
			}
			defer cancel()
			_, err = cl.ReleaseHold(ctx, &pb.ReleaseHoldRequest{HoldId: *id, Reason: *reason})
			return err
		},
	})
}
