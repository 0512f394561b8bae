package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	pb "github.com/gwanje/gwanje/proto/gwanje/v1"
)

func init() {
	register(command{name: "policy", summary: "policy draft|publish|versions|settings|import-history: the 운영·관리 방침 generated from the registry", run: runPolicy})
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
		"settings":       runPolicySettings,
		"import-history": runPolicyImportHistory,
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
					by := v.GetPublishedBy()
					if v.GetImported() {
						by = "(imported) " + by
					}
					fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\n", v.GetNumber(), fmtTime(v.GetAnnounceOn()), fmtTime(v.GetEffectiveOn()), v.GetRevision(), by)
				}
			})
		},
	})
}

// runPolicySettings shows the institution settings, or with --set FILE
// changes the fields the JSON file names (InstitutionSettings in protojson,
// snake_case or camelCase keys): the update mask is the file's top-level
// keys, so a key with an empty value clears that setting.
func runPolicySettings(ctx context.Context, c *cli, args []string) error {
	fs := newFlags("policy settings", c)
	set := fs.String("set", "", "JSON file of the settings to change (e.g. {\"cpo\": {\"name\": \"홍길동\", \"title\": \"기획조정실장\"}})")
	reason := fs.String("reason", "", "why the settings change (recorded in the audit log)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var req *pb.UpdateInstitutionSettingsRequest
	if *set != "" {
		b, err := os.ReadFile(*set)
		if err != nil {
			return err
		}
		body := &pb.InstitutionSettings{}
		if err := protojson.Unmarshal(b, body); err != nil {
			return fmt.Errorf("%s: %w", *set, err)
		}
		var keys map[string]json.RawMessage
		if err := json.Unmarshal(b, &keys); err != nil {
			return fmt.Errorf("%s: %w", *set, err)
		}
		fields := body.ProtoReflect().Descriptor().Fields()
		mask := &fieldmaskpb.FieldMask{}
		for k := range keys {
			f := fields.ByJSONName(k)
			if f == nil {
				f = fields.ByName(protoreflectName(k))
			}
			if f == nil {
				return fmt.Errorf("%s: unknown setting %q", *set, k)
			}
			mask.Paths = append(mask.Paths, string(f.Name()))
		}
		if len(mask.Paths) == 0 {
			return fmt.Errorf("%s: names no setting", *set)
		}
		slices.Sort(mask.Paths)
		req = &pb.UpdateInstitutionSettingsRequest{Settings: body, UpdateMask: mask, Reason: *reason}
	}
	ctx, cancel, cl, err := c.policyClient(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	var st *pb.InstitutionSettings
	if req != nil {
		st, err = cl.UpdateInstitutionSettings(ctx, req)
	} else {
		st, err = cl.GetInstitutionSettings(ctx, &pb.GetInstitutionSettingsRequest{})
	}
	if err != nil {
		return err
	}
	return c.print(st, func(w *tabwriter.Writer) {
		fmt.Fprintf(w, "기관명\t%s\n", st.GetName())
		fmt.Fprintf(w, "범위\t%s\n", st.GetScope())
		fmt.Fprintf(w, "홈페이지\t%s\n", st.GetHomepage())
		cpo := st.GetCpo()
		fmt.Fprintf(w, "개인정보 보호책임자\t%s\n", strings.TrimSpace(strings.Join([]string{cpo.GetTitle(), cpo.GetName(), cpo.GetDepartment(), cpo.GetPhone(), cpo.GetEmail()}, " ")))
		for _, r := range st.GetStaff() {
			fmt.Fprintf(w, "%s\t%s | %s | %s | %s\n", r.GetRole(), r.GetTitle(), r.GetDepartment(), r.GetPhone(), r.GetNote())
		}
		fmt.Fprintf(w, "관제 장소\t%s\n", st.GetControlCenter())
		fmt.Fprintf(w, "청구 접수처 / 확인 장소\t%s / %s\n", st.GetRequestPlace(), st.GetReviewPlace())
		fmt.Fprintf(w, "layout / listed sites\t%s / %d\n", st.GetLayout(), st.GetMaxSitesListed())
		for _, s := range st.GetStatutes() {
			fmt.Fprintf(w, "설치 근거 (%s)\t%s\n", s.GetPurpose(), s.GetStatute())
		}
		if st.GetUpdateTime() != nil {
			fmt.Fprintf(w, "changed\t%s by %s\n", fmtTime(st.GetUpdateTime()), st.GetUpdatedBy())
		} else {
			fmt.Fprintln(w, "changed\tnever (the server's flags and YAML)")
		}
	})
}

// protoreflectName is a JSON key as a proto field name.
func protoreflectName(k string) protoreflect.Name { return protoreflect.Name(k) }

// runPolicyImportHistory imports a city's earlier revisions from a CSV file
// with the columns 번호, 공고일자, 시행일자 (may be empty), 제·개정 내용 and
// optionally a file holding that version's text (relative to the CSV).
// A first row whose 번호 is not a number is a header.
func runPolicyImportHistory(ctx context.Context, c *cli, args []string) error {
	fs := newFlags("policy import-history", c)
	reason := fs.String("reason", "", "why (recorded in the audit log)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: gwanje policy import-history [--reason R] history.csv (번호,공고일자,시행일자,제·개정 내용[,문서 파일]; dates YYYY-MM-DD " + zoneNote + ")")
	}
	path := fs.Arg(0)
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	cr := csv.NewReader(f)
	cr.FieldsPerRecord = -1
	rows, err := cr.ReadAll()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	req := &pb.ImportPolicyHistoryRequest{Reason: *reason}
	for i, r := range rows {
		if len(r) > 0 {
			r[0] = strings.TrimPrefix(r[0], "\ufeff")
		}
		n, err := strconv.Atoi(strings.TrimSpace(r[0]))
		if err != nil && i == 0 {
			continue // header
		}
		if err != nil || len(r) < 4 || len(r) > 5 {
			return fmt.Errorf("%s line %d: want 번호,공고일자,시행일자,제·개정 내용[,문서 파일]", path, i+1)
		}
		v := &pb.PriorPolicyVersion{Number: int32(n), Revision: strings.TrimSpace(r[3])}
		if v.AnnounceOn, err = optWhen(strings.TrimSpace(r[1])); err != nil || v.AnnounceOn == nil {
			return fmt.Errorf("%s line %d: 공고일자 %q: want YYYY-MM-DD", path, i+1, r[1])
		}
		if v.EffectiveOn, err = optWhen(strings.TrimSpace(r[2])); err != nil {
			return fmt.Errorf("%s line %d: 시행일자: %w", path, i+1, err)
		}
		if len(r) == 5 && strings.TrimSpace(r[4]) != "" {
			doc := strings.TrimSpace(r[4])
			if !filepath.IsAbs(doc) {
				doc = filepath.Join(filepath.Dir(path), doc)
			}
			b, err := os.ReadFile(doc)
			if err != nil {
				return fmt.Errorf("%s line %d: %w", path, i+1, err)
			}
			v.Document = string(b)
		}
		req.Versions = append(req.Versions, v)
	}
	ctx, cancel, cl, err := c.policyClient(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	res, err := cl.ImportPolicyHistory(ctx, req)
	if err != nil {
		return err
	}
	return c.print(res, func(w *tabwriter.Writer) {
		fmt.Fprintf(w, "imported\t%d earlier revisions\n", res.GetImported())
		fmt.Fprintf(w, "next\tthe first published version will be number %d\n", res.GetNextNumber())
	})
}
