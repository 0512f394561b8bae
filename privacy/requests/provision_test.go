package requests_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	ac "github.com/gwanje/gwanje/accesscontrol"
	"github.com/gwanje/gwanje/audit"
	"github.com/gwanje/gwanje/privacy/export"
	"github.com/gwanje/gwanje/privacy/manifest"
	"github.com/gwanje/gwanje/privacy/requests"
)

func policeRequest(from, to time.Time) requests.ProvisionRequest {
	return requests.ProvisionRequest{
		Recipient: requests.Recipient{Org: "OO경찰서", Unit: "형사과 강력2팀", Rank: "경위", Name: "김수사", Contact: "010-1234-5678"},
		LetterNo:  "형사과-2026-1234", Reason: "절도 (차량 털이)", Basis: requests.BasisInvestigation,
		Cameras: []string{camA}, From: from, To: to, UseUntil: time.Now().Add(30 * 24 * time.Hour),
		Safeguards: "수사 목적 외 이용 금지, 사건 종결 후 즉시 파기",
	}
}

// TestProvisionEndToEnd: request → approval → export → verify, with the
// download, the ledger rows, the register, and tampering detected.
func TestProvisionEndToEnd(t *testing.T) {
	e := newEnv(t, envOpts{})
	segs := e.recordCamsim(camA, 3)
	from, to := segs[0].Start, segs[len(segs)-1].End
	start := time.Now().Add(-time.Minute)

	p, err := e.svc.RequestProvision(e.ctx, e.users["police1"], policeRequest(from, to))
	if err != nil {
		t.Fatal(err)
	}
	if p.Status != "requested" || p.HoldID == "" {
		t.Fatalf("provision %+v", p)
	}
	// Export before approval is refused.
	if _, err := e.svc.ExportProvision(e.ctx, e.users["police1"], p.ID); !errors.Is(err, requests.ErrConflict) {
		t.Fatalf("export before approval: %v", err)
	}
	// A manager of another department cannot approve.
	if _, err := e.svc.ApproveProvision(e.ctx, e.users["parkmanager"], p.ID, requests.ApproveOptions{}); !errors.Is(err, requests.ErrPermissionDenied) {
		t.Fatalf("other department approved: %v", err)
	}
	p, err = e.svc.ApproveProvision(e.ctx, e.users["manager1"], p.ID, requests.ApproveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Status != "approved" || p.ApprovedByName != "manager1" || p.LetterPending() {
		t.Fatalf("approved %+v", p)
	}
	// The hold now ends with the period of use.
	holds, err := e.store.ListHolds(e.ctx, camA, true)
	if err != nil || len(holds) != 1 || holds[0].Until == nil || !holds[0].Until.Equal(p.UseUntil) {
		t.Fatalf("holds %v %+v", err, holds)
	}

	files, err := e.svc.ExportProvision(e.ctx, e.users["manager1"], p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 || files[0].Link.Token == "" {
		t.Fatalf("exports %+v", files)
	}
	f := files[0]
	mpath := filepath.Join(t.TempDir(), "manifest.json")
	if err := os.WriteFile(mpath, f.ManifestData, 0o600); err != nil {
		t.Fatal(err)
	}
	pub := filepath.Join(e.dataDir, "export-signing.pem.pub")
	m, err := manifest.VerifyFiles(f.Path, mpath, pub)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if m.Camera != camA || m.Frames < 20 || len(m.Segments) != len(segs) || m.RequestedBy != "police1" ||
		m.ApprovedBy != "manager1" || m.FirstFrame.Before(from) || !m.LastFrame.Before(to) {
		t.Fatalf("manifest %+v", m)
	}
	for i, sg := range m.Segments {
		if sg.SHA256 != hex.EncodeToString(segs[i].SHA256) {
			t.Fatalf("segment %d hash %s", i, sg.SHA256)
		}
	}

	// A changed byte in the file, or in the manifest, fails verification.
	mp4, _ := os.ReadFile(f.Path)
	for _, tc := range []struct {
		name     string
		file, md []byte
	}{
		{"file", flip(mp4, len(mp4)/2), f.ManifestData},
		{"file truncated", mp4[:len(mp4)-1], f.ManifestData},
		{"manifest payload", mp4, bytes.Replace(f.ManifestData, []byte(`"camera":"cam-a"`), []byte(`"camera":"cam-b"`), 1)},
		{"manifest byte", mp4, flip(f.ManifestData, 40)},
		{"manifest signature", mp4, flip(f.ManifestData, bytes.Index(f.ManifestData, []byte(`"signature":"`))+15)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := manifest.Verify(bytes.NewReader(tc.file), tc.md, e.exp.PublicKey()); !errors.Is(err, manifest.ErrVerify) {
				t.Fatalf("verify of a changed %s: %v", tc.name, err)
			}
		})
	}

	// The one-time download: served once, audited as export.provide.
	srv := httptest.NewServer(e.links.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + f.Link.Path)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	sum := sha256.Sum256(body)
	if resp.StatusCode != 200 || hex.EncodeToString(sum[:]) != f.SHA256 {
		t.Fatalf("download: %d, %d bytes", resp.StatusCode, len(body))
	}
	resp, err = http.Get(srv.URL + f.Link.Path)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("second download: %d", resp.StatusCode)
	}
	resp, _ = http.Get(srv.URL + export.DownloadPrefix + "not-a-token")
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown token: %d", resp.StatusCode)
	}
	if got := e.entries(requests.EntryExportProvide, audit.Success); len(got) != 1 || got[0].Entry.Details["export_id"] != f.ID {
		t.Fatalf("export.provide entries: %+v", got)
	}

	// Outcome, recipient's destruction, close.
	if _, err := e.svc.RecordOutcome(e.ctx, e.users["police1"], p.ID, "피의자 검거, 송치"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.RecordRecipientDestruction(e.ctx, e.users["police1"], p.ID, "파기 확인서 2026-05-30"); err != nil {
		t.Fatal(err)
	}
	p, err = e.svc.CloseProvision(e.ctx, e.users["manager1"], p.ID, "이용기간 종료")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(f.Path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("export file kept after close: %v", err)
	}
	if holds, _ := e.store.ListHolds(e.ctx, camA, true); len(holds) != 0 {
		t.Fatalf("hold not released: %+v", holds)
	}

	// The ledger shows every step under its kind.
	kinds := map[string]audit.LedgerKind{}
	for _, r := range e.ledger(start, time.Now().Add(time.Minute)) {
		kinds[r.EntryType] = r.Kind
		if r.EntryType == requests.EntryProvisionApprove {
			if !strings.Contains(r.Party, "김수사") || !strings.Contains(r.Basis, "형사과-2026-1234") ||
				!strings.Contains(r.Basis, "제18조제2항제7호") || !strings.Contains(r.Form, "동영상") || !strings.Contains(r.Handler, "manager1") {
				t.Errorf("approve row %+v", r)
			}
		}
	}
	for typ, want := range map[string]audit.LedgerKind{
		requests.EntryProvisionRequest: audit.LedgerProvide, requests.EntryProvisionApprove: audit.LedgerProvide,
		requests.EntryExportCreate: audit.LedgerUse, requests.EntryExportProvide: audit.LedgerProvide,
		requests.EntryProvisionOutcome: audit.LedgerProvide, requests.EntryExportDestroy: audit.LedgerDestroy,
	} {
		if kinds[typ] != want {
			t.Errorf("ledger: %s is %q, want %q", typ, kinds[typ], want)
		}
	}

	// The register (8 items) and the monthly report.
	rep, err := e.svc.Monthly(e.ctx, e.users["manager1"], time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Register) != 1 || rep.Approved != 1 || rep.Requested != 1 || len(rep.Register[0].Record()) != len(requests.RegisterHeader) ||
		!strings.Contains(rep.Register[0].Basis, "범죄의 수사와 공소의 제기 및 유지") {
		t.Fatalf("monthly %+v", rep)
	}
	var csv bytes.Buffer
	if err := rep.WriteCSV(&csv); err != nil || !strings.Contains(csv.String(), "OO경찰서") {
		t.Fatalf("csv %v %s", err, csv.String())
	}
	// The register row against the form: each item the 표준 개인정보
	// 보호지침 asks for, filled, footage named by camera, place and time.
	row := rep.Register[0]
	rec := row.Record()
	for i, tc := range []struct {
		column string
		want   []string
	}{
		{"개인정보(파일)의 명칭", []string{"교차로 1번 (중앙사거리)", " 영상 "}},
		{"이용 또는 제공받는 기관의 명칭", []string{"OO경찰서"}},
		{"이용 목적 또는 제공받는 목적", nil},
		{"이용 또는 제공의 법적 근거", []string{"범죄의 수사와 공소의 제기 및 유지"}},
		{"이용하거나 제공하는 개인정보의 항목", []string{"영상정보"}},
		{"이용 또는 제공의 날짜·주기 또는 기간", []string{"제공"}},
		{"이용하거나 제공하는 형태", []string{"동영상"}},
		{"제한을 하거나 필요한 조치를 마련할 것을 요청한 경우 그 내용", nil},
		{"보안서약 여부", []string{"보안서약 미제출"}},
		{"파기 예정일", []string{"20"}},
		{"보호조치 이행 회신", nil},
	} {
		if requests.RegisterHeader[i] != tc.column {
			t.Errorf("column %d is %q, the form's is %q", i+1, requests.RegisterHeader[i], tc.column)
		}
		if rec[i] == "" {
			t.Errorf("%s is empty", tc.column)
		}
		for _, w := range tc.want {
			if !strings.Contains(rec[i], w) {
				t.Errorf("%s = %q, want %q in it", tc.column, rec[i], w)
			}
		}
		if strings.Contains(rec[i], camA) {
			t.Errorf("%s names the camera by id: %q", tc.column, rec[i])
		}
	}
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x01
	return c
}

func TestFourEyesAndRights(t *testing.T) {
	e := newEnv(t, envOpts{})
	from := time.Now().Add(-time.Hour)
	to := from.Add(10 * time.Minute)

	// The requester can never approve their own request.
	p, err := e.svc.RequestProvision(e.ctx, e.users["manager1"], policeRequest(from, to))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.ApproveProvision(e.ctx, e.users["manager1"], p.ID, requests.ApproveOptions{}); !errors.Is(err, requests.ErrSelfApproval) ||
		!errors.Is(err, requests.ErrPermissionDenied) {
		t.Fatalf("self approval: %v", err)
	}
	if _, err := e.svc.ApproveProvision(e.ctx, e.users["manager1"], p.ID, requests.ApproveOptions{Emergency: true}); !errors.Is(err, requests.ErrSelfApproval) {
		t.Fatalf("self emergency approval: %v", err)
	}
	if _, err := e.svc.RejectProvision(e.ctx, e.users["manager1"], p.ID, "철회"); !errors.Is(err, requests.ErrSelfApproval) {
		t.Fatalf("self rejection: %v", err)
	}
	// Denials are audited.
	if d := e.entries(requests.EntryProvisionApprove, audit.Denied); len(d) < 2 {
		t.Fatalf("denied approvals audited: %d", len(d))
	}
	// A rejection with its reason releases the hold.
	if _, err := e.svc.RejectProvision(e.ctx, e.users["manager2"], p.ID, ""); !errors.Is(err, requests.ErrInvalid) {
		t.Fatalf("rejection without reason: %v", err)
	}
	p, err = e.svc.RejectProvision(e.ctx, e.users["manager2"], p.ID, "공문의 범죄 사실과 요청 범위가 맞지 않음")
	if err != nil || p.Status != "rejected" {
		t.Fatalf("reject: %v %+v", err, p)
	}
	if holds, _ := e.store.ListHolds(e.ctx, camA, true); len(holds) != 0 {
		t.Fatalf("hold kept after rejection: %+v", holds)
	}

	// Those without export rights cannot ask.
	for _, name := range []string{"operator1", "contractor1"} {
		t.Run(name, func(t *testing.T) {
			if _, err := e.svc.RequestProvision(e.ctx, e.users[name], policeRequest(from, to)); !errors.Is(err, requests.ErrPermissionDenied) {
				t.Fatalf("%s requested an export: %v", name, err)
			}
		})
	}
	// Invalid requests.
	for _, tc := range []struct {
		name string
		mod  func(*requests.ProvisionRequest)
	}{
		{"no recipient", func(r *requests.ProvisionRequest) { r.Recipient.Name = "" }},
		{"unknown basis", func(r *requests.ProvisionRequest) { r.Basis = "because" }},
		{"empty range", func(r *requests.ProvisionRequest) { r.To = r.From }},
		{"period over", func(r *requests.ProvisionRequest) { r.UseUntil = time.Now().Add(-time.Hour) }},
		{"unknown camera", func(r *requests.ProvisionRequest) { r.Cameras = []string{"nope"} }},
		{"bad form", func(r *requests.ProvisionRequest) { r.Form = "gif" }},
		{"mask outside frame", func(r *requests.ProvisionRequest) {
			r.Masks = []manifest.Mask{{X: 0.9, Y: 0, W: 0.5, H: 0.5, From: from, To: to}}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := policeRequest(from, to)
			tc.mod(&r)
			_, err := e.svc.RequestProvision(e.ctx, e.users["police1"], r)
			if !errors.Is(err, requests.ErrInvalid) && !errors.Is(err, requests.ErrNotFound) {
				t.Fatalf("%s: %v", tc.name, err)
			}
		})
	}

	// Emergency: approved at once without the letter, flagged until it comes.
	r := policeRequest(from, to)
	r.LetterNo = ""
	p, err = e.svc.RequestProvision(e.ctx, e.users["police1"], r)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.ApproveProvision(e.ctx, e.users["manager1"], p.ID, requests.ApproveOptions{}); !errors.Is(err, requests.ErrInvalid) {
		t.Fatalf("approval without a letter: %v", err)
	}
	p, err = e.svc.ApproveProvision(e.ctx, e.users["manager1"], p.ID, requests.ApproveOptions{Emergency: true, Note: "납치 의심, 긴급"})
	if err != nil || !p.LetterPending() {
		t.Fatalf("emergency: %v %+v", err, p)
	}
	rep, err := e.svc.Monthly(e.ctx, e.users["manager1"], time.Now())
	if err != nil || rep.LetterOwed != 1 || rep.Approved != 1 {
		t.Fatalf("monthly %v %+v", err, rep)
	}
	// Approved but nothing exported (an export that failed or was never
	// made): nothing was provided, so the register has no row for it.
	if len(rep.Register) != 0 {
		t.Fatalf("a provision without an export is in the register: %+v", rep.Register)
	}
	p, err = e.svc.RecordLetter(e.ctx, e.users["police1"], p.ID, "형사과-2026-1300")
	if err != nil || p.LetterPending() || p.LetterReceivedAt == nil {
		t.Fatalf("letter: %v %+v", err, p)
	}
	// Masks without a masker: refused, nothing exported.
	r = policeRequest(from, to)
	r.Masks = []manifest.Mask{{X: 0.1, Y: 0.1, W: 0.2, H: 0.3, From: from, To: to, Reason: "행인"}}
	p, err = e.svc.RequestProvision(e.ctx, e.users["police1"], r)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.ApproveProvision(e.ctx, e.users["manager2"], p.ID, requests.ApproveOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.ExportProvision(e.ctx, e.users["manager2"], p.ID); !errors.Is(err, export.ErrMaskingUnavailable) || !errors.Is(err, requests.ErrConflict) {
		t.Fatalf("masked export without a masker: %v", err)
	}
	ents, _ := os.ReadDir(e.exp.Dir())
	if len(ents) != 0 {
		t.Fatalf("files left in the export dir: %v", ents)
	}
	_ = ac.PurposeOther
}

// TestFFprobe checks that an export plays in a common tool (opt-in: runs
// only where ffprobe is installed).
func TestFFprobe(t *testing.T) {
	ffprobe, err := exec.LookPath("ffprobe")
	if err != nil {
		t.Skip("ffprobe not installed: skipping the player interop check")
	}
	e := newEnv(t, envOpts{})
	segs := e.recordCamsim(camA, 3)
	res, err := e.exp.Export(e.ctx, export.Job{CameraID: camA, From: segs[0].Start, To: segs[len(segs)-1].End})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, ffprobe, "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=codec_name,nb_read_frames,width,height:format=format_name,duration", "-of", "default=nw=1", res.Path).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe: %v\n%s", err, out)
	}
	s := string(out)
	if !strings.Contains(s, "codec_name=h264") || !strings.Contains(s, "format_name=mov,mp4") ||
		!strings.Contains(s, "nb_read_frames="+strconv.Itoa(res.Manifest.Frames)) {
		t.Fatalf("ffprobe says:\n%s(manifest: %d frames)", s, res.Manifest.Frames)
	}
	// The still form is one keyframe.
	still, err := e.exp.Export(e.ctx, export.Job{CameraID: camA, From: segs[1].Start, To: segs[1].End, Form: export.FormStill})
	if err != nil || still.Manifest.Frames != 1 {
		t.Fatalf("still: %v %+v", err, still)
	}
	out, err = exec.CommandContext(ctx, ffprobe, "-v", "error", "-count_frames", "-show_entries", "stream=nb_read_frames", "-of", "default=nw=1", still.Path).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "nb_read_frames=1") {
		t.Fatalf("ffprobe still: %v %s", err, out)
	}
}
