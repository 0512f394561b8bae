package control

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/gwanje/gwanje/audit"
	pb "github.com/gwanje/gwanje/proto/gwanje/v1"
)

// auditService translates AuditService calls to the audit store. Reading
// the trail is itself recorded, before the reading happens (fail closed).
type auditService struct {
	pb.UnimplementedAuditServiceServer
	s *Server
}

// record writes an entry for the caller's action and returns only once it
// is committed; the action must not proceed on error.
func (s *Server) record(ctx context.Context, e audit.Entry) error {
	_, err := s.recordSeq(ctx, e)
	return err
}

// recordSeq is record, returning the entry's sequence number.
func (s *Server) recordSeq(ctx context.Context, e audit.Entry) (int64, error) {
	p := mustPrincipal(ctx)
	e.Actor = actorOf(p)
	e.ClientAddr = p.ClientAddr
	e.SessionID = p.SessionID
	if e.RequestID == "" {
		e.RequestID = requestID(ctx)
	}
	if e.Outcome == "" {
		e.Outcome = audit.Success
	}
	// The record outlives the call: a client that hangs up right after
	// asking still leaves it.
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	rec, err := s.cfg.Audit.Append(actx, e)
	if err != nil {
		return 0, fmt.Errorf("record %s: %w", e.Type, err)
	}
	return rec.Seq, nil
}

func (x *auditService) QueryEntries(ctx context.Context, r *pb.QueryEntriesRequest) (*pb.QueryEntriesResponse, error) {
	f := audit.Filter{
		UserID: r.GetUserId(), Username: r.GetUsername(), Camera: r.GetCameraId(), Types: r.GetTypes(),
		Outcome: audit.Outcome(pb.Code(r.GetOutcome())), Purpose: pb.Code(r.GetPurpose()), Newest: r.GetNewestFirst(),
		Limit: int(r.GetPageSize()), Cursor: r.GetPageToken(),
	}
	if r.GetFrom() != nil {
		f.From = r.GetFrom().AsTime()
	}
	if r.GetTo() != nil {
		f.To = r.GetTo().AsTime()
	}
	if err := x.s.record(ctx, audit.Entry{Type: "audit.query", Details: map[string]any{
		"user_id": f.UserID, "username": f.Username, "camera": f.Camera, "types": f.Types, "outcome": string(f.Outcome),
		"purpose": f.Purpose, "from": fmtOpt(f.From), "to": fmtOpt(f.To), "page_token": f.Cursor,
	}}); err != nil {
		return nil, err
	}
	page, err := x.s.cfg.Audit.(auditReader).Query(ctx, f)
	if err != nil {
		return nil, err
	}
	out := &pb.QueryEntriesResponse{NextPageToken: page.Next}
	for _, st := range page.Entries {
		e := st.Entry
		pe := &pb.AuditEntry{
			Seq: st.Seq, Time: ts(e.Time), LoggedAt: ts(st.LoggedAt), Type: e.Type, Outcome: enumOf[pb.AuditOutcome](string(e.Outcome)),
			UserId: e.Actor.UserID, Username: e.Actor.Username, Role: e.Actor.Role, Org: e.Actor.Org,
			ClientAddr: e.ClientAddr, SessionId: e.SessionID, Cameras: e.Cameras,
			FootageFrom: tsp(e.FootageFrom), FootageTo: tsp(e.FootageTo), Live: e.Live,
			Purpose: enumOf[pb.Purpose](e.Purpose), PurposeText: e.PurposeText, Reason: e.Reason, RequestId: e.RequestID,
			Hash: st.Hash, PrevHash: st.PrevHash,
		}
		if len(e.Details) > 0 {
			if d, err := structpb.NewStruct(jsonSafe(e.Details)); err == nil {
				pe.Details = d
			}
		}
		out.Entries = append(out.Entries, pe)
	}
	return out, nil
}

func fmtOpt(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// jsonSafe converts detail values structpb cannot take ([]string…) into
// ones it can.
func jsonSafe(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		switch x := v.(type) {
		case []string:
			l := make([]any, len(x))
			for i, s := range x {
				l[i] = s
			}
			out[k] = l
		case map[string]any:
			out[k] = jsonSafe(x)
		case int:
			out[k] = float64(x)
		case int64:
			out[k] = float64(x)
		case time.Time:
			out[k] = x.UTC().Format(time.RFC3339Nano)
		default:
			out[k] = v
		}
	}
	return out
}

func (x *auditService) Verify(ctx context.Context, r *pb.VerifyRequest) (*pb.VerifyResponse, error) {
	vr := audit.VerifyRange{FromSeq: r.GetFromSeq(), ToSeq: r.GetToSeq()}
	if r.GetFrom() != nil {
		vr.From = r.GetFrom().AsTime()
	}
	if r.GetTo() != nil {
		vr.To = r.GetTo().AsTime()
	}
	if err := x.s.record(ctx, audit.Entry{Type: "audit.verify", Details: map[string]any{
		"from_seq": vr.FromSeq, "to_seq": vr.ToSeq, "from": fmtOpt(vr.From), "to": fmtOpt(vr.To)}}); err != nil {
		return nil, err
	}
	rep, err := x.s.cfg.Audit.(auditReader).Verify(ctx, vr)
	if err != nil {
		return nil, err
	}
	out := &pb.VerifyResponse{
		Ok: rep.OK, FirstSeq: rep.FirstSeq, LastSeq: rep.LastSeq, Checked: rep.Checked, Checkpoints: int32(rep.Checkpoints),
		LastCheckpoint: rep.LastCheckpoint, Unsigned: rep.Unsigned, Anchor: rep.Anchor, Seconds: rep.Duration.Seconds(),
	}
	if rep.Problem != nil {
		out.ProblemSeq, out.ProblemKind, out.ProblemDetail = rep.Problem.Seq, rep.Problem.Kind, rep.Problem.Detail
	}
	return out, nil
}

func (x *auditService) GetPublicKey(ctx context.Context, _ *pb.GetPublicKeyRequest) (*pb.GetPublicKeyResponse, error) {
	return &pb.GetPublicKeyResponse{PublicKeyPem: string(x.s.cfg.Audit.(auditReader).PublicKeyPEM())}, nil
}

const xlsxType = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

func reportFormat(f string) (string, error) {
	switch f = strings.ToLower(f); f {
	case "", "xlsx":
		return "xlsx", nil
	case "csv":
		return "csv", nil
	}
	return "", status.Error(codes.InvalidArgument, "format must be xlsx or csv")
}

// GetLedger renders the 개인영상정보 관리대장 for [from, to).
func (x *auditService) GetLedger(ctx context.Context, r *pb.GetLedgerRequest) (*pb.ReportFile, error) {
	format, err := reportFormat(r.GetFormat())
	if err != nil {
		return nil, err
	}
	if r.GetFrom() == nil || r.GetTo() == nil || !r.GetTo().AsTime().After(r.GetFrom().AsTime()) {
		return nil, status.Error(codes.InvalidArgument, "the ledger needs a period: from before to")
	}
	from, to := r.GetFrom().AsTime(), r.GetTo().AsTime()
	if err := x.s.record(ctx, audit.Entry{Type: "report.download", Details: map[string]any{
		"report": "ledger", "format": format, "from": fmtOpt(from), "to": fmtOpt(to)}}); err != nil {
		return nil, err
	}
	st := x.s.cfg.Audit.(auditReports)
	var buf bytes.Buffer
	name := fmt.Sprintf("개인영상정보관리대장_%s_%s.%s", from.Format("20060102"), to.Format("20060102"), format)
	if format == "csv" {
		err = st.WriteLedgerCSV(ctx, &buf, from, to)
	} else {
		err = st.WriteLedgerXLSX(ctx, &buf, from, to)
	}
	if err != nil {
		return nil, err
	}
	return &pb.ReportFile{Filename: name, ContentType: contentType(format), Content: buf.Bytes()}, nil
}

func contentType(format string) string {
	if format == "csv" {
		return "text/csv"
	}
	return xlsxType
}

// GetAccessReview renders the monthly access-log review (접속기록 점검).
func (x *auditService) GetAccessReview(ctx context.Context, r *pb.GetAccessReviewRequest) (*pb.ReportFile, error) {
	format, err := reportFormat(r.GetFormat())
	if err != nil {
		return nil, err
	}
	month, err := time.ParseInLocation("2006-01", r.GetMonth(), x.s.location())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, "month must be YYYY-MM")
	}
	if err := x.s.record(ctx, audit.Entry{Type: "report.download", Details: map[string]any{
		"report": "access_review", "format": format, "month": r.GetMonth()}}); err != nil {
		return nil, err
	}
	rev, err := x.s.cfg.Audit.(auditReports).AccessReview(ctx, month)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if format == "csv" {
		err = rev.WriteCSV(&buf)
	} else {
		err = rev.WriteXLSX(&buf)
	}
	if err != nil {
		return nil, err
	}
	return &pb.ReportFile{Filename: "접속기록점검_" + r.GetMonth() + "." + format, ContentType: contentType(format), Content: buf.Bytes()}, nil
}

// auditReports is what the reports need of the store.
type auditReports interface {
	WriteLedgerCSV(ctx context.Context, w io.Writer, from, to time.Time) error
	WriteLedgerXLSX(ctx context.Context, w io.Writer, from, to time.Time) error
	AccessReview(ctx context.Context, month time.Time) (*audit.Review, error)
}

// auditReader is what AuditService needs of the store beyond Append.
type auditReader interface {
	Query(ctx context.Context, f audit.Filter) (audit.Page, error)
	Verify(ctx context.Context, r audit.VerifyRange) (*audit.VerifyReport, error)
	PublicKeyPEM() []byte
}
