package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	pb "github.com/gwanje/gwanje/proto/gwanje/v1"
)

func init() {
	register(command{name: "policy", summary: "policy draft|publish|versions: the 운영·관리 방침 generated from the registry", run: runPolicy})
}

func (c *cli) policyClient(ctx context.Context) (context.Context, context.CancelFunc, pb.PolicyServiceClient, error) {
	return connect(ctx, c, pb.NewPolicyServiceClient)
}

func runPolicy(ctx context.Context, c *cli, args []string) error {
	return sub(ctx, c, "policy", args, map[string]func(context.Context, *cli, []string) error{
		"draft": func(ctx context.Context, c *cli, args []string) error {
			fs := newFlags("policy draft", c)
			full := fs.Bool("markdown", false, "print the whole draft as Markdown")
			if err := fs.Parse(args); err != nil {
				return err
			}
			ctx, cancel, cl, err := c.policyClient(ctx)
			if err != nil {
				return err
			}
			defer cancel()
			d, err := cl.DraftPolicy(ctx, &pb.DraftPolicyRequest{})
			if err != nil {
				return err
			}
			if *full {
				_, err := fmt.Fprintln(c.stdout, d.GetMarkdown())
				return err
			}
			return c.print(d, func(w *tabwriter.Writer) {
				if d.GetUnchanged() {
					fmt.Fprintln(w, "unchanged\tthe published version is current; publishing would do nothing")
					return
				}
				fmt.Fprintf(w, "revision\t%s\n", d.GetProposedRevision())
				for _, ch := range d.GetChanges() {
					fmt.Fprintf(w, "changed\t%s (%s)\n", ch.GetTitle(), ch.GetClauseId())
				}
			})
		},
		"publish": func(ctx context.Context, c *cli, args []string) error {
			fs := newFlags("policy publish", c)
			r := &pb.PublishPolicyRequest{}
			announce := fs.String("announce", "", "공고일자 YYYY-MM-DD (default today)")
			effective := fs.String("effective", "", "시행일자 YYYY-MM-DD (default 7 days after)")
			fs.StringVar(&r.UrgentReason, "urgent", "", "reason to take effect less than 7 days after announcement")
			fs.StringVar(&r.Revision, "revision", "", "개정 연혁 line (default the proposed one)")
			if err := fs.Parse(args); err != nil {
				return err
			}
			var err error
			if r.AnnounceOn, err = optWhen(*announce); err != nil {
				return fmt.Errorf("--announce: %w", err)
			}
			if r.EffectiveOn, err = optWhen(*effective); err != nil {
				return fmt.Errorf("--effective: %w", err)
			}
			ctx, cancel, cl, err := c.policyClient(ctx)
			if err != nil {
				return err
			}
			defer cancel()
			p, err := cl.PublishPolicy(ctx, r)
			if err != nil {
				return err
			}
			return c.print(p, func(w *tabwriter.Writer) {
				if !p.GetCreated() {
					fmt.Fprintf(w, "unchanged\tversion %d is current; nothing published\n", p.GetNumber())
					return
				}
				fmt.Fprintf(w, "published\tversion %d: %s\n", p.GetNumber(), p.GetRevision())
				fmt.Fprintf(w, "공고일자 / 시행일자\t%s / %s\n", fmtTime(p.GetAnnounceOn()), fmtTime(p.GetEffectiveOn()))
			})
		},
		"versions": func(ctx context.Context, c *cli, args []string) error {
			if err := newFlags("policy versions", c).Parse(args); err != nil {
				return err
			}
			ctx, cancel, cl, err := c.policyClient(ctx)
			if err != nil {
				return err
			}
			defer cancel()
			lr := &pb.ListPolicyVersionsRequest{}
			vs, err := allPages(func(token string) (*pb.ListPolicyVersionsResponse, error) {
				lr.PageToken = token
				return cl.ListPolicyVersions(ctx, lr)
			})
			if err != nil {
				return err
			}
			return c.print(vs, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "NO\t공고일자\t시행일자\t제·개정 내용\tBY")
				for _, v := range vs.GetVersions() {
					fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\n", v.GetNumber(), fmtTime(v.GetAnnounceOn()), fmtTime(v.GetEffectiveOn()), v.GetRevision(), v.GetPublishedBy())
				}
			})
		},
	})
}
