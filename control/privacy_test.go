package control

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/gwanje/gwanje/audit"
	"github.com/gwanje/gwanje/camsim"
	"github.com/gwanje/gwanje/privacy/manifest"
	"github.com/gwanje/gwanje/privacy/requests"
	pb "github.com/gwanje/gwanje/proto/gwanje/v1"
	"github.com/gwanje/gwanje/stream/record"
)

// TestProvisionFourEyesExportAndVerify: the resident police officer asks
// for footage with an official letter, cannot approve it themselves, a
// manager approves, the export is downloaded once and verifies against its
// signed manifest with only the public key.
func TestProvisionFourEyesExportAndVerify(t *testing.T) {
	h := newHarness(t)
	id := h.registerCamera(camsim.DialectAxis)
	from, to := h.recordSome(id)

	cl := pb.NewPrivacyServiceClient(h.conn)
	req := &pb.RequestProvisionRequest{
		Recipient: &pb.Recipient{Org: "○○경찰서", Unit: "형사과", Rank: "경위", Name: "김수사", Contact: "02-000-0112"},
		LetterNo:  "형사과-2026-1234", Reason: "절도", Basis: "investigation", Cameras: []string{id}, From: from, To: to,
		UseUntil: timestamppb.New(time.Now().AddDate(0, 3, 0)), Safeguards: "수사 목적 외 사용 금지", Purpose: pb.Purpose_PURPOSE_CRIME_PREVENTION,
		SecurityPledge: true,
	}
	if _, err := cl.RequestProvision(h.as("operator"), req); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("operator requested an export: %v", err)
	}
	if _, err := cl.RequestProvision(h.as("contractor"), req); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("contractor requested an export: %v", err)
	}
	prov, err := cl.RequestProvision(h.as("police"), req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.ApproveProvision(h.as("police"), &pb.ApproveProvisionRequest{ProvisionId: prov.Id}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("the requester approved their own request: %v", err)
	}
	if prov, err = cl.ApproveProvision(h.as("manager"), &pb.ApproveProvisionRequest{ProvisionId: prov.Id, Note: "공문 확인"}); err != nil || prov.Status != pb.ProvisionStatus_PROVISION_STATUS_APPROVED {
		t.Fatalf("approve: %v %v", prov, err)
	}
	checkLedgerNames(t, h, id)
	ex, err := cl.ExportProvision(h.as("police"), &pb.ExportProvisionRequest{ProvisionId: prov.Id})
	if err != nil {
		t.Fatal(err)
	}
	if len(ex.Exports) != 1 || ex.Exports[0].DownloadPath == "" {
		t.Fatalf("exports: %+v", ex.Exports)
	}
	checkRegisterXLSX(t, h, cl, id)
	e := ex.Exports[0]

	srv := httptest.NewServer(h.links.Handler())
	defer srv.Close()
	get := func() *http.Response {
		resp, err := http.Get(srv.URL + e.DownloadPath)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	resp := get()
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || int64(len(body)) != e.Size {
		t.Fatalf("download: %d, %d bytes", resp.StatusCode, len(body))
	}
	if again := get(); again.StatusCode != http.StatusNotFound {
		t.Fatalf("the one-time link worked twice: %d", again.StatusCode)
	}
	// An outside party holds only the file, the manifest and the public key.
	dir := t.TempDir()
	file, man, key := filepath.Join(dir, e.FileName), filepath.Join(dir, "manifest.json"), filepath.Join(dir, "gwanje.pub")
	os.WriteFile(file, body, 0o600)
	os.WriteFile(man, e.Manifest, 0o600)
	os.WriteFile(key, h.exporter.PublicKeyPEM(), 0o600)
	m, err := manifest.VerifyFiles(file, man, key)
	if err != nil {
		t.Fatalf("the export does not verify: %v", err)
	}
	if m.Camera != id || m.ApprovedBy == "" || m.RequestedBy == m.ApprovedBy {
		t.Fatalf("manifest %+v", m)
	}
	body[len(body)/2] ^= 1
	os.WriteFile(file, body, 0o600)
	if _, err := manifest.VerifyFiles(file, man, key); err == nil {
		t.Fatal("a changed byte verifies")
	}
}

// recordSome records camera id with the real recorder, reading the relay's
// shared upstream as gwanjed does when it runs both roles, until three
// segments exist, and returns the recorded span.
func (h *harness) recordSome(id string) (*timestamppb.Timestamp, *timestamppb.Timestamp) {
	return h.recordSegments(id, 3)
}

// recordSegments is recordSome until n one-second segments exist.
func (h *harness) recordSegments(id string, n int32) (*timestamppb.Timestamp, *timestamppb.Timestamp) {
	t := h.t
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	rec, err := record.New(record.Config{Store: h.recStore, Cameras: RecordingCameras(h.devices),
		Source: record.RelaySource{Relay: h.relay}, SegmentDuration: time.Second, RefreshInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	go rec.Run(ctx)
	t.Cleanup(rec.Close)
	start := time.Now()
	rc := pb.NewRecordingServiceClient(h.conn)
	var spans []*pb.RecordedSpan
	eventually(t, "recorded footage", func() bool {
		l, err := rc.ListRecordings(h.as("manager"), &pb.ListRecordingsRequest{CameraId: id, From: timestamppb.New(start.Add(-time.Minute)), To: timestamppb.New(time.Now().Add(time.Minute))})
		if err != nil {
			t.Fatal(err)
		}
		spans = l.Spans
		return len(spans) > 0 && spans[0].Segments >= n
	})
	return spans[0].Start, spans[0].End
}

// TestSubjectRequestViewing: a manager takes a subject request, cannot
// refuse it for a reason the law does not accept, gives a viewing notice,
// and the viewing is a playback under purpose subject_request tied to it.
func TestSubjectRequestViewing(t *testing.T) {
	h := newHarness(t)
	id := h.registerCamera(camsim.DialectHikvision)
	from, to := h.recordSome(id)
	cl := pb.NewPrivacyServiceClient(h.conn)
	if _, err := cl.OpenSubjectRequest(h.as("operator"), &pb.OpenSubjectRequestRequest{}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("operator took a subject request: %v", err)
	}
	sr, err := cl.OpenSubjectRequest(h.as("manager"), &pb.OpenSubjectRequestRequest{Kind: pb.SubjectRequestKind_SUBJECT_REQUEST_KIND_VIEW, RequesterName: "홍길동",
		RequesterContact: "010-0000-0000", IdentityMethod: "신분증 대조", Cameras: []string{id}, From: from, To: to, Description: "자전거 도난"})
	if err != nil {
		t.Fatal(err)
	}
	if sr.HoldId == "" || !sr.Deadline.AsTime().After(time.Now().Add(9*24*time.Hour)) {
		t.Fatalf("no hold or no 10-day deadline: %+v", sr)
	}
	_, err = cl.DecideSubjectRequest(h.as("manager"), &pb.DecideSubjectRequestRequest{SubjectRequestId: sr.Id, Decision: "refuse", RefusalReason: "others_in_frame", Objection: "행정심판"})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("'others are in the frame' accepted as a refusal: %v", err)
	}
	if _, err := cl.DecideSubjectRequest(h.as("manager"), &pb.DecideSubjectRequestRequest{SubjectRequestId: sr.Id, Decision: "view_notice",
		ViewingAt: timestamppb.New(time.Now().Add(48 * time.Hour)), ViewingPlace: "통합관제센터 열람실"}); err != nil {
		t.Fatal(err)
	}
	rc := pb.NewRecordingServiceClient(h.conn)
	if _, err := rc.StartPlayback(h.as("manager"), &pb.StartPlaybackRequest{CameraId: id, From: from, To: to, Purpose: pb.Purpose_PURPOSE_SUBJECT_REQUEST}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("subject_request playback without the request: %v", err)
	}
	res, err := rc.StartPlayback(h.as("manager"), &pb.StartPlaybackRequest{CameraId: id, From: from, To: to, Purpose: pb.Purpose_PURPOSE_SUBJECT_REQUEST, SubjectRequestId: sr.Id})
	if err != nil {
		t.Fatal(err)
	}
	page, err := h.audit.Query(context.Background(), audit.Filter{Types: []string{"playback.start"}, Purpose: "subject_request"})
	if err != nil || len(page.Entries) != 1 || page.Entries[0].Seq != res.AuditSeq || page.Entries[0].Entry.RequestID != sr.Id {
		t.Fatalf("the viewing is not recorded against the request: %v %+v", err, page.Entries)
	}
}

// checkRegisterXLSX opens the 목적 외 이용 및 제3자 제공 대장 as a workbook:
// the form's header, and the footage named by the camera's name, place and
// time, never its id.
func checkRegisterXLSX(t *testing.T, h *harness, cl pb.PrivacyServiceClient, camID string) {
	t.Helper()
	cam, err := h.devices.Get(context.Background(), camID)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := cl.GetProvisionRegister(h.as("manager"), &pb.GetProvisionRegisterRequest{
		From: timestamppb.New(time.Now().Add(-time.Hour)), To: timestamppb.New(time.Now().Add(time.Hour))})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(rep.Filename, ".xlsx") {
		t.Fatalf("register file %s", rep.Filename)
	}
	f, err := excelize.OpenReader(bytes.NewReader(rep.Content))
	if err != nil {
		t.Fatalf("the register is not a workbook: %v", err)
	}
	defer f.Close()
	rows, err := f.GetRows(f.GetSheetName(0))
	if err != nil || len(rows) != 4 { // title, blank, header, one provision
		t.Fatalf("register rows %v %v", rows, err)
	}
	if !slices.Equal(rows[2], requests.RegisterHeader) {
		t.Fatalf("header %v", rows[2])
	}
	file := rows[3][0]
	if !strings.Contains(file, cam.Name) || !strings.Contains(file, " 영상 ") || strings.Contains(strings.Join(rows[3], " "), camID) {
		t.Fatalf("register row names %q (camera %s %q)", file, camID, cam.Name)
	}
	if rows[3][1] == "" || rows[3][8] != "보안서약 제출" || !strings.Contains(rows[3][3], "보안서약 제출") {
		t.Fatalf("register row %v", rows[3])
	}
	csvRep, err := cl.GetProvisionRegister(h.as("manager"), &pb.GetProvisionRegisterRequest{Format: "csv",
		From: timestamppb.New(time.Now().Add(-time.Hour)), To: timestamppb.New(time.Now().Add(time.Hour))})
	if err != nil || !strings.HasSuffix(csvRep.Filename, ".csv") {
		t.Fatalf("csv register: %v", err)
	}
}

// checkLedgerNames opens the 개인영상정보 관리대장 as a workbook: its
// columns are the form's, and the footage is named by the camera's name,
// place and time, never its id.
func checkLedgerNames(t *testing.T, h *harness, camID string) {
	t.Helper()
	cam, err := h.devices.Get(context.Background(), camID)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := pb.NewAuditServiceClient(h.conn).GetLedger(h.as("auditor"), &pb.GetLedgerRequest{Format: "xlsx",
		From: timestamppb.New(time.Now().Add(-time.Hour)), To: timestamppb.New(time.Now().Add(time.Hour))})
	if err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenReader(bytes.NewReader(rep.Content))
	if err != nil {
		t.Fatalf("the ledger is not a workbook: %v", err)
	}
	defer f.Close()
	rows, err := f.GetRows(f.GetSheetName(0))
	if err != nil || len(rows) < 4 || !slices.Equal(rows[2], audit.LedgerHeader) {
		t.Fatalf("ledger rows %v %v", rows, err)
	}
	named := 0
	for _, r := range rows[3:] {
		if strings.Contains(strings.Join(r, " "), camID) {
			t.Errorf("a ledger row names the camera by id: %v", r)
		}
		if len(r) > 3 && strings.Contains(r[3], cam.Name) && strings.Contains(r[3], " ~ ") {
			named++
		}
	}
	if named == 0 {
		t.Fatalf("no ledger row names %q and the footage time: %v", cam.Name, rows[3:])
	}
}
