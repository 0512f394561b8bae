package control

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/liberrors"
	"google.golang.org/protobuf/types/known/timestamppb"

	ac "github.com/gwanje/gwanje/accesscontrol"
	"github.com/gwanje/gwanje/audit"
	"github.com/gwanje/gwanje/camsim"
	pb "github.com/gwanje/gwanje/proto/gwanje/v1"
)

// refusedWith opens url like a player (DESCRIBE) and returns the RTSP
// status it was refused with (0 when it was not refused).
func refusedWith(t *testing.T, url string) base.StatusCode {
	t.Helper()
	u, err := base.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	tcp := gortsplib.ProtocolTCP
	c := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Protocol: &tcp, ReadTimeout: 5 * time.Second}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _, err = c.Describe(u)
	var bad liberrors.ErrClientBadStatusCode
	if errors.As(err, &bad) {
		return bad.Code
	}
	if err != nil {
		t.Fatalf("DESCRIBE %s: %v", u.Path, err)
	}
	return 0
}

// endEntry waits for the end entry (typ: playback.end or live.view.end) of
// user on camera and returns its reason.
func (h *harness) endEntry(camera, typ, userID string) (string, time.Time) {
	h.t.Helper()
	var reason string
	var seen time.Time
	eventually(h.t, typ+" of the revoked user", func() bool {
		page, err := h.audit.Query(context.Background(), audit.Filter{Camera: camera, Types: []string{typ}})
		if err != nil {
			h.t.Fatal(err)
		}
		for _, e := range page.Entries {
			if e.Entry.Actor.UserID != userID {
				continue
			}
			reason = e.Entry.Reason
			if r, ok := e.Entry.Details["reason"].(string); ok {
				reason = r // playback.end keeps it in its details
			}
			seen = time.Now()
			return true
		}
		return false
	})
	return reason, seen
}

// TestRevocationEndsPlaybackLiveAndTickets reproduces finding 4 of issue
// 14 for every kind of revocation: a user is a moment into a playback over
// real RTSP (and a live view), holds a playback ticket and a live ticket not
// yet used, and then loses access. The playback and the live view end (the
// playback before its footage ends) with the reason in their end entries,
// and both tickets are refused with 403. Playback and live view go through
// the same mechanism (internal/revoke); contractors never hold playback
// rights, so a contract's end is shown on live view and its ticket.
func TestRevocationEndsPlaybackLiveAndTickets(t *testing.T) {
	type revocation func(h *harness, role string)
	adminBy := func(h *harness) ac.Change { return ac.Change{By: h.admin, Reason: "test"} }
	for _, tc := range []struct {
		name     string
		role     string
		playback bool
		revoke   revocation
		reason   string
	}{
		{name: "logout", role: "manager", playback: true, reason: "session_ended", revoke: func(h *harness, role string) {
			if _, err := pb.NewAccessServiceClient(h.conn).Logout(h.as(role), &pb.LogoutRequest{}); err != nil {
				h.t.Fatal(err)
			}
		}},
		{name: "session revoked", role: "operator", playback: true, reason: "session_ended", revoke: func(h *harness, role string) {
			p, err := h.access.Authenticate(context.Background(), h.tokens[role])
			if err != nil {
				h.t.Fatal(err)
			}
			if _, err := pb.NewAccessServiceClient(h.conn).RevokeSession(h.asAdmin(), &pb.RevokeSessionRequest{SessionId: p.SessionID, Reason: "분실 단말"}); err != nil {
				h.t.Fatal(err)
			}
		}},
		{name: "user disabled", role: "manager", playback: true, reason: "revoked", revoke: func(h *harness, role string) {
			if _, err := pb.NewAccessServiceClient(h.conn).DisableUser(h.asAdmin(), &pb.DisableUserRequest{UserId: h.users[role].ID, Reason: "퇴직"}); err != nil {
				h.t.Fatal(err)
			}
		}},
		{name: "grant revoked", role: "operator", playback: true, reason: "revoked", revoke: func(h *harness, role string) {
			gs, err := h.access.ListGrants(context.Background(), h.admin, ac.GrantFilter{UserID: h.users[role].ID})
			if err != nil || len(gs) == 0 {
				h.t.Fatalf("grants of %s: %v %v", role, gs, err)
			}
			for _, g := range gs {
				if _, err := pb.NewAccessServiceClient(h.conn).RevokeGrant(h.asAdmin(), &pb.RevokeGrantRequest{GrantId: g.ID, Reason: "보직 변경"}); err != nil {
					h.t.Fatal(err)
				}
			}
		}},
		{name: "contract ended", role: "contractor", reason: "revoked", revoke: func(h *harness, role string) {
			cs, err := h.access.ListContracts(context.Background(), h.admin, h.users[role].OrgID)
			if err != nil || len(cs) == 0 {
				h.t.Fatalf("contracts: %v %v", cs, err)
			}
			for _, c := range cs {
				if err := h.access.EndContract(context.Background(), adminBy(h), c.ID); err != nil {
					h.t.Fatal(err)
				}
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			id := h.registerCamera(camsim.DialectHikvision)
			purpose := pb.Purpose_PURPOSE_CRIME_PREVENTION
			if tc.role == "contractor" {
				purpose = pb.Purpose_PURPOSE_MAINTENANCE
				h.coverByContract(id)
			}
			user := h.users[tc.role].ID

			var pbPackets interface{ Load() int64 }
			var pbTicket string
			if tc.playback {
				from, to := h.recordSegments(id, 5)
				rc := pb.NewRecordingServiceClient(h.conn)
				start := func() string {
					res, err := rc.StartPlayback(h.as(tc.role), &pb.StartPlaybackRequest{CameraId: id, From: from, To: to, Purpose: purpose})
					if err != nil {
						t.Fatal(err)
					}
					return res.Url
				}
				_, pbPackets = watch(t, start())
				pbTicket = start() // issued before the revocation, used after
				eventually(t, "recorded video played back", func() bool { return pbPackets.Load() > 10 })
			}
			sc := pb.NewStreamServiceClient(h.conn)
			live := func() string {
				res, err := sc.StartLiveView(h.as(tc.role), &pb.StartLiveViewRequest{CameraId: id, Purpose: purpose, PurposeText: "점검"})
				if err != nil {
					t.Fatal(err)
				}
				return res.Url
			}
			_, livePackets := watch(t, live())
			liveTicket := live()
			eventually(t, "live video relayed", func() bool { return livePackets.Load() > 10 })

			at := time.Now()
			tc.revoke(h, tc.role)

			reason, seen := h.endEntry(id, "live.view.end", user)
			if reason != tc.reason {
				t.Errorf("live.view.end reason = %q, want %q", reason, tc.reason)
			}
			t.Logf("%s: live view ended %v after the revocation call", tc.name, seen.Sub(at).Round(time.Millisecond))
			if got := refusedWith(t, liveTicket); got != base.StatusForbidden {
				t.Errorf("live ticket issued before the revocation: status %v, want 403", got)
			}
			if !tc.playback {
				return
			}
			reason, seen = h.endEntry(id, "playback.end", user)
			if reason != tc.reason {
				t.Errorf("playback.end reason = %q, want %q (the playback must end before its footage does)", reason, tc.reason)
			}
			t.Logf("%s: playback ended %v after the revocation call", tc.name, seen.Sub(at).Round(time.Millisecond))
			n := pbPackets.Load()
			if got := refusedWith(t, pbTicket); got != base.StatusForbidden {
				t.Errorf("playback ticket issued before the revocation: status %v, want 403", got)
			}
			if pbPackets.Load() != n {
				t.Errorf("playback packets kept arriving after playback.end: %d then %d", n, pbPackets.Load())
			}
		})
	}
}

// coverByContract gives the test contractor a contract and a grant over
// camera id's site (the harness's contract covers only "site-a").
func (h *harness) coverByContract(id string) {
	h.t.Helper()
	ctx := context.Background()
	cam, err := h.devices.Get(ctx, id)
	if err != nil {
		h.t.Fatal(err)
	}
	by := ac.Change{By: h.admin, Reason: "test setup"}
	u := h.users["contractor"]
	now := time.Now()
	if _, err := h.access.CreateContract(ctx, by, ac.ContractInput{
		OrgID: u.OrgID, Title: "광장 유지보수", Sites: []string{cam.SiteID},
		StartsAt: now.Add(-time.Hour), EndsAt: now.Add(30 * 24 * time.Hour),
		Clauses: ac.Clauses{PurposeAndScope: "유지보수", SubcontractingRestriction: "재위탁 금지",
			AccessRestrictionAndSafeguards: "지정 계정", Inspection: "분기 점검", Liability: "손해배상"},
	}); err != nil {
		h.t.Fatal(err)
	}
	g, err := h.access.CreateGrant(ctx, by, ac.NewGrant{UserID: u.ID, Role: "contractor",
		Scope: ac.Scope{Sites: []string{cam.SiteID}, Purposes: []ac.Purpose{ac.PurposeMaintenance}}})
	if err != nil {
		h.t.Fatal(err)
	}
	// live.view: the grant waits for a second person (a manager).
	mgr, err := h.access.Authenticate(ctx, h.tokens["manager"])
	if err != nil {
		h.t.Fatal(err)
	}
	if _, err := h.access.ApproveGrant(ctx, ac.Change{By: mgr, Reason: "test setup"}, g.ID); err != nil {
		h.t.Fatal(err)
	}
	if err := h.access.Reload(ctx); err != nil {
		h.t.Fatal(err)
	}
}

// TestDownloadLinkRefusedAfterRevocation: an export's one-time download
// link made by the police officer is refused (403, and left unused) once
// the officer logged out, and one made in a session that is still open is
// refused once the officer's account is disabled.
func TestDownloadLinkRefusedAfterRevocation(t *testing.T) {
	h := newHarness(t)
	id := h.registerCamera(camsim.DialectAxis)
	from, to := h.recordSome(id)
	cl := pb.NewPrivacyServiceClient(h.conn)
	prov, err := cl.RequestProvision(h.as("police"), &pb.RequestProvisionRequest{
		Recipient: &pb.Recipient{Org: "○○경찰서", Unit: "형사과", Rank: "경위", Name: "김수사", Contact: "02-000-0112"},
		LetterNo:  "형사과-2026-77", Reason: "절도", Basis: "investigation", Cameras: []string{id}, From: from, To: to,
		UseUntil: timestamppb.New(time.Now().AddDate(0, 1, 0)), Safeguards: "수사 목적 외 사용 금지", Purpose: pb.Purpose_PURPOSE_CRIME_PREVENTION,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.ApproveProvision(h.as("manager"), &pb.ApproveProvisionRequest{ProvisionId: prov.Id, Note: "공문 확인"}); err != nil {
		t.Fatal(err)
	}
	export := func(ctx context.Context) string {
		ex, err := cl.ExportProvision(ctx, &pb.ExportProvisionRequest{ProvisionId: prov.Id})
		if err != nil || len(ex.Exports) != 1 || ex.Exports[0].DownloadPath == "" {
			t.Fatalf("export: %v %v", ex, err)
		}
		return ex.Exports[0].DownloadPath
	}
	first := export(h.as("police"))
	// A second session of the same officer, which stays open.
	res, err := h.access.Login(context.Background(), ac.LoginRequest{Username: "u-police", Password: testPassword})
	if err != nil {
		t.Fatal(err)
	}
	second := export(withToken(h.as(""), res.Token))

	srv := httptest.NewServer(h.links.Handler())
	defer srv.Close()
	get := func(path string) int {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}

	if _, err := pb.NewAccessServiceClient(h.conn).Logout(h.as("police"), &pb.LogoutRequest{}); err != nil {
		t.Fatal(err)
	}
	if got := get(first); got != http.StatusForbidden {
		t.Fatalf("link of a logged-out session: %d, want 403", got)
	}
	if _, err := pb.NewAccessServiceClient(h.conn).DisableUser(h.asAdmin(), &pb.DisableUserRequest{UserId: h.users["police"].ID, Reason: "전출"}); err != nil {
		t.Fatal(err)
	}
	if got := get(second); got != http.StatusForbidden {
		t.Fatalf("link of a disabled account: %d, want 403", got)
	}
	page, err := h.audit.Query(context.Background(), audit.Filter{Camera: id, Types: []string{"export.provide"}, Outcome: audit.Success})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range page.Entries {
		if e.Entry.Actor.Username == "download-link" {
			t.Fatalf("a revoked link was used: %+v", e.Entry)
		}
	}
}
