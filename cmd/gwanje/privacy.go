package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/gwanje/gwanje/proto/gwanje/v1"
)

func init() {
	register(command{name: "provisions", summary: "provisions request|show|approve|reject|letter|export|outcome|destroyed|close|register: 제3자 제공 with four eyes", run: runProvisions})
	register(command{name: "requests", summary: "requests open|show|list|decide|delete|close: 정보주체 열람·존재확인·삭제 청구", run: runRequests})
}

func (c *cli) privacy(ctx context.Context) (context.Context, context.CancelFunc, pb.PrivacyServiceClient, error) {
	return connect(ctx, c, pb.NewPrivacyServiceClient)
}

func printProvision(c *cli, p *pb.Provision) error {
	return c.print(p, func(w *tabwriter.Writer) {
		r := p.GetRecipient()
		fmt.Fprintf(w, "provision\t%s (%s)\n", p.GetId(), pb.Code(p.GetStatus()))
		fmt.Fprintf(w, "recipient\t%s %s %s %s (%s)\n", r.GetOrg(), r.GetUnit(), r.GetRank(), r.GetName(), r.GetContact())
		fmt.Fprintf(w, "letter / basis\t%s / %s\n", p.GetLetterNo(), p.GetBasis())
		fmt.Fprintf(w, "footage\t%v %s ~ %s\n", p.GetCameras(), fmtSec(p.GetFrom()), fmtSec(p.GetTo()))
		fmt.Fprintf(w, "requested by\t%s at %s\n", p.GetRequestedBy(), fmtTime(p.GetRequestedAt()))
		if p.GetApprovedBy() != "" {
			fmt.Fprintf(w, "approved by\t%s at %s (emergency %v)\n", p.GetApprovedBy(), fmtTime(p.GetApprovedAt()), p.GetEmergency())
		}
	})
}

// idStep runs a provision step that takes an id and one text flag.
func idStep(name, textFlag, textHelp string, call func(context.Context, pb.PrivacyServiceClient, string, string) (*pb.Provision, error)) func(context.Context, *cli, []string) error {
	return func(ctx context.Context, c *cli, args []string) error {
		fs := newFlags("provisions "+name, c)
		id := fs.String("id", "", "provision id (required)")
		text := new(string)
		if textFlag != "" {
			text = fs.String(textFlag, "", textHelp)
		}
		if err := fs.Parse(args); err != nil {
			return err
		}
		if err := required(fs, "id"); err != nil {
			return err
		}
		ctx, cancel, cl, err := c.privacy(ctx)
		if err != nil {
			return err
		}
		defer cancel()
		p, err := call(ctx, cl, *id, *text)
		if err != nil {
			return err
		}
		return printProvision(c, p)
	}
}

func runProvisions(ctx context.Context, c *cli, args []string) error {
	return sub(ctx, c, "provisions", args, map[string]func(context.Context, *cli, []string) error{
		"request": func(ctx context.Context, c *cli, args []string) error {
			fs := newFlags("provisions request", c)
			r := &pb.RequestProvisionRequest{Recipient: &pb.Recipient{}}
			fs.StringVar(&r.Recipient.Org, "org", "", "recipient organization, e.g. ○○경찰서 (required)")
			fs.StringVar(&r.Recipient.Unit, "unit", "", "unit, e.g. 형사과")
			fs.StringVar(&r.Recipient.Rank, "rank", "", "rank")
			fs.StringVar(&r.Recipient.Name, "name", "", "name (required)")
			fs.StringVar(&r.Recipient.Contact, "contact", "", "contact (required)")
			fs.StringVar(&r.LetterNo, "letter", "", "official letter (공문) number; empty only for an emergency")
			fs.StringVar(&r.Reason, "reason", "", "crime type or reason (required)")
			fs.StringVar(&r.Basis, "basis", "investigation", "legal basis: investigation, consent, law, urgent, court, sentence")
			cams := fs.String("cameras", "", "camera ids, comma-separated (required)")
			from := fs.String("from", "", "footage start (required), "+zoneNote)
			to := fs.String("to", "", "footage end (required), "+zoneNote)
			until := fs.String("use-until", "", "end of the period of use, YYYY-MM-DD (required)")
			fs.StringVar(&r.Form, "form", "video", "video or still")
			fs.StringVar(&r.Delivery, "delivery", "download", "download or media")
			fs.StringVar(&r.Safeguards, "safeguards", "", "safeguards requested of the recipient")
			fs.BoolVar(&r.SecurityPledge, "security-pledge", false, "the recipient signed a security pledge (보안서약)")
			enumVar(fs, &r.Purpose, "purpose", "crime_prevention", "purpose of the provision: "+strings.Join(pb.Codes[pb.Purpose](), ", "))
			if err := fs.Parse(args); err != nil {
				return err
			}
			if err := required(fs, "org", "name", "contact", "reason", "cameras", "use-until"); err != nil {
				return err
			}
			var err error
			if r.From, r.To, err = parseRange(*from, *to); err != nil {
				return err
			}
			if r.UseUntil, err = optWhen(*until); err != nil {
				return fmt.Errorf("--use-until: %w", err)
			}
			r.Cameras = list(*cams)
			ctx, cancel, cl, err := c.privacy(ctx)
			if err != nil {
				return err
			}
			defer cancel()
			p, err := cl.RequestProvision(ctx, r)
			if err != nil {
				return err
			}
			return printProvision(c, p)
		},
		"show": idStep("show", "", "", func(ctx context.Context, cl pb.PrivacyServiceClient, id, _ string) (*pb.Provision, error) {
			return cl.GetProvision(ctx, &pb.GetProvisionRequest{ProvisionId: id})
		}),
		"approve": func(ctx context.Context, c *cli, args []string) error {
			fs := newFlags("provisions approve", c)
			id := fs.String("id", "", "provision id (required)")
			emergency := fs.Bool("emergency", false, "approve before the official letter arrives (flagged until it does)")
			note := fs.String("note", "", "note")
			if err := fs.Parse(args); err != nil {
				return err
			}
			if err := required(fs, "id"); err != nil {
				return err
			}
			ctx, cancel, cl, err := c.privacy(ctx)
			if err != nil {
				return err
			}
			defer cancel()
			p, err := cl.ApproveProvision(ctx, &pb.ApproveProvisionRequest{ProvisionId: *id, Emergency: *emergency, Note: *note})
			if err != nil {
				return err
			}
			return printProvision(c, p)
		},
		"reject": idStep("reject", "reason", "why (required)", func(ctx context.Context, cl pb.PrivacyServiceClient, id, t string) (*pb.Provision, error) {
			return cl.RejectProvision(ctx, &pb.RejectProvisionRequest{ProvisionId: id, Reason: t})
		}),
		"letter": idStep("letter", "letter", "official letter number (required)", func(ctx context.Context, cl pb.PrivacyServiceClient, id, t string) (*pb.Provision, error) {
			return cl.RecordProvisionLetter(ctx, &pb.RecordProvisionLetterRequest{ProvisionId: id, LetterNo: t})
		}),
		"outcome": idStep("outcome", "outcome", "case outcome (required)", func(ctx context.Context, cl pb.PrivacyServiceClient, id, t string) (*pb.Provision, error) {
			return cl.RecordProvisionOutcome(ctx, &pb.RecordProvisionOutcomeRequest{ProvisionId: id, Outcome: t})
		}),
		"destroyed": idStep("destroyed", "note", "the recipient's destruction confirmation", func(ctx context.Context, cl pb.PrivacyServiceClient, id, t string) (*pb.Provision, error) {
			return cl.RecordRecipientDestruction(ctx, &pb.RecordRecipientDestructionRequest{ProvisionId: id, Note: t})
		}),
		"close": idStep("close", "note", "note", func(ctx context.Context, cl pb.PrivacyServiceClient, id, t string) (*pb.Provision, error) {
			return cl.CloseProvision(ctx, &pb.CloseProvisionRequest{ProvisionId: id, Note: t})
		}),
		"export": func(ctx context.Context, c *cli, args []string) error {
			fs := newFlags("provisions export", c)
			id := fs.String("id", "", "provision id (required)")
			dir := fs.String("manifest-dir", ".", "where to write the signed manifests")
			if err := fs.Parse(args); err != nil {
				return err
			}
			if err := required(fs, "id"); err != nil {
				return err
			}
			ctx, cancel, cl, err := c.privacy(ctx)
			if err != nil {
				return err
			}
			defer cancel()
			res, err := cl.ExportProvision(ctx, &pb.ExportProvisionRequest{ProvisionId: *id})
			if err != nil {
				return err
			}
			for _, e := range res.GetExports() {
				path := filepath.Join(*dir, e.GetFileName()+".manifest.json")
				if err := os.WriteFile(path, e.GetManifest(), 0o644); err != nil {
					return err
				}
			}
			return c.print(res, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "FILE\tCAMERA\tMB\tSHA-256\tDOWNLOAD (once, on gwanjed's HTTP address)\tUNTIL")
				for _, e := range res.GetExports() {
					fmt.Fprintf(w, "%s\t%s\t%.1f\t%s\t%s\t%s\n", e.GetFileName(), e.GetCameraId(), float64(e.GetSize())/1e6, e.GetSha256(), e.GetDownloadPath(), fmtTime(e.GetDownloadExpiresAt()))
				}
			})
		},
		"register": func(ctx context.Context, c *cli, args []string) error {
			fs := newFlags("provisions register", c)
			from := fs.String("from", "", "period start, YYYY-MM-DD (required), "+zoneNote)
			to := fs.String("to", "", "period end, YYYY-MM-DD (required), "+zoneNote)
			out := fs.String("out", "", "file to write (default the server's name)")
			format := fs.String("format", "", "xlsx or csv (default: from --out's extension, else xlsx)")
			if err := fs.Parse(args); err != nil {
				return err
			}
			if *format == "" {
				*format = "xlsx"
				if strings.EqualFold(filepath.Ext(*out), ".csv") {
					*format = "csv"
				}
			}
			if ext := strings.ToLower(strings.TrimPrefix(filepath.Ext(*out), ".")); *out != "" && ext != *format {
				return fmt.Errorf("--out %s does not end in .%s", *out, *format)
			}
			f, t, err := parseRange(*from, *to)
			if err != nil {
				return err
			}
			ctx, cancel, cl, err := c.privacy(ctx)
			if err != nil {
				return err
			}
			defer cancel()
			rep, err := cl.GetProvisionRegister(ctx, &pb.GetProvisionRegisterRequest{From: f, To: t, Format: *format})
			if err != nil {
				return err
			}
			return c.saveReport(rep, *out)
		},
	})
}

func printRequest(c *cli, r *pb.SubjectRequest) error {
	return c.print(r, func(w *tabwriter.Writer) {
		fmt.Fprintf(w, "request\t%s (%s, %s)\n", r.GetId(), pb.Code(r.GetKind()), pb.Code(r.GetStatus()))
		fmt.Fprintf(w, "requester\t%s (%s) %s\n", r.GetRequesterName(), r.GetRequesterContact(), r.GetAgentRelation())
		fmt.Fprintf(w, "footage\t%v %s %s ~ %s\n", r.GetCameras(), r.GetPlace(), fmtSec(r.GetFrom()), fmtSec(r.GetTo()))
		fmt.Fprintf(w, "deadline\t%s\n", fmtTime(r.GetDeadline()))
		if r.GetDecision() != "" {
			fmt.Fprintf(w, "decision\t%s %s %s\n", r.GetDecision(), r.GetRefusalReason(), r.GetReasonText())
		}
	})
}

func runRequests(ctx context.Context, c *cli, args []string) error {
	return sub(ctx, c, "requests", args, map[string]func(context.Context, *cli, []string) error{
		"open": func(ctx context.Context, c *cli, args []string) error {
			fs := newFlags("requests open", c)
			r := &pb.OpenSubjectRequestRequest{}
			enumVar(fs, &r.Kind, "kind", "view", "view, confirm or delete")
			fs.StringVar(&r.RequesterName, "name", "", "requester's name (required)")
			fs.StringVar(&r.RequesterContact, "contact", "", "requester's contact (required)")
			fs.StringVar(&r.AgentRelation, "agent", "", "relation, when an agent asks")
			fs.StringVar(&r.PowerOfAttorney, "attorney", "", "the power of attorney (required with --agent)")
			fs.StringVar(&r.IdentityMethod, "identity", "", "how identity was verified (required)")
			cams := fs.String("cameras", "", "camera ids, comma-separated")
			fs.StringVar(&r.Site, "site", "", "or a site id")
			fs.StringVar(&r.Place, "place", "", "place")
			from := fs.String("from", "", "footage start (required), "+zoneNote)
			to := fs.String("to", "", "footage end (required), "+zoneNote)
			fs.StringVar(&r.Description, "description", "", "what to look for")
			if err := fs.Parse(args); err != nil {
				return err
			}
			if err := required(fs, "name", "contact", "identity"); err != nil {
				return err
			}
			var err error
			if r.From, r.To, err = parseRange(*from, *to); err != nil {
				return err
			}
			r.Cameras = list(*cams)
			ctx, cancel, cl, err := c.privacy(ctx)
			if err != nil {
				return err
			}
			defer cancel()
			out, err := cl.OpenSubjectRequest(ctx, r)
			if err != nil {
				return err
			}
			return printRequest(c, out)
		},
		"show": func(ctx context.Context, c *cli, args []string) error {
			fs := newFlags("requests show", c)
			id := fs.String("id", "", "request id (required)")
			if err := fs.Parse(args); err != nil {
				return err
			}
			ctx, cancel, cl, err := c.privacy(ctx)
			if err != nil {
				return err
			}
			defer cancel()
			out, err := cl.GetSubjectRequest(ctx, &pb.GetSubjectRequestRequest{SubjectRequestId: *id})
			if err != nil {
				return err
			}
			return printRequest(c, out)
		},
		"list": func(ctx context.Context, c *cli, args []string) error {
			fs := newFlags("requests list", c)
			open := fs.Bool("open", false, "only open requests")
			if err := fs.Parse(args); err != nil {
				return err
			}
			ctx, cancel, cl, err := c.privacy(ctx)
			if err != nil {
				return err
			}
			defer cancel()
			lr := &pb.ListSubjectRequestsRequest{OpenOnly: *open, From: timestamppb.New(timeZero), To: timestamppb.Now()}
			res, err := allPages(func(token string) (*pb.ListSubjectRequestsResponse, error) {
				lr.PageToken = token
				return cl.ListSubjectRequests(ctx, lr)
			})
			if err != nil {
				return err
			}
			return c.print(res, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "ID\tKIND\tSTATUS\tREQUESTER\tDEADLINE\tDECISION")
				for _, r := range res.GetRequests() {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", r.GetId(), pb.Code(r.GetKind()), pb.Code(r.GetStatus()), r.GetRequesterName(), fmtTime(r.GetDeadline()), r.GetDecision())
				}
			})
		},
		"decide": func(ctx context.Context, c *cli, args []string) error {
			fs := newFlags("requests decide", c)
			r := &pb.DecideSubjectRequestRequest{}
			fs.StringVar(&r.SubjectRequestId, "id", "", "request id (required)")
			fs.StringVar(&r.Decision, "decision", "", "view_notice, postpone, refuse, partial_refuse, destroyed or confirmed (required)")
			at := fs.String("viewing-at", "", "view_notice: when, 'YYYY-MM-DD HH:MM'")
			fs.StringVar(&r.ViewingPlace, "viewing-place", "", "view_notice: where")
			until := fs.String("postponed-until", "", "postpone: until when")
			fs.StringVar(&r.RefusalReason, "refusal", "", "investigation, destroyed, others_privacy, prohibited_by_law or other")
			fs.StringVar(&r.ReasonText, "reason", "", "the specifics")
			fs.StringVar(&r.Objection, "objection", "", "how to object (required with a refusal)")
			fs.StringVar(&r.Witness, "witness", "", "관리책임자·입회자")
			if err := fs.Parse(args); err != nil {
				return err
			}
			if err := required(fs, "id", "decision"); err != nil {
				return err
			}
			var err error
			if *at != "" {
				if r.ViewingAt, _, err = parseRange(*at, *at); err != nil {
					return err
				}
			}
			if *until != "" {
				if r.PostponedUntil, _, err = parseRange(*until, *until); err != nil {
					return err
				}
			}
			ctx, cancel, cl, err := c.privacy(ctx)
			if err != nil {
				return err
			}
			defer cancel()
			out, err := cl.DecideSubjectRequest(ctx, r)
			if err != nil {
				return err
			}
			return printRequest(c, out)
		},
		"delete": func(ctx context.Context, c *cli, args []string) error {
			fs := newFlags("requests delete", c)
			id := fs.String("id", "", "request id (required)")
			witness := fs.String("witness", "", "관리책임자·입회자 (required)")
			if err := fs.Parse(args); err != nil {
				return err
			}
			if err := required(fs, "id", "witness"); err != nil {
				return err
			}
			ctx, cancel, cl, err := c.privacy(ctx)
			if err != nil {
				return err
			}
			defer cancel()
			res, err := cl.GrantDeletion(ctx, &pb.GrantDeletionRequest{SubjectRequestId: *id, Witness: *witness})
			if err != nil {
				return err
			}
			return c.print(res, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "destroyed\t%d segments (파기 entry %d)\n", res.GetDeletedSegments(), res.GetAuditSeq())
				fmt.Fprintf(w, "kept\t%d straddling the range's edges, %d under another hold\n", res.GetKeptPartialSegments(), res.GetKeptHeldSegments())
			})
		},
		"close": func(ctx context.Context, c *cli, args []string) error {
			fs := newFlags("requests close", c)
			id := fs.String("id", "", "request id (required)")
			note := fs.String("note", "", "note")
			if err := fs.Parse(args); err != nil {
				return err
			}
			ctx, cancel, cl, err := c.privacy(ctx)
			if err != nil {
				return err
			}
			defer cancel()
			out, err := cl.CloseSubjectRequest(ctx, &pb.CloseSubjectRequestRequest{SubjectRequestId: *id, Note: *note})
			if err != nil {
				return err
			}
			return printRequest(c, out)
		},
	})
}

// timeZero starts "all" listings.
var timeZero = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
