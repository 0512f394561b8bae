package requests

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"

	ac "github.com/gwanje/gwanje/accesscontrol"
)

// RegisterHeader is the 목적 외 이용 및 제3자 제공 대장 (8 items of the
// 표준 개인정보 보호지침), with the provision ID and status after them.
var RegisterHeader = []string{
	"개인정보(파일)의 명칭", "이용 또는 제공받는 기관의 명칭", "이용 목적 또는 제공받는 목적", "이용 또는 제공의 법적 근거",
	"이용하거나 제공하는 개인정보의 항목", "이용 또는 제공의 날짜·주기 또는 기간", "이용하거나 제공하는 형태",
	"제한을 하거나 필요한 조치를 마련할 것을 요청한 경우 그 내용",
	"보안서약 여부", "파기 예정일", "보호조치 이행 회신", "제공 번호", "상태",
}

// RegisterRow is one row of the register.
type RegisterRow struct {
	File, Recipient, Purpose, Basis, Items, Period, Form, Safeguards string
	// DestroyBy is when the recipient must destroy the copy (이용기간 끝);
	// SafeguardAnswer what the recipient answered about the safeguards and
	// the destruction ("회신 없음" until it does).
	DestroyBy, SafeguardAnswer string
	ProvisionID, Status        string
	Provision                  Provision
}

// Record is the row as strings in RegisterHeader order.
func (r RegisterRow) Record() []string {
	return []string{r.File, r.Recipient, r.Purpose, r.Basis, r.Items, r.Period, r.Form, r.Safeguards, pledgeLine(r.Provision.SecurityPledge), r.DestroyBy,
		r.SafeguardAnswer, r.ProvisionID, r.Status}
}

// Register returns the register rows of provisions approved in [from, to)
// whose footage was exported for the recipient: a rejected provision, or
// an approved one whose export failed or has not been made, provided
// nothing and is not a row. Needs report.read.
func (s *Service) Register(ctx context.Context, pr ac.Principal, from, to time.Time) ([]RegisterRow, error) {
	if err := s.requireGlobal(ctx, pr, ac.PermReportRead, "provision.register"); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `select `+provCols+` from privacy_provisions
		where approved_at >= $1 and approved_at < $2 and status in ('approved', 'closed')
		and exists (select 1 from privacy_exports e where e.provision_id = privacy_provisions.id)
		order by approved_at, id`, from, to)
	if err != nil {
		return nil, fmt.Errorf("requests: register: %w", err)
	}
	ps, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Provision, error) { return scanProvision(r) })
	if err != nil {
		return nil, fmt.Errorf("requests: register: %w", err)
	}
	out := make([]RegisterRow, 0, len(ps))
	for _, p := range ps {
		period := s.fmtTime(*p.ApprovedAt) + " 제공; 이용기간 ~ " + s.fmtTime(p.UseUntil)
		if p.RecipientDestroyedAt != nil {
			period += "; 파기 확인 " + s.fmtTime(*p.RecipientDestroyedAt)
		}
		status := p.Status
		if p.LetterPending() {
			status += " (긴급: 공문 미접수)"
		}
		sg := p.Safeguards
		if sg == "" {
			sg = "없음"
		}
		items := "영상정보 (촬영 " + s.fmtTime(p.From) + " ~ " + s.fmtTime(p.To) + ")"
		if len(p.Masks) > 0 {
			items += fmt.Sprintf("; 타인 마스킹 %d건", len(p.Masks))
		}
		answer := "회신 없음"
		if p.RecipientDestroyedAt != nil {
			answer = "파기 확인 " + s.fmtTime(*p.RecipientDestroyedAt)
			if p.RecipientDestroyedNote != "" {
				answer += ": " + p.RecipientDestroyedNote
			}
		}
		out = append(out, RegisterRow{
			File: "CCTV 영상정보: " + s.fileLine(ctx, p.Cameras, p.From, p.To), Recipient: p.Recipient.line(),
			Purpose: p.Reason, Basis: s.basisLine(p), Items: items, Period: period, Form: s.formLine(p), Safeguards: sg,
			DestroyBy: p.UseUntil.In(s.cfg.Location).Format("2006-01-02"), SafeguardAnswer: answer,
			ProvisionID: p.ID, Status: status, Provision: p})
	}
	return out, nil
}

// MonthlyReport is a month's provisions and subject requests.
type MonthlyReport struct {
	Month       time.Time
	Register    []RegisterRow
	Requested   int // provisions requested in the month
	Approved    int
	Emergency   int
	LetterOwed  int // emergency approvals still without their letter
	Rejected    int
	Subject     map[Kind]int          // subject requests received, by kind
	Decisions   map[DecisionKind]int  // decided in the month
	Refusals    map[RefusalReason]int // by reason
	Overdue     int                   // received in the month and decided after the deadline, or still open past it
	OpenPastDue []string
}

// Monthly builds the report of the month containing month (Location).
// Needs report.read.
func (s *Service) Monthly(ctx context.Context, pr ac.Principal, month time.Time) (*MonthlyReport, error) {
	m := month.In(s.cfg.Location)
	from := time.Date(m.Year(), m.Month(), 1, 0, 0, 0, 0, s.cfg.Location)
	to := from.AddDate(0, 1, 0)
	reg, err := s.Register(ctx, pr, from, to)
	if err != nil {
		return nil, err
	}
	rep := &MonthlyReport{Month: from, Register: reg, Subject: map[Kind]int{}, Decisions: map[DecisionKind]int{},
		Refusals: map[RefusalReason]int{}}
	err = s.pool.QueryRow(ctx, `select count(*) filter (where requested_at >= $1 and requested_at < $2),
		count(*) filter (where approved_at >= $1 and approved_at < $2 and status in ('approved','closed')),
		count(*) filter (where approved_at >= $1 and approved_at < $2 and emergency),
		count(*) filter (where emergency and letter_no = '' and status in ('approved','closed')),
		count(*) filter (where approved_at >= $1 and approved_at < $2 and status = 'rejected')
		from privacy_provisions`, from, to).Scan(&rep.Requested, &rep.Approved, &rep.Emergency, &rep.LetterOwed, &rep.Rejected)
	if err != nil {
		return nil, fmt.Errorf("requests: monthly: %w", err)
	}
	rows, err := s.pool.Query(ctx, `select id, kind, decision, reason_code, decided_at, deadline_at
		from privacy_subject_requests where received_at >= $1 and received_at < $2`, from, to)
	if err != nil {
		return nil, fmt.Errorf("requests: monthly: %w", err)
	}
	defer rows.Close()
	now := s.cfg.Now()
	for rows.Next() {
		var id, kind, dec, reason string
		var decided *time.Time
		var deadline time.Time
		if err := rows.Scan(&id, &kind, &dec, &reason, &decided, &deadline); err != nil {
			return nil, fmt.Errorf("requests: monthly: %w", err)
		}
		rep.Subject[Kind(kind)]++
		if dec != "" && decided != nil {
			rep.Decisions[DecisionKind(dec)]++
		}
		if reason != "" {
			rep.Refusals[RefusalReason(reason)]++
		}
		if (decided != nil && decided.After(deadline)) || (decided == nil && !now.Before(deadline)) {
			rep.Overdue++
			if decided == nil {
				rep.OpenPastDue = append(rep.OpenPastDue, id)
			}
		}
	}
	return rep, rows.Err()
}

// WriteCSV writes the report's register (UTF-8 with a byte-order mark)
// followed by the month's counts.
func (r *MonthlyReport) WriteCSV(w io.Writer) error {
	if _, err := w.Write([]byte("\xef\xbb\xbf")); err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"목적 외 이용 및 제3자 제공 대장 " + r.Month.Format("2006-01")})
	_ = cw.Write(RegisterHeader)
	for _, row := range r.Register {
		_ = cw.Write(row.Record())
	}
	_ = cw.Write(nil)
	_ = cw.Write([]string{"제공 요청", fmt.Sprint(r.Requested), "승인", fmt.Sprint(r.Approved), "긴급 승인", fmt.Sprint(r.Emergency),
		"공문 미접수", fmt.Sprint(r.LetterOwed), "거부", fmt.Sprint(r.Rejected)})
	_ = cw.Write([]string{"열람 청구", fmt.Sprint(r.Subject[KindView]), "존재확인 청구", fmt.Sprint(r.Subject[KindConfirm]),
		"삭제 청구", fmt.Sprint(r.Subject[KindDelete]), "기한 초과", fmt.Sprint(r.Overdue)})
	cw.Flush()
	return cw.Error()
}
