package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"text/tabwriter"

	pb "github.com/gwanje/gwanje/proto/gwanje/v1"
)

func init() {
	register(command{name: "live", summary: "live CAMERA --purpose CODE [--reason TEXT] [--transport rtsp|webrtc] [--play]: a recorded live view (prints the RTSP URL, or the WHEP URL for a browser)", run: runLive})
	register(command{name: "live-sessions", summary: "live-sessions [--all] | live-sessions stop --id ID | live-sessions switch --id ID --profile main|sub: open live views", run: runLiveSessions})
}

func (c *cli) streams(ctx context.Context) (context.Context, context.CancelFunc, pb.StreamServiceClient, error) {
	return connect(ctx, c, pb.NewStreamServiceClient)
}

// splitPositional takes a leading non-flag argument (the camera) off args.
func splitPositional(args []string) (string, []string) {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		return args[0], args[1:]
	}
	return "", args
}

func runLive(ctx context.Context, c *cli, args []string) error {
	camera, rest := splitPositional(args)
	fs := newFlags("live", c)
	var purpose pb.Purpose
	enumVar(fs, &purpose, "purpose", "", "purpose of viewing (required): "+strings.Join(pb.Codes[pb.Purpose](), ", "))
	reason := fs.String("reason", "", "free text (required with --purpose other)")
	profile := fs.String("profile", "main", "main or sub")
	var transport pb.Transport
	enumVar(fs, &transport, "transport", "rtsp", "rtsp (players) or webrtc (a WHEP URL for a browser: POST an SDP offer to it)")
	play := fs.Bool("play", false, "open the stream with ffplay or VLC when installed (RTSP only)")
	if err := fs.Parse(rest); err != nil {
		return err
	}
	if *play && transport == pb.Transport_TRANSPORT_WEBRTC {
		return errors.New("--play opens RTSP URLs; a WHEP URL is for a browser (the console)")
	}
	if camera == "" {
		return errors.New("usage: gwanje live CAMERA --purpose CODE [--reason TEXT] [--play]")
	}
	if err := required(fs, "purpose"); err != nil {
		return err
	}
	ctx, cancel, cl, err := c.streams(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	res, err := cl.StartLiveView(ctx, &pb.StartLiveViewRequest{CameraId: camera, Profile: *profile, Purpose: purpose, PurposeText: *reason,
		Transport: transport})
	if err != nil {
		return err
	}
	if err := c.print(res, func(w *tabwriter.Writer) {
		fmt.Fprintf(w, "url\t%s\n", res.GetUrl())
		if res.GetTransport() == pb.Transport_TRANSPORT_WEBRTC {
			fmt.Fprintf(w, "transport\twebrtc (WHEP: POST an application/sdp offer to the URL)\n")
		}
		fmt.Fprintf(w, "profile\t%s\n", res.GetProfile())
		if n := res.GetNotice(); n != "" {
			fmt.Fprintf(w, "note\t%s\n", n)
		}
		fmt.Fprintf(w, "view\t%s (live-sessions stop|switch --id)\n", res.GetSessionId())
		fmt.Fprintf(w, "open before\t%s (the URL works once)\n", res.GetExpiresAt().AsTime().In(zone).Format("15:04:05"))
		fmt.Fprintf(w, "recorded as\taudit entry %d\n", res.GetAuditSeq())
	}); err != nil {
		return err
	}
	if !*play {
		return nil
	}
	for _, player := range [][]string{{"ffplay", "-loglevel", "warning", "-rtsp_transport", "tcp"}, {"vlc"}, {"cvlc"}} {
		if p, err := exec.LookPath(player[0]); err == nil {
			cmd := exec.Command(p, append(player[1:], res.GetUrl())...)
			cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
			return cmd.Run()
		}
	}
	return errors.New("no player found (ffplay or VLC): open the URL above in one")
}

func runLiveSessions(ctx context.Context, c *cli, args []string) error {
	if len(args) > 0 && args[0] == "stop" {
		fs := newFlags("live-sessions stop", c)
		id := fs.String("id", "", "session id (required)")
		reason := fs.String("reason", "", "why")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if err := required(fs, "id"); err != nil {
			return err
		}
		ctx, cancel, cl, err := c.streams(ctx)
		if err != nil {
			return err
		}
		defer cancel()
		_, err = cl.StopLiveView(ctx, &pb.StopLiveViewRequest{SessionId: *id, Reason: *reason})
		return err
	}
	if len(args) > 0 && args[0] == "switch" {
		fs := newFlags("live-sessions switch", c)
		id := fs.String("id", "", "your WebRTC view's id (required)")
		profile := fs.String("profile", "", "main or sub (required)")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if err := required(fs, "id", "profile"); err != nil {
			return err
		}
		ctx, cancel, cl, err := c.streams(ctx)
		if err != nil {
			return err
		}
		defer cancel()
		res, err := cl.SwitchLiveProfile(ctx, &pb.SwitchLiveProfileRequest{SessionId: *id, Profile: *profile})
		if err != nil {
			return err
		}
		return c.print(res, func(w *tabwriter.Writer) {
			fmt.Fprintf(w, "profile\t%s\n", res.GetProfile())
			fmt.Fprintf(w, "recorded as\taudit entry %d\n", res.GetAuditSeq())
		})
	}
	fs := newFlags("live-sessions", c)
	all := fs.Bool("all", false, "everyone's views of the cameras in your scope (managers, auditors)")
	camera := fs.String("camera", "", "only this camera")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel, cl, err := c.streams(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	lr := &pb.ListLiveSessionsRequest{All: *all, CameraId: *camera}
	res, err := allPages(func(token string) (*pb.ListLiveSessionsResponse, error) {
		lr.PageToken = token
		return cl.ListLiveSessions(ctx, lr)
	})
	if err != nil {
		return err
	}
	return c.print(res, func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "ID\tUSER\tCAMERA\tPROFILE\tVIA\tPURPOSE\tSINCE\tBYTES\tDROPPED\tFROM")
		for _, s := range res.GetSessions() {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n", s.GetSessionId(), s.GetUsername(), s.GetCameraId(), s.GetProfile(),
				pb.Code(s.GetTransport()), purposeLabel(s.GetPurpose()), fmtTime(s.GetStartedAt()), s.GetBytes(), s.GetDroppedFrames(), s.GetClientAddr())
		}
	})
}
