package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/gwanje/gwanje/proto/gwanje/v1"
)

func init() {
	register(command{name: "users", summary: "users list|create|disable|reset-password (administrators)", run: runUsers})
	register(command{name: "orgs", summary: "orgs list|create: departments, police units, contractor companies", run: runOrgs})
	register(command{name: "roles", summary: "roles list|update|pending|approve|reject: the roles, their permissions and pending changes", run: runRoles})
	register(command{name: "grants", summary: "grants list|create|revoke|pending|approve|reject: who may do what where, until when (footage rights need a second person's approval)", run: runGrants})
	register(command{name: "contracts", summary: "contracts list|create|end: contractor companies' contracts", run: runContracts})
	register(command{name: "sessions", summary: "sessions list|revoke: login sessions", run: runSessions})
}

// sub dispatches "NOUN VERB [flags]".
func sub(ctx context.Context, c *cli, noun string, args []string, verbs map[string]func(context.Context, *cli, []string) error) error {
	if len(args) == 0 || verbs[args[0]] == nil {
		names := make([]string, 0, len(verbs))
		for k := range verbs {
			names = append(names, k)
		}
		sort.Strings(names)
		return fmt.Errorf("usage: gwanje %s %s", noun, strings.Join(names, "|"))
	}
	return verbs[args[0]](ctx, c, args[1:])
}

func required(fs *flag.FlagSet, names ...string) error {
	var missing []string
	for _, n := range names {
		if fs.Lookup(n).Value.String() == "" {
			missing = append(missing, "--"+n)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing %s", strings.Join(missing, ", "))
	}
	return nil
}

func fmtTime(t *timestamppb.Timestamp) string {
	if t == nil {
		return "-"
	}
	return t.AsTime().In(zone).Format("2006-01-02 15:04")
}

func runUsers(ctx context.Context, c *cli, args []string) error {
	return sub(ctx, c, "users", args, map[string]func(context.Context, *cli, []string) error{
		"list": func(ctx context.Context, c *cli, args []string) error {
			fs := newFlags("users list", c)
			org := fs.String("org", "", "only this organization")
			all := fs.Bool("all", false, "include disabled accounts")
			if err := fs.Parse(args); err != nil {
				return err
			}
			ctx, cancel, cl, err := c.access(ctx)
			if err != nil {
				return err
			}
			defer cancel()
			lr := &pb.ListUsersRequest{OrgId: *org, IncludeDisabled: *all}
			r, err := allPages(func(token string) (*pb.ListUsersResponse, error) {
				lr.PageToken = token
				return cl.ListUsers(ctx, lr)
			})
			if err != nil {
				return err
			}
			return c.print(r, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "ID\tUSERNAME\tNAME\tORG\tKIND\tLAST LOGIN\tSTATE")
				for _, u := range r.GetUsers() {
					state := "active"
					if u.GetDisabled() {
						state = "disabled"
					} else if u.GetLockedUntil() != nil && u.GetLockedUntil().AsTime().After(time.Now()) {
						state = "locked"
					}
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", u.GetId(), u.GetUsername(), u.GetDisplayName(), u.GetOrgId(), u.GetOrgKind(), fmtTime(u.GetLastLoginAt()), state)
				}
			})
		},
		"create": func(ctx context.Context, c *cli, args []string) error {
			fs := newFlags("users create", c)
			r := &pb.CreateUserRequest{}
			fs.StringVar(&r.Username, "username", "", "login name, one per person (required)")
			fs.StringVar(&r.DisplayName, "name", "", "full name (required)")
			fs.StringVar(&r.OrgId, "org", "", "organization id (required; gwanje orgs list)")
			fs.StringVar(&r.Email, "email", "", "e-mail")
			fs.StringVar(&r.Phone, "phone", "", "phone")
			fs.StringVar(&r.Reason, "reason", "", "why the account is created (required)")
			if err := fs.Parse(args); err != nil {
				return err
			}
			if err := required(fs, "username", "name", "org", "reason"); err != nil {
				return err
			}
			ctx, cancel, cl, err := c.access(ctx)
			if err != nil {
				return err
			}
			defer cancel()
			res, err := cl.CreateUser(ctx, r)
			if err != nil {
				return err
			}
			return c.print(res, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "created\t%s (%s)\n", res.GetUser().GetUsername(), res.GetUser().GetId())
				if res.GetInitialPassword() != "" {
					fmt.Fprintf(w, "one-time password\t%s (give it to the person; it must be changed at the first login)\n", res.GetInitialPassword())
				}
			})
		},
		"disable": func(ctx context.Context, c *cli, args []string) error {
			fs := newFlags("users disable", c)
			id := fs.String("id", "", "user id (required)")
			reason := fs.String("reason", "", "why (required)")
			if err := fs.Parse(args); err != nil {
				return err
			}
			if err := required(fs, "id", "reason"); err != nil {
				return err
			}
			ctx, cancel, cl, err := c.access(ctx)
			if err != nil {
				return err
			}
			defer cancel()
			_, err = cl.DisableUser(ctx, &pb.DisableUserRequest{UserId: *id, Reason: *reason})
			return err
		},
		"reset-password": func(ctx context.Context, c *cli, args []string) error {
			fs := newFlags("users reset-password", c)
			id := fs.String("id", "", "user id (required)")
			reason := fs.String("reason", "", "why (required)")
			if err := fs.Parse(args); err != nil {
				return err
			}
			if err := required(fs, "id", "reason"); err != nil {
				return err
			}
			ctx, cancel, cl, err := c.access(ctx)
			if err != nil {
				return err
			}
			defer cancel()
			res, err := cl.ResetPassword(ctx, &pb.ResetPasswordRequest{UserId: *id, Reason: *reason})
			if err != nil {
				return err
			}
			return c.print(res, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "one-time password\t%s (give it to the person; their sessions ended and it must be changed at the next login)\n", res.GetOneTimePassword())
			})
		},
	})
}

func runOrgs(ctx context.Context, c *cli, args []string) error {
	return sub(ctx, c, "orgs", args, map[string]func(context.Context, *cli, []string) error{
		"list": func(ctx context.Context, c *cli, args []string) error {
			if err := newFlags("orgs list", c).Parse(args); err != nil {
				return err
			}
			ctx, cancel, cl, err := c.access(ctx)
			if err != nil {
				return err
			}
			defer cancel()
			lr := &pb.ListOrganizationsRequest{}
			r, err := allPages(func(token string) (*pb.ListOrganizationsResponse, error) {
				lr.PageToken = token
				return cl.ListOrganizations(ctx, lr)
			})
			if err != nil {
				return err
			}
			return c.print(r, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "ID\tKIND\tNAME")
				for _, o := range r.GetOrganizations() {
					fmt.Fprintf(w, "%s\t%s\t%s\n", o.GetId(), o.GetKind(), o.GetName())
				}
			})
		},
		"create": func(ctx context.Context, c *cli, args []string) error {
			fs := newFlags("orgs create", c)
			r := &pb.CreateOrganizationRequest{}
			fs.StringVar(&r.Kind, "kind", "", "department, police or contractor (required)")
			fs.StringVar(&r.Name, "name", "", "name (required)")
			fs.StringVar(&r.Reason, "reason", "", "why (required)")
			if err := fs.Parse(args); err != nil {
				return err
			}
			if err := required(fs, "kind", "name", "reason"); err != nil {
				return err
			}
			ctx, cancel, cl, err := c.access(ctx)
			if err != nil {
				return err
			}
			defer cancel()
			o, err := cl.CreateOrganization(ctx, r)
			if err != nil {
				return err
			}
			return c.print(o, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "created\t%s %s (%s)\n", o.GetKind(), o.GetName(), o.GetId())
			})
		},
	})
}

func runRoles(ctx context.Context, c *cli, args []string) error {
	return sub(ctx, c, "roles", args, map[string]func(context.Context, *cli, []string) error{
		"list": func(ctx context.Context, c *cli, args []string) error {
			if err := newFlags("roles list", c).Parse(args); err != nil {
				return err
			}
			ctx, cancel, cl, err := c.access(ctx)
			if err != nil {
				return err
			}
			defer cancel()
			lr := &pb.ListRolesRequest{}
			r, err := allPages(func(token string) (*pb.ListRolesResponse, error) {
				lr.PageToken = token
				return cl.ListRoles(ctx, lr)
			})
			if err != nil {
				return err
			}
			return c.print(r, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "ROLE\tPERMISSIONS\tPENDING\tDESCRIPTION")
				for _, ro := range r.GetRoles() {
					var pending []string
					for _, ch := range ro.GetPendingChanges() {
						pending = append(pending, "+"+strings.Join(ch.GetAddPermissions(), ",+"))
					}
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", ro.GetName(), strings.Join(ro.GetPermissions(), ","), orDash(strings.Join(pending, " ")), ro.GetDescription())
				}
			})
		},
		"update": func(ctx context.Context, c *cli, args []string) error {
			fs := newFlags("roles update", c)
			name := fs.String("role", "", "role (required)")
			ps := fs.String("permissions", "", "the role's new permissions, comma-separated (required)")
			reason := fs.String("reason", "", "why (required)")
			if err := fs.Parse(args); err != nil {
				return err
			}
			if err := required(fs, "role", "permissions", "reason"); err != nil {
				return err
			}
			ctx, cancel, cl, err := c.access(ctx)
			if err != nil {
				return err
			}
			defer cancel()
			ro, err := cl.UpdateRole(ctx, &pb.UpdateRoleRequest{RoleName: *name, Role: &pb.Role{Permissions: list(*ps)}, Reason: *reason})
			if err != nil {
				return err
			}
			return c.print(ro, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "role\t%s\n", ro.GetName())
				fmt.Fprintf(w, "permissions now\t%s\n", strings.Join(ro.GetPermissions(), ","))
				for _, ch := range ro.GetPendingChanges() {
					fmt.Fprintf(w, "waiting for approval\t%s (change %s: a second person approves with gwanje roles approve)\n", strings.Join(ch.GetAddPermissions(), ","), ch.GetId())
				}
			})
		},
		"pending": func(ctx context.Context, c *cli, args []string) error {
			if err := newFlags("roles pending", c).Parse(args); err != nil {
				return err
			}
			ctx, cancel, cl, err := c.access(ctx)
			if err != nil {
				return err
			}
			defer cancel()
			lr := &pb.ListRoleChangesRequest{Pending: true}
			r, err := allPages(func(token string) (*pb.ListRoleChangesResponse, error) {
				lr.PageToken = token
				return cl.ListRoleChanges(ctx, lr)
			})
			if err != nil {
				return err
			}
			return c.print(r, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "ID\tROLE\tADD\tREQUESTED BY\tAT\tREASON")
				for _, ch := range r.GetChanges() {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", ch.GetId(), ch.GetRole(), strings.Join(ch.GetAddPermissions(), ","), ch.GetRequestedBy(), fmtTime(ch.GetCreatedAt()), ch.GetReason())
				}
			})
		},
		"approve": func(ctx context.Context, c *cli, args []string) error {
			return decideRoleChange(ctx, c, "roles approve", args, true)
		},
		"reject": func(ctx context.Context, c *cli, args []string) error {
			return decideRoleChange(ctx, c, "roles reject", args, false)
		},
	})
}

func decideRoleChange(ctx context.Context, c *cli, name string, args []string, approve bool) error {
	fs := newFlags(name, c)
	id := fs.String("id", "", "role change id (required; gwanje roles pending)")
	reason := fs.String("reason", "", "why (required to reject)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	req := []string{"id"}
	if !approve {
		req = append(req, "reason")
	}
	if err := required(fs, req...); err != nil {
		return err
	}
	ctx, cancel, cl, err := c.access(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	var ro *pb.Role
	if approve {
		ro, err = cl.ApproveRoleChange(ctx, &pb.ApproveRoleChangeRequest{RoleChangeId: *id, Reason: *reason})
	} else {
		ro, err = cl.RejectRoleChange(ctx, &pb.RejectRoleChangeRequest{RoleChangeId: *id, Reason: *reason})
	}
	if err != nil {
		return err
	}
	verb := "rejected"
	if approve {
		verb = "approved"
	}
	return c.print(ro, func(w *tabwriter.Writer) {
		fmt.Fprintf(w, "%s\tchange %s\n", verb, *id)
		fmt.Fprintf(w, "role\t%s: %s\n", ro.GetName(), strings.Join(ro.GetPermissions(), ","))
	})
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func runGrants(ctx context.Context, c *cli, args []string) error {
	return sub(ctx, c, "grants", args, map[string]func(context.Context, *cli, []string) error{
		"list": func(ctx context.Context, c *cli, args []string) error {
			fs := newFlags("grants list", c)
			user := fs.String("user", "", "user id (default: every user, needs grant.manage)")
			all := fs.Bool("all", false, "include revoked grants")
			if err := fs.Parse(args); err != nil {
				return err
			}
			ctx, cancel, cl, err := c.access(ctx)
			if err != nil {
				return err
			}
			defer cancel()
			lr := &pb.ListGrantsRequest{UserId: *user, IncludeRevoked: *all}
			r, err := allPages(func(token string) (*pb.ListGrantsResponse, error) {
				lr.PageToken = token
				return cl.ListGrants(ctx, lr)
			})
			if err != nil {
				return err
			}
			return printGrants(c, r)
		},
		"pending": func(ctx context.Context, c *cli, args []string) error {
			if err := newFlags("grants pending", c).Parse(args); err != nil {
				return err
			}
			ctx, cancel, cl, err := c.access(ctx)
			if err != nil {
				return err
			}
			defer cancel()
			lr := &pb.ListGrantsRequest{Pending: true}
			r, err := allPages(func(token string) (*pb.ListGrantsResponse, error) {
				lr.PageToken = token
				return cl.ListGrants(ctx, lr)
			})
			if err != nil {
				return err
			}
			return printGrants(c, r)
		},
		"approve": func(ctx context.Context, c *cli, args []string) error {
			return decideGrant(ctx, c, "grants approve", args, true)
		},
		"reject": func(ctx context.Context, c *cli, args []string) error {
			return decideGrant(ctx, c, "grants reject", args, false)
		},
		"create": func(ctx context.Context, c *cli, args []string) error {
			fs := newFlags("grants create", c)
			user := fs.String("user", "", "user id (required)")
			role := fs.String("role", "", "role (required; gwanje roles list)")
			all := fs.Bool("all", false, "every camera and purpose")
			sites := fs.String("sites", "", "site ids, comma-separated")
			cams := fs.String("cameras", "", "camera ids, comma-separated")
			depts := fs.String("departments", "", "departments, comma-separated")
			purposes := fs.String("purposes", "", "purposes of viewing allowed, comma-separated")
			until := fs.String("until", "", "expiry, YYYY-MM-DD or RFC 3339, "+zoneNote)
			maxAge := fs.Duration("max-playback-age", 0, "how far back playback may look, e.g. 168h")
			reason := fs.String("reason", "", "why the grant is given (required)")
			if err := fs.Parse(args); err != nil {
				return err
			}
			if err := required(fs, "user", "role", "reason"); err != nil {
				return err
			}
			r := &pb.CreateGrantRequest{UserId: *user, Role: *role, Reason: *reason,
				Scope: &pb.Scope{All: *all, Sites: list(*sites), Cameras: list(*cams), Departments: list(*depts), Purposes: list(*purposes)}}
			if *until != "" {
				t, err := parseWhen(*until)
				if err != nil {
					return fmt.Errorf("--until: %w", err)
				}
				r.ExpiresAt = timestamppb.New(t)
			}
			if *maxAge > 0 {
				r.MaxPlaybackAge = durationpb.New(*maxAge)
			}
			ctx, cancel, cl, err := c.access(ctx)
			if err != nil {
				return err
			}
			defer cancel()
			g, err := cl.CreateGrant(ctx, r)
			if err != nil {
				return err
			}
			return c.print(g, func(w *tabwriter.Writer) {
				if g.GetStatus() == "pending" {
					fmt.Fprintf(w, "requested\t%s to %s over %s (%s)\n", g.GetRole(), g.GetUserId(), scopeText(g.GetScope()), g.GetId())
					fmt.Fprintln(w, "waiting for approval\tthe role gives footage rights: a second person approves with gwanje grants approve")
					return
				}
				fmt.Fprintf(w, "granted\t%s to %s over %s (%s)\n", g.GetRole(), g.GetUserId(), scopeText(g.GetScope()), g.GetId())
			})
		},
		"revoke": func(ctx context.Context, c *cli, args []string) error {
			fs := newFlags("grants revoke", c)
			id := fs.String("id", "", "grant id (required)")
			reason := fs.String("reason", "", "why (required)")
			if err := fs.Parse(args); err != nil {
				return err
			}
			if err := required(fs, "id", "reason"); err != nil {
				return err
			}
			ctx, cancel, cl, err := c.access(ctx)
			if err != nil {
				return err
			}
			defer cancel()
			_, err = cl.RevokeGrant(ctx, &pb.RevokeGrantRequest{GrantId: *id, Reason: *reason})
			return err
		},
	})
}

func printGrants(c *cli, r *pb.ListGrantsResponse) error {
	return c.print(r, func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "ID\tUSER\tROLE\tSCOPE\tFROM\tUNTIL\tSTATUS\tBY\tREASON")
		for _, g := range r.GetGrants() {
			st := g.GetStatus()
			if g.GetRevokedAt() != nil {
				st = "revoked"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", g.GetId(), g.GetUserId(), g.GetRole(), scopeText(g.GetScope()),
				fmtTime(g.GetNotBefore()), fmtTime(g.GetExpiresAt()), st, orDash(g.GetGrantedBy()), g.GetReason())
		}
	})
}

func decideGrant(ctx context.Context, c *cli, name string, args []string, approve bool) error {
	fs := newFlags(name, c)
	id := fs.String("id", "", "grant id (required; gwanje grants pending)")
	reason := fs.String("reason", "", "why (required to reject)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	req := []string{"id"}
	if !approve {
		req = append(req, "reason")
	}
	if err := required(fs, req...); err != nil {
		return err
	}
	ctx, cancel, cl, err := c.access(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	var g *pb.Grant
	if approve {
		g, err = cl.ApproveGrant(ctx, &pb.ApproveGrantRequest{GrantId: *id, Reason: *reason})
	} else {
		g, err = cl.RejectGrant(ctx, &pb.RejectGrantRequest{GrantId: *id, Reason: *reason})
	}
	if err != nil {
		return err
	}
	return c.print(g, func(w *tabwriter.Writer) {
		fmt.Fprintf(w, "%s\t%s to %s over %s (%s)\n", g.GetStatus(), g.GetRole(), g.GetUserId(), scopeText(g.GetScope()), g.GetId())
	})
}

func scopeText(s *pb.Scope) string {
	if s.GetAll() {
		return "all"
	}
	var parts []string
	for _, x := range []struct {
		k string
		v []string
	}{{"sites", s.GetSites()}, {"cameras", s.GetCameras()}, {"departments", s.GetDepartments()}, {"purposes", s.GetPurposes()}} {
		if len(x.v) > 0 {
			parts = append(parts, x.k+"="+strings.Join(x.v, ","))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " ")
}

func list(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func parseWhen(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation("2006-01-02", s, zone); err == nil {
		return t, nil
	}
	return time.Time{}, errors.New("want YYYY-MM-DD or RFC 3339 (2026-12-31T18:00:00+09:00)")
}

func runContracts(ctx context.Context, c *cli, args []string) error {
	return sub(ctx, c, "contracts", args, map[string]func(context.Context, *cli, []string) error{
		"list": func(ctx context.Context, c *cli, args []string) error {
			fs := newFlags("contracts list", c)
			org := fs.String("org", "", "only this contractor company")
			if err := fs.Parse(args); err != nil {
				return err
			}
			ctx, cancel, cl, err := c.access(ctx)
			if err != nil {
				return err
			}
			defer cancel()
			lr := &pb.ListContractsRequest{OrgId: *org}
			r, err := allPages(func(token string) (*pb.ListContractsResponse, error) {
				lr.PageToken = token
				return cl.ListContracts(ctx, lr)
			})
			if err != nil {
				return err
			}
			return c.print(r, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "ID\tCOMPANY\tTITLE\tSITES\tFROM\tUNTIL\tCONTACT\tENDED")
				for _, k := range r.GetContracts() {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s %s\t%s\n", k.GetId(), k.GetOrgId(), k.GetTitle(), strings.Join(k.GetSites(), ","), fmtTime(k.GetStartsAt()), fmtTime(k.GetEndsAt()), k.GetContactName(), k.GetContactPhone(), fmtTime(k.GetEndedAt()))
				}
			})
		},
		"create": func(ctx context.Context, c *cli, args []string) error {
			fs := newFlags("contracts create", c)
			k := &pb.Contract{Clauses: &pb.ContractClauses{}}
			fs.StringVar(&k.OrgId, "org", "", "contractor company id (required)")
			fs.StringVar(&k.Title, "title", "", "title (required)")
			sites := fs.String("sites", "", "site ids covered, comma-separated (required)")
			from := fs.String("from", "", "start, YYYY-MM-DD (required), "+zoneNote)
			until := fs.String("until", "", "end, YYYY-MM-DD (required), "+zoneNote)
			fs.StringVar(&k.ContactName, "contact", "", "contact person")
			fs.StringVar(&k.ContactPhone, "phone", "", "contact phone")
			fs.StringVar(&k.Clauses.PurposeAndScope, "purpose-and-scope", "", "clause: 위탁 사무의 목적 및 범위 (required)")
			fs.StringVar(&k.Clauses.SubcontractingRestriction, "subcontracting", "", "clause: 재위탁 제한 (required)")
			fs.StringVar(&k.Clauses.AccessRestrictionAndSafeguards, "safeguards", "", "clause: 접근 제한 등 안전성 확보 조치 (required)")
			fs.StringVar(&k.Clauses.Inspection, "inspection", "", "clause: 관리 현황 점검 (required)")
			fs.StringVar(&k.Clauses.Liability, "liability", "", "clause: 손해배상 등 책임 (required)")
			reason := fs.String("reason", "", "why (required)")
			if err := fs.Parse(args); err != nil {
				return err
			}
			if err := required(fs, "org", "title", "sites", "from", "until", "purpose-and-scope", "subcontracting", "safeguards", "inspection", "liability", "reason"); err != nil {
				return err
			}
			k.Sites = list(*sites)
			for _, x := range []struct {
				s   string
				dst **timestamppb.Timestamp
			}{{*from, &k.StartsAt}, {*until, &k.EndsAt}} {
				t, err := parseWhen(x.s)
				if err != nil {
					return err
				}
				*x.dst = timestamppb.New(t)
			}
			ctx, cancel, cl, err := c.access(ctx)
			if err != nil {
				return err
			}
			defer cancel()
			out, err := cl.CreateContract(ctx, &pb.CreateContractRequest{Contract: k, Reason: *reason})
			if err != nil {
				return err
			}
			return c.print(out, func(w *tabwriter.Writer) { fmt.Fprintf(w, "created\t%s (%s)\n", out.GetTitle(), out.GetId()) })
		},
		"end": func(ctx context.Context, c *cli, args []string) error {
			fs := newFlags("contracts end", c)
			id := fs.String("id", "", "contract id (required)")
			reason := fs.String("reason", "", "why (required)")
			if err := fs.Parse(args); err != nil {
				return err
			}
			if err := required(fs, "id", "reason"); err != nil {
				return err
			}
			ctx, cancel, cl, err := c.access(ctx)
			if err != nil {
				return err
			}
			defer cancel()
			_, err = cl.EndContract(ctx, &pb.EndContractRequest{ContractId: *id, Reason: *reason})
			return err
		},
	})
}

func runSessions(ctx context.Context, c *cli, args []string) error {
	return sub(ctx, c, "sessions", args, map[string]func(context.Context, *cli, []string) error{
		"list": func(ctx context.Context, c *cli, args []string) error {
			fs := newFlags("sessions list", c)
			user := fs.String("user", "", "user id (default: yours)")
			if err := fs.Parse(args); err != nil {
				return err
			}
			ctx, cancel, cl, err := c.access(ctx)
			if err != nil {
				return err
			}
			defer cancel()
			lr := &pb.ListSessionsRequest{UserId: *user}
			r, err := allPages(func(token string) (*pb.ListSessionsResponse, error) {
				lr.PageToken = token
				return cl.ListSessions(ctx, lr)
			})
			if err != nil {
				return err
			}
			return c.print(r, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "ID\tUSER\tFROM\tSTARTED\tLAST SEEN\tENDS")
				for _, s := range r.GetSessions() {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", s.GetId(), s.GetUsername(), s.GetClientAddr(), fmtTime(s.GetCreatedAt()), fmtTime(s.GetLastSeenAt()), fmtTime(s.GetExpiresAt()))
				}
			})
		},
		"revoke": func(ctx context.Context, c *cli, args []string) error {
			fs := newFlags("sessions revoke", c)
			id := fs.String("id", "", "session id (required)")
			reason := fs.String("reason", "", "why (required)")
			if err := fs.Parse(args); err != nil {
				return err
			}
			if err := required(fs, "id", "reason"); err != nil {
				return err
			}
			ctx, cancel, cl, err := c.access(ctx)
			if err != nil {
				return err
			}
			defer cancel()
			_, err = cl.RevokeSession(ctx, &pb.RevokeSessionRequest{SessionId: *id, Reason: *reason})
			return err
		},
	})
}
