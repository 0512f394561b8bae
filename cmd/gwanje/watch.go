package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/gwanje/gwanje/proto/gwanje/v1"
)

func init() {
	register(command{name: "watch", summary: "watch camera status, events and alarms as they happen (Ctrl-C to stop)", run: runWatch})
	register(command{name: "alarms", summary: "alarms list [--open] | alarms ack --id ID [--note TEXT]", run: runAlarms})
	register(command{name: "availability", summary: "availability --from --to [--period day|month]: camera uptime", run: runAvailability})
}

func (c *cli) healthClient(ctx context.Context) (context.Context, pb.HealthServiceClient, error) {
	conn, err := c.dial()
	if err != nil {
		return nil, nil, err
	}
	ctx, err = c.authed(ctx)
	if err != nil {
		return nil, nil, err
	}
	return ctx, pb.NewHealthServiceClient(conn), nil
}

func short(s string) string {
	return strings.TrimPrefix(strings.TrimPrefix(s, "CAMERA_STATE_"), "CAMERA_EVENT_KIND_")
}

// runWatch prints every update and, when the stream breaks, reconnects and
// resumes from the last sequence seen, so nothing is missed.
func runWatch(ctx context.Context, c *cli, args []string) error {
	fs := newFlags("watch", c)
	cams := fs.String("cameras", "", "only these camera ids, comma-separated")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var last uint64
	for {
		actx, cl, err := c.healthClient(ctx)
		if err != nil {
			return err
		}
		st, err := cl.WatchEvents(actx, &pb.WatchEventsRequest{CameraIds: list(*cams), ResumeFrom: last})
		if err != nil {
			return err
		}
		for {
			m, err := st.Recv()
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				fmt.Fprintf(c.stderr, "stream interrupted (%s); resuming after %d\n", c.describe(err), last)
				time.Sleep(time.Second)
				break
			}
			last = max(last, m.GetSeq())
			if c.output == "json" {
				if err := c.print(m, nil); err != nil {
					return err
				}
				continue
			}
			tag := ""
			if m.GetSnapshot() {
				tag = " (now)"
			}
			switch {
			case m.GetSnapshotDone():
				fmt.Fprintln(c.stdout, "-- live from here --")
			case m.GetStatus() != nil:
				s := m.GetStatus()
				fmt.Fprintf(c.stdout, "%s %s status %s%s: %s (offset %s)\n", when(s.GetObservedAt()), s.GetCameraId(), short(s.GetState().String()), tag, s.GetCause(), s.GetClockOffset().AsDuration().Round(time.Millisecond))
			case m.GetEvent() != nil:
				e := m.GetEvent()
				fmt.Fprintf(c.stdout, "%s %s event %s active=%v%s\n", when(e.GetTime()), e.GetCameraId(), short(e.GetKind().String()), e.GetActive(), tag)
			case m.GetAlarm() != nil:
				a := m.GetAlarm()
				fmt.Fprintf(c.stdout, "%s %s ALARM %s %s%s: %s (id %s)\n", when(a.GetRaisedAt()), alarmSubject(a), a.GetKind(), a.GetState(), tag, a.GetCause(), a.GetId())
			}
		}
	}
}

// alarmSubject is the camera an alarm is about, or, for an alarm about a
// recorder node or the system, what raised it (e.g. recorder/node-1).
func alarmSubject(a *pb.Alarm) string {
	if a.GetCameraId() != "" {
		return a.GetCameraId()
	}
	return a.GetSource()
}

func when(t *timestamppb.Timestamp) string {
	if t == nil {
		return "-------- --:--:--"
	}
	return t.AsTime().In(zone).Format("01-02 15:04:05")
}

func runAlarms(ctx context.Context, c *cli, args []string) error {
	return sub(ctx, c, "alarms", args, map[string]func(context.Context, *cli, []string) error{
		"list": func(ctx context.Context, c *cli, args []string) error {
			fs := newFlags("alarms list", c)
			open := fs.Bool("open", false, "only alarms not cleared")
			var kinds []pb.AlarmKind
			enumListVar(fs, &kinds, "kind", "alarm kinds, comma-separated: "+strings.Join(pb.Codes[pb.AlarmKind](), ", "))
			if err := fs.Parse(args); err != nil {
				return err
			}
			actx, cl, err := c.healthClient(ctx)
			if err != nil {
				return err
			}
			actx, cancel := c.callCtx(actx)
			defer cancel()
			lr := &pb.ListAlarmsRequest{OpenOnly: *open, Kinds: kinds}
			res, err := allPages(func(token string) (*pb.ListAlarmsResponse, error) {
				lr.PageToken = token
				return cl.ListAlarms(actx, lr)
			})
			if err != nil {
				return err
			}
			return c.print(res, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "ID\tCAMERA\tKIND\tSTATE\tRAISED\tACKNOWLEDGED BY\tCAUSE")
				for _, a := range res.GetAlarms() {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.GetId(), alarmSubject(a), a.GetKind(), a.GetState(), when(a.GetRaisedAt()), a.GetAcknowledgedByName(), a.GetCause())
				}
			})
		},
		"ack": func(ctx context.Context, c *cli, args []string) error {
			fs := newFlags("alarms ack", c)
			id := fs.String("id", "", "alarm id (required)")
			note := fs.String("note", "", "what was done")
			if err := fs.Parse(args); err != nil {
				return err
			}
			if err := required(fs, "id"); err != nil {
				return err
			}
			actx, cl, err := c.healthClient(ctx)
			if err != nil {
				return err
			}
			actx, cancel := c.callCtx(actx)
			defer cancel()
			a, err := cl.AcknowledgeAlarm(actx, &pb.AcknowledgeAlarmRequest{AlarmId: *id, Note: *note})
			if err != nil {
				return err
			}
			return c.print(a, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "acknowledged\t%s at %s\n", a.GetId(), when(a.GetAcknowledgedAt()))
			})
		},
	})
}

func runAvailability(ctx context.Context, c *cli, args []string) error {
	fs := newFlags("availability", c)
	from := fs.String("from", "", "start, YYYY-MM-DD (default: 7 days ago), "+zoneNote)
	to := fs.String("to", "", "end (exclusive), YYYY-MM-DD (default: now), "+zoneNote)
	period := fs.String("period", "day", "day or month")
	cams := fs.String("cameras", "", "camera ids, comma-separated (default: all you may see)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	r := &pb.GetAvailabilityRequest{Period: *period, CameraIds: list(*cams), From: timestamppb.New(time.Now().AddDate(0, 0, -7))}
	var err error
	if *from != "" {
		if r.From, err = optWhen(*from); err != nil {
			return fmt.Errorf("--from: %w", err)
		}
	}
	if r.To, err = optWhen(*to); err != nil {
		return fmt.Errorf("--to: %w", err)
	}
	actx, cl, err := c.healthClient(ctx)
	if err != nil {
		return err
	}
	actx, cancel := c.callCtx(actx)
	defer cancel()
	res, err := cl.GetAvailability(actx, r)
	if err != nil {
		return err
	}
	return c.print(res, func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "CAMERA\tFROM\tUP\tDOWN\tMAINTENANCE\tAVAILABILITY")
		for _, a := range res.GetRows() {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%.2f%%\n", a.GetCameraId(), when(a.GetStart()), a.GetUp().AsDuration().Round(time.Second),
				a.GetDown().AsDuration().Round(time.Second), a.GetMaintenance().AsDuration().Round(time.Second), 100*a.GetRatio())
		}
	})
}
