package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/gwanje/gwanje/proto/gwanje/v1"
)

func init() {
	register(command{name: "clock", summary: "clock show|fix: a camera's clock (footage with a wrong time is weak evidence)", run: runClock})
	register(command{name: "reboot", summary: "reboot a camera (technicians)", run: runReboot})
	register(command{name: "snapshot", summary: "save a still image of a camera (needs --purpose; recorded)", run: runSnapshot})
	register(command{name: "ptz", summary: "ptz move|stop|goto|set-preset|status: move a PTZ camera (needs --purpose; recorded)", run: runPTZ})
}

func printClock(c *cli, st *pb.ClockStatus) error {
	return c.print(st, func(w *tabwriter.Writer) {
		fmt.Fprintf(w, "camera time (UTC)\t%s\n", st.GetCameraUtc().AsTime().Format("2006-01-02 15:04:05"))
		fmt.Fprintf(w, "offset from server\t%s\n", st.GetOffset().AsDuration().Round(time.Millisecond))
		fmt.Fprintf(w, "mode\t%s %v\n", st.GetMode(), st.GetNtpServers())
	})
}

func runClock(ctx context.Context, c *cli, args []string) error {
	return sub(ctx, c, "clock", args, map[string]func(context.Context, *cli, []string) error{
		"show": func(ctx context.Context, c *cli, args []string) error {
			fs := newFlags("clock show", c)
			id := fs.String("camera", "", "camera id (required)")
			if err := fs.Parse(args); err != nil {
				return err
			}
			if err := required(fs, "camera"); err != nil {
				return err
			}
			ctx, cancel, cl, err := c.devices(ctx)
			if err != nil {
				return err
			}
			defer cancel()
			st, err := cl.GetClock(ctx, &pb.GetClockRequest{CameraId: *id})
			if err != nil {
				return err
			}
			return printClock(c, st)
		},
		"fix": func(ctx context.Context, c *cli, args []string) error {
			fs := newFlags("clock fix", c)
			id := fs.String("camera", "", "camera id (required)")
			ntp := fs.String("ntp", "", "NTP servers, comma-separated (default: set the camera to the server's time)")
			reason := fs.String("reason", "", "why (required)")
			if err := fs.Parse(args); err != nil {
				return err
			}
			if err := required(fs, "camera", "reason"); err != nil {
				return err
			}
			ctx, cancel, cl, err := c.devices(ctx)
			if err != nil {
				return err
			}
			defer cancel()
			st, err := cl.FixClock(ctx, &pb.FixClockRequest{CameraId: *id, NtpServers: list(*ntp), Reason: *reason})
			if err != nil {
				return err
			}
			return printClock(c, st)
		},
	})
}

func runReboot(ctx context.Context, c *cli, args []string) error {
	fs := newFlags("reboot", c)
	id := fs.String("camera", "", "camera id (required)")
	reason := fs.String("reason", "", "why (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := required(fs, "camera", "reason"); err != nil {
		return err
	}
	ctx, cancel, cl, err := c.devices(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	res, err := cl.RebootCamera(ctx, &pb.RebootCameraRequest{CameraId: *id, Reason: *reason})
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "rebooting: %s\n", res.GetMessage())
	return nil
}

func runSnapshot(ctx context.Context, c *cli, args []string) error {
	fs := newFlags("snapshot", c)
	id := fs.String("camera", "", "camera id (required)")
	var purpose pb.Purpose
	enumVar(fs, &purpose, "purpose", "", "purpose of viewing (required): crime_prevention, facility_safety, traffic_enforcement, traffic_info, disaster_response, subject_request, maintenance, other: "+strings.Join(pb.Codes[pb.Purpose](), ", "))
	text := fs.String("reason", "", "free text (required with --purpose other)")
	out := fs.String("out", "", "file to write (default snapshot-<camera>-<time>.jpg)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := required(fs, "camera", "purpose"); err != nil {
		return err
	}
	ctx, cancel, cl, err := c.devices(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	res, err := cl.GetSnapshot(ctx, &pb.GetSnapshotRequest{CameraId: *id, Purpose: purpose, PurposeText: *text})
	if err != nil {
		return err
	}
	if *out == "" {
		*out = fmt.Sprintf("snapshot-%s-%s.jpg", *id, time.Now().Format("20060102-150405"))
	}
	if err := os.WriteFile(*out, res.GetImage(), 0o600); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "wrote %s (%d bytes, recorded as audit entry %d)\n", *out, len(res.GetImage()), res.GetAuditSeq())
	return nil
}

func runPTZ(ctx context.Context, c *cli, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: gwanje ptz move|stop|goto|set-preset|status --camera ID --purpose CODE …")
	}
	action := map[string]string{"move": "move", "stop": "stop", "goto": "goto", "set-preset": "set_preset", "status": "status", "absolute": "absolute"}[args[0]]
	if action == "" {
		return fmt.Errorf("unknown ptz action %q: move, stop, goto, set-preset, status, absolute", args[0])
	}
	fs := newFlags("ptz "+args[0], c)
	r := &pb.ControlPTZRequest{Action: action, Velocity: &pb.PTZVector{}, Position: &pb.PTZVector{}}
	fs.StringVar(&r.CameraId, "camera", "", "camera id (required)")
	enumVar(fs, &r.Purpose, "purpose", "", "purpose of viewing (required): "+strings.Join(pb.Codes[pb.Purpose](), ", "))
	fs.StringVar(&r.PurposeText, "reason", "", "free text")
	fs.Float64Var(&r.Velocity.Pan, "pan", 0, "move: pan speed -1…1 / absolute: pan position")
	fs.Float64Var(&r.Velocity.Tilt, "tilt", 0, "move: tilt speed -1…1 / absolute: tilt position")
	fs.Float64Var(&r.Velocity.Zoom, "zoom", 0, "move: zoom speed / absolute: zoom position")
	dur := fs.Duration("for", 2*time.Second, "move: how long")
	fs.StringVar(&r.PresetToken, "preset", "", "goto: preset token")
	fs.StringVar(&r.PresetName, "name", "", "set-preset: preset name")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if err := required(fs, "camera", "purpose"); err != nil {
		return err
	}
	r.Duration = durationpb.New(*dur)
	if action == "absolute" {
		r.Position, r.Velocity = r.Velocity, nil
	}
	ctx, cancel, cl, err := c.devices(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	res, err := cl.ControlPTZ(ctx, r)
	if err != nil {
		return err
	}
	return c.print(res, func(w *tabwriter.Writer) {
		p := res.GetPosition()
		fmt.Fprintf(w, "position\tpan %.3f tilt %.3f zoom %.3f (%s)\n", p.GetPan(), p.GetTilt(), p.GetZoom(), res.GetPanTiltMove())
		for _, pr := range res.GetPresets() {
			fmt.Fprintf(w, "preset\t%s %s\n", pr.GetToken(), pr.GetName())
		}
	})
}
