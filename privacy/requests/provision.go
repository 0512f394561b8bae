package requests

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	ac "github.com/gwanje/gwanje/accesscontrol"
	"github.com/gwanje/gwanje/audit"
	"github.com/gwanje/gwanje/privacy/export"
	"github.com/gwanje/gwanje/privacy/manifest"
	"github.com/gwanje/gwanje/stream/record"
)

// Entry types of provisions (provision.* and export.provide are ledger
// 제공, export.create 이용, export.destroy 파기).
const (
	EntryProvisionRequest = "provision.request"
	EntryProvisionApprove = "provision.approve"
	EntryProvisionReject  = "provision.reject"
	EntryProvisionLetter  = "provision.letter"
	EntryProvisionOutcome = "provision.outcome"
	EntryProvisionClose   = "provision.close"
	EntryExportCreate     = "export.create"
	EntryExportProvide    = "export.provide"
	EntryExportDestroy    = "export.destroy"
)

// Basis is the legal basis of a provision (이용·제공 근거).
type Basis string

// The legal bases (개인정보 보호법 제18조②).
const (
	BasisInvestigation Basis = "investigation" // 범죄의 수사와 공소의 제기 및 유지 (제18조②7)
	BasisConsent       Basis = "consent"       // 정보주체의 별도 동의 (제18조②1)
	BasisLaw           Basis = "law"           // 다른 법률에 특별한 규정 (제18조②2)
	BasisUrgent        Basis = "urgent"        // 급박한 생명·신체·재산의 이익 (제18조②3)
	BasisCourt         Basis = "court"         // 법원의 재판업무 수행 (제18조②8)
	BasisSentence      Basis = "sentence"      // 형 및 감호, 보호처분의 집행 (제18조②9)
)

// Bases are the legal bases with their Korean labels.
var Bases = map[Basis]string{
	BasisInvestigation: "범죄의 수사와 공소의 제기 및 유지 (개인정보 보호법 제18조제2항제7호)",
	BasisConsent:       "정보주체로부터 별도의 동의를 받은 경우 (개인정보 보호법 제18조제2항제1호)",
	BasisLaw:           "다른 법률에 특별한 규정이 있는 경우 (개인정보 보호법 제18조제2항제2호)",
	BasisUrgent:        "명백히 정보주체 또는 제3자의 급박한 생명, 신체, 재산의 이익을 위하여 필요한 경우 (개인정보 보호법 제18조제2항제3호)",
	BasisCourt:         "법원의 재판업무 수행을 위하여 필요한 경우 (개인정보 보호법 제18조제2항제8호)",
	BasisSentence:      "형(刑) 및 감호, 보호처분의 집행을 위하여 필요한 경우 (개인정보 보호법 제18조제2항제9호)",
}

// Forms and deliveries.
const (
	FormVideo        = export.FormVideo
	FormStill        = export.FormStill
	DeliveryDownload = "download" // 온라인 (일회용 다운로드 링크)
	DeliveryMedia    = "media"    // 이동식 저장매체 (USB 등)
)

// Recipient is the third party (소속/계급/성명/연락처).
type Recipient struct {
	Org, Unit, Rank, Name, Contact string
}

func (r Recipient) line() string {
	return strings.Join(nonEmpty(strings.TrimSpace(r.Org+" "+r.Unit), r.Rank, r.Name, r.Contact), " / ")
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// ProvisionRequest asks for footage to be provided to a third party.
type ProvisionRequest struct {
	Recipient Recipient
	// LetterNo is the official letter (공문) number; empty only when an
	// emergency approval will follow with the letter later.
	LetterNo string
	// Reason: the crime type or the reason.
	Reason  string
	Basis   Basis
	Cameras []string
	From    time.Time
	To      time.Time
	// Form: video (default) or still; Delivery: download (default) or media.
	Form     string
	Delivery string
	// UseUntil ends the period of use; the footage is held until then.
	UseUntil time.Time
	// Safeguards requested of the recipient (보호조치 요청 내용).
	Safeguards string
	// SecurityPledge: the recipient signed a security pledge (보안서약).
	SecurityPledge bool
	// Masks to burn in over others (see privacy/export).
	Masks []manifest.Mask
	// Purpose of the export; default crime_prevention.
	Purpose ac.Purpose
}

// Provision is a stored provision.
type Provision struct {
	ID                     string
	Status                 string // requested, approved, rejected, closed
	Recipient              Recipient
	LetterNo               string
	LetterReceivedAt       *time.Time
	Reason                 string
	Basis                  Basis
	Cameras                []string
	From, To               time.Time
	Form, Delivery         string
	UseUntil               time.Time
	Safeguards             string
	SecurityPledge         bool
	Masks                  []manifest.Mask
	Purpose                ac.Purpose
	RequestedBy            string // user ID
	RequestedByName        string
	RequestedAt            time.Time
	ApprovedBy             string
	ApprovedByName         string
	ApprovedAt             *time.Time
	Emergency              bool
	RejectedReason         string
	HoldID                 string
	Outcome                string
	OutcomeAt              *time.Time
	RecipientDestroyedAt   *time.Time
	RecipientDestroyedNote string
	ClosedAt               *time.Time
}

// LetterPending: approved in an emergency, the official letter has not
// arrived yet (flagged until RecordLetter).
func (p Provision) LetterPending() bool {
	return p.Emergency && p.LetterNo == ""
}

const provCols = `id, status, recipient_org, recipient_unit, recipient_rank, recipient_name, recipient_contact,
	letter_no, letter_received_at, reason, basis, cameras, from_at, to_at, form, delivery, use_until, safeguards, masks,
	purpose, requested_by, requested_by_name, requested_at, approved_by, approved_by_name, approved_at, emergency,
	rejected_reason, hold_id, outcome, outcome_at, recipient_destroyed_at, recipient_destroyed_note, closed_at, security_pledge`

func scanProvision(r pgx.Row) (Provision, error) {
	var p Provision
	var basis, purpose string
	var masks []byte
	err := r.Scan(&p.ID, &p.Status, &p.Recipient.Org, &p.Recipient.Unit, &p.Recipient.Rank, &p.Recipient.Name,
		&p.Recipient.Contact, &p.LetterNo, &p.LetterReceivedAt, &p.Reason, &basis, &p.Cameras, &p.From, &p.To, &p.Form,
		&p.Delivery, &p.UseUntil, &p.Safeguards, &masks, &purpose, &p.RequestedBy, &p.RequestedByName, &p.RequestedAt,
		&p.ApprovedBy, &p.ApprovedByName, &p.ApprovedAt, &p.Emergency, &p.RejectedReason, &p.HoldID, &p.Outcome,
		&p.OutcomeAt, &p.RecipientDestroyedAt, &p.RecipientDestroyedNote, &p.ClosedAt, &p.SecurityPledge)
	if err != nil {
		return p, err
	}
	p.Basis, p.Purpose = Basis(basis), ac.Purpose(purpose)
	if len(masks) > 0 {
		_ = json.Unmarshal(masks, &p.Masks)
	}
	return p, nil
}

func (s *Service) getProvision(ctx context.Context, q querier, id string, lock bool) (Provision, error) {
	sql := `select ` + provCols + ` from privacy_provisions where id = $1`
	if lock {
		sql += " for update"
	}
	p, err := scanProvision(q.QueryRow(ctx, sql, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return p, fmt.Errorf("%w: provision %q", ErrNotFound, id)
	}
	if err != nil {
		return p, fmt.Errorf("requests: %w", err)
	}
	return p, nil
}

func (s *Service) formLine(p Provision) string {
	f := "동영상"
	if p.Form == FormStill {
		f = "사진"
	}
	d := "온라인 (일회용 다운로드)"
	if p.Delivery == DeliveryMedia {
		d = "이동식 저장매체 (USB 등)"
	}
	return f + "; " + d
}

// pledgeLine is 보안서약 여부 as the forms write it.
func pledgeLine(signed bool) string {
	if signed {
		return "보안서약 제출"
	}
	return "보안서약 미제출"
}

func (s *Service) basisLine(p Provision) string {
	letter := p.LetterNo
	if letter == "" {
		letter = "공문 추후 제출 (긴급)"
	} else {
		letter = "공문 " + letter
	}
	sg := "보호조치 요청 없음"
	if p.Safeguards != "" {
		sg = "보호조치 요청: " + p.Safeguards
	}
	return strings.Join([]string{letter, pledgeLine(p.SecurityPledge), Bases[p.Basis], sg}, "; ")
}

func (s *Service) provEntry(ctx context.Context, pr ac.Principal, p Provision, typ, step, reason string, extra map[string]any) audit.Entry {
	from, to := p.From, p.To
	d := map[string]any{
		"step":         step,
		"provision_id": p.ID,
		"file":         s.fileLine(ctx, p.Cameras, p.From, p.To),
		"recipient":    p.Recipient.line(),
		"basis":        s.basisLine(p),
		"form":         s.formLine(p),
		"period":       "이용기간 ~ " + s.fmtTime(p.UseUntil) + " (보존조치 해제 예정)",
		"letter_no":    p.LetterNo,
		"crime":        p.Reason,
	}
	for k, v := range extra {
		d[k] = v
	}
	return audit.Entry{Time: s.cfg.Now(), Type: typ, Outcome: audit.Success, Actor: actor(pr), ClientAddr: pr.ClientAddr,
		SessionID: pr.SessionID, Cameras: p.Cameras, FootageFrom: &from, FootageTo: &to, Purpose: string(p.Purpose),
		Reason: reason, RequestID: p.ID, Details: d}
}

// RequestProvision records a provision request and holds the footage.
// Needs export.request on every camera (with the purpose).
func (s *Service) RequestProvision(ctx context.Context, pr ac.Principal, in ProvisionRequest) (Provision, error) {
	tr := strings.TrimSpace
	in.Recipient = Recipient{Org: tr(in.Recipient.Org), Unit: tr(in.Recipient.Unit), Rank: tr(in.Recipient.Rank),
		Name: tr(in.Recipient.Name), Contact: tr(in.Recipient.Contact)}
	in.LetterNo, in.Reason, in.Safeguards = tr(in.LetterNo), tr(in.Reason), tr(in.Safeguards)
	if in.Form == "" {
		in.Form = FormVideo
	}
	if in.Delivery == "" {
		in.Delivery = DeliveryDownload
	}
	if in.Purpose == "" {
		in.Purpose = ac.PurposeCrimePrevention
	}
	if err := checkDisplayed("recipient organization", in.Recipient.Org, "recipient unit", in.Recipient.Unit,
		"recipient rank", in.Recipient.Rank, "recipient name", in.Recipient.Name, "recipient contact", in.Recipient.Contact,
		"letter number", in.LetterNo, "reason", in.Reason, "safeguards", in.Safeguards); err != nil {
		return Provision{}, err
	}
	now := s.cfg.Now()
	switch {
	case in.Recipient.Org == "" || in.Recipient.Name == "" || in.Recipient.Contact == "":
		return Provision{}, fmt.Errorf("%w: the recipient's organization, name and contact are required", ErrInvalid)
	case in.Reason == "":
		return Provision{}, fmt.Errorf("%w: the crime type or reason is required", ErrInvalid)
	case Bases[in.Basis] == "":
		return Provision{}, fmt.Errorf("%w: legal basis %q (one of investigation, consent, law, urgent, court, sentence)", ErrInvalid, in.Basis)
	case in.From.IsZero() || !in.To.After(in.From):
		return Provision{}, fmt.Errorf("%w: the footage's time range (from < to) is required", ErrInvalid)
	case in.Form != FormVideo && in.Form != FormStill:
		return Provision{}, fmt.Errorf("%w: form %q (video or still)", ErrInvalid, in.Form)
	case in.Delivery != DeliveryDownload && in.Delivery != DeliveryMedia:
		return Provision{}, fmt.Errorf("%w: delivery %q (download or media)", ErrInvalid, in.Delivery)
	case !in.UseUntil.After(now):
		return Provision{}, fmt.Errorf("%w: the period of use must end in the future", ErrInvalid)
	}
	if _, err := ac.ValidatePurpose(string(in.Purpose), in.Reason); err != nil {
		return Provision{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if err := export.ValidateMasks(in.Masks); err != nil {
		return Provision{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	cams, err := s.cleanCameras(ctx, in.Cameras, "")
	if err != nil {
		return Provision{}, err
	}
	if err := s.requireCameras(ctx, pr, ac.PermExportRequest, cams, in.Purpose, in.From, EntryProvisionRequest); err != nil {
		return Provision{}, err
	}
	masks := in.Masks
	if masks == nil {
		masks = []manifest.Mask{}
	}
	mj, _ := json.Marshal(masks)
	id := newID("pv-")
	var out Provision
	err = s.tx(ctx, func(tx pgx.Tx) error {
		h, err := record.CreateHold(ctx, tx, record.HoldRequest{Cameras: cams, From: in.From, To: in.To, CaseRef: id,
			Reason: "제3자 제공 요청 처리 중 보존: " + in.Reason, By: pr.Username})
		if err != nil {
			return fmt.Errorf("%w: hold: %v", ErrInvalid, err)
		}
		out, err = scanProvision(tx.QueryRow(ctx, `insert into privacy_provisions (id, recipient_org, recipient_unit,
			recipient_rank, recipient_name, recipient_contact, letter_no, reason, basis, cameras, from_at, to_at, form,
			delivery, use_until, safeguards, masks, purpose, requested_by, requested_by_name, requested_at, hold_id, security_pledge)
			values ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23) returning `+provCols,
			id, in.Recipient.Org, in.Recipient.Unit, in.Recipient.Rank, in.Recipient.Name, in.Recipient.Contact, in.LetterNo,
			in.Reason, string(in.Basis), cams, in.From, in.To, in.Form, in.Delivery, in.UseUntil, in.Safeguards, mj,
			string(in.Purpose), pr.UserID, pr.Username, now, h.ID, in.SecurityPledge))
		if err != nil {
			return fmt.Errorf("requests: provision: %w", err)
		}
		_, err = s.cfg.Auditor.AppendTx(ctx, tx, s.provEntry(ctx, pr, out, EntryProvisionRequest, "request",
			"제3자 제공 요청 접수: "+in.Reason, map[string]any{"hold_id": h.ID, "masks": len(masks)}))
		return err
	})
	if err != nil {
		return Provision{}, err
	}
	s.log.Info("requests: provision requested", "id", id, "cameras", cams, "by", pr.Username)
	return out, nil
}

// GetProvision returns a provision. Needs export.request or export.approve
// on its first camera.
func (s *Service) GetProvision(ctx context.Context, pr ac.Principal, id string) (Provision, error) {
	p, err := s.getProvision(ctx, s.pool, id, false)
	if err != nil {
		return p, err
	}
	// The approver's right or the requester's: a denial is recorded only
	// when neither holds.
	if err := s.requireCamerasAny(ctx, pr, []ac.Permission{ac.PermExportApprove, ac.PermExportRequest}, p.Cameras, p.Purpose, p.From, "provision.read"); err != nil {
		return Provision{}, err
	}
	return p, nil
}

// ApproveOptions qualify an approval.
type ApproveOptions struct {
	// Emergency approves at once although the official letter has not
	// come; the provision stays flagged (LetterPending) until RecordLetter.
	Emergency bool
	Note      string
}

// ApproveProvision is the second pair of eyes: a manager with export.approve
// on every camera (their department's), never the requester. The hold is
// extended to the end of the period of use.
func (s *Service) ApproveProvision(ctx context.Context, pr ac.Principal, id string, opt ApproveOptions) (Provision, error) {
	p, err := s.getProvision(ctx, s.pool, id, false)
	if err != nil {
		return p, err
	}
	if pr.UserID == "" || pr.UserID == p.RequestedBy {
		return Provision{}, s.denied(ctx, pr, EntryProvisionApprove, p.Cameras, "four eyes: the requester cannot approve", ErrSelfApproval)
	}
	if err := s.requireCameras(ctx, pr, ac.PermExportApprove, p.Cameras, p.Purpose, p.From, EntryProvisionApprove); err != nil {
		return Provision{}, err
	}
	if p.LetterNo == "" && !opt.Emergency {
		return Provision{}, fmt.Errorf("%w: no official letter yet: record it first, or approve as an emergency with the letter to follow", ErrInvalid)
	}
	now := s.cfg.Now()
	err = s.tx(ctx, func(tx pgx.Tx) error {
		cur, err := s.getProvision(ctx, tx, id, true)
		if err != nil {
			return err
		}
		if cur.Status != "requested" {
			return fmt.Errorf("%w: provision %s is %s", ErrConflict, id, cur.Status)
		}
		holdID := cur.HoldID
		if holdID != "" {
			if _, err := record.ReleaseHold(ctx, tx, holdID, pr.Username, "승인: 이용기간까지 보존으로 대체"); err != nil && !errors.Is(err, record.ErrNotFound) {
				return fmt.Errorf("requests: approve: %w", err)
			}
		}
		until := cur.UseUntil
		h, err := record.CreateHold(ctx, tx, record.HoldRequest{Cameras: cur.Cameras, From: cur.From, To: cur.To,
			CaseRef: id, Reason: "제3자 제공: 이용기간 종료까지 보존 (" + cur.Reason + ")", By: pr.Username, Until: &until})
		if err != nil {
			return fmt.Errorf("requests: approve: hold: %w", err)
		}
		p, err = scanProvision(tx.QueryRow(ctx, `update privacy_provisions set status = 'approved', approved_by = $2,
			approved_by_name = $3, approved_at = $4, emergency = $5, hold_id = $6, updated_at = $4 where id = $1
			returning `+provCols, id, pr.UserID, pr.Username, now, opt.Emergency, h.ID))
		if err != nil {
			return fmt.Errorf("requests: approve: %w", err)
		}
		reason := "제3자 제공 승인 (요청자 " + p.RequestedByName + ", 승인자 " + pr.Username + ")"
		if opt.Emergency {
			reason = "긴급 " + reason + " — 공문 추후 제출"
		}
		_, err = s.cfg.Auditor.AppendTx(ctx, tx, s.provEntry(ctx, pr, p, EntryProvisionApprove, "approve", reason,
			map[string]any{"witness": pr.Username, "emergency": opt.Emergency, "note": opt.Note, "hold_id": h.ID,
				"requested_by": p.RequestedByName}))
		return err
	})
	if err != nil {
		return Provision{}, err
	}
	return p, nil
}

// RejectProvision refuses a provision with a reason and releases its hold.
// Needs export.approve on every camera; the requester may not reject
// (withdrawal is a rejection by the approver too).
func (s *Service) RejectProvision(ctx context.Context, pr ac.Principal, id, reason string) (Provision, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return Provision{}, fmt.Errorf("%w: a rejection needs its reason", ErrInvalid)
	}
	p, err := s.getProvision(ctx, s.pool, id, false)
	if err != nil {
		return p, err
	}
	if pr.UserID == p.RequestedBy {
		return Provision{}, s.denied(ctx, pr, EntryProvisionReject, p.Cameras, "four eyes: the requester cannot decide", ErrSelfApproval)
	}
	if err := s.requireCameras(ctx, pr, ac.PermExportApprove, p.Cameras, p.Purpose, p.From, EntryProvisionReject); err != nil {
		return Provision{}, err
	}
	now := s.cfg.Now()
	err = s.tx(ctx, func(tx pgx.Tx) error {
		cur, err := s.getProvision(ctx, tx, id, true)
		if err != nil {
			return err
		}
		if cur.Status != "requested" {
			return fmt.Errorf("%w: provision %s is %s", ErrConflict, id, cur.Status)
		}
		if cur.HoldID != "" {
			if _, err := record.ReleaseHold(ctx, tx, cur.HoldID, pr.Username, "제3자 제공 거부"); err != nil && !errors.Is(err, record.ErrNotFound) {
				return fmt.Errorf("requests: reject: %w", err)
			}
		}
		p, err = scanProvision(tx.QueryRow(ctx, `update privacy_provisions set status = 'rejected', rejected_reason = $2,
			approved_by = $3, approved_by_name = $4, approved_at = $5, updated_at = $5 where id = $1 returning `+provCols,
			id, reason, pr.UserID, pr.Username, now))
		if err != nil {
			return fmt.Errorf("requests: reject: %w", err)
		}
		_, err = s.cfg.Auditor.AppendTx(ctx, tx, s.provEntry(ctx, pr, p, EntryProvisionReject, "reject",
			"제3자 제공 거부: "+reason, map[string]any{"witness": pr.Username}))
		return err
	})
	if err != nil {
		return Provision{}, err
	}
	return p, nil
}

// RecordLetter records the official letter (of an emergency approval, or
// before approval). Needs export.request or export.approve.
func (s *Service) RecordLetter(ctx context.Context, pr ac.Principal, id, letterNo string) (Provision, error) {
	letterNo = strings.TrimSpace(letterNo)
	if letterNo == "" {
		return Provision{}, fmt.Errorf("%w: the letter number is required", ErrInvalid)
	}
	return s.update(ctx, pr, id, EntryProvisionLetter, func(cur Provision) error {
		if cur.LetterNo != "" {
			return fmt.Errorf("%w: provision %s already has letter %s", ErrConflict, id, cur.LetterNo)
		}
		return nil
	}, `letter_no = $2, letter_received_at = $3`, []any{letterNo}, "letter", "공문 접수: "+letterNo, nil)
}

// RecordOutcome records the case outcome the recipient reported.
func (s *Service) RecordOutcome(ctx context.Context, pr ac.Principal, id, outcome string) (Provision, error) {
	outcome = strings.TrimSpace(outcome)
	if outcome == "" {
		return Provision{}, fmt.Errorf("%w: the outcome is required", ErrInvalid)
	}
	return s.update(ctx, pr, id, EntryProvisionOutcome, func(cur Provision) error {
		if cur.Status != "approved" {
			return fmt.Errorf("%w: provision %s is %s", ErrConflict, id, cur.Status)
		}
		return nil
	}, `outcome = $2, outcome_at = $3`, []any{outcome}, "outcome", "사건 처리 결과: "+outcome, nil)
}

// RecordRecipientDestruction records the recipient's confirmation that
// they destroyed the copy (ledger 파기, export.destroy).
func (s *Service) RecordRecipientDestruction(ctx context.Context, pr ac.Principal, id, note string) (Provision, error) {
	note = strings.TrimSpace(note)
	if note == "" {
		return Provision{}, fmt.Errorf("%w: describe the confirmation (document, date)", ErrInvalid)
	}
	return s.update(ctx, pr, id, EntryExportDestroy, func(cur Provision) error {
		if cur.Status != "approved" && cur.Status != "closed" {
			return fmt.Errorf("%w: provision %s is %s", ErrConflict, id, cur.Status)
		}
		if cur.RecipientDestroyedAt != nil {
			return fmt.Errorf("%w: already recorded", ErrConflict)
		}
		return nil
	}, `recipient_destroyed_note = $2, recipient_destroyed_at = $3`, []any{note}, "recipient_destroyed",
		"제공받은 자의 파기 확인: "+note, map[string]any{"period": "제공 사본 파기 확인 " + note})
}

// update applies a one-statement change with its audit entry. The caller
// needs export.request or export.approve on the cameras.
func (s *Service) update(ctx context.Context, pr ac.Principal, id, typ string, check func(Provision) error, set string,
	args []any, step, reason string, extra map[string]any) (Provision, error) {
	p, err := s.GetProvision(ctx, pr, id)
	if err != nil {
		return p, err
	}
	now := s.cfg.Now()
	err = s.tx(ctx, func(tx pgx.Tx) error {
		cur, err := s.getProvision(ctx, tx, id, true)
		if err != nil {
			return err
		}
		if err := check(cur); err != nil {
			return err
		}
		all := append([]any{id}, args...)
		all = append(all, now)
		p, err = scanProvision(tx.QueryRow(ctx, `update privacy_provisions set `+set+`, updated_at = $`+fmt.Sprint(len(all))+
			` where id = $1 returning `+provCols, all...))
		if err != nil {
			return fmt.Errorf("requests: %s: %w", step, err)
		}
		_, err = s.cfg.Auditor.AppendTx(ctx, tx, s.provEntry(ctx, pr, p, typ, step, reason, extra))
		return err
	})
	return p, err
}

// ExportInfo is one exported file of a provision or a subject request.
type ExportInfo struct {
	ID           string
	CameraID     string
	FileName     string
	Size         int64
	SHA256       string
	ManifestData []byte
	// Link is the one-time download link (delivery download); empty for
	// removable media (hand the file at Path over).
	Link      export.Link
	Path      string
	CreatedAt time.Time
}

// ExportProvision makes the files of an approved provision, one per
// camera, each with its signed manifest; writes export.create (이용) for
// each, and issues a one-time download link per file when the delivery is
// download (its use writes export.provide, 제공). Needs export.request or
// export.approve on the cameras (the requester or the approver runs it).
func (s *Service) ExportProvision(ctx context.Context, pr ac.Principal, id string) ([]ExportInfo, error) {
	if s.cfg.Exporter == nil || s.cfg.Links == nil {
		return nil, fmt.Errorf("%w: exports are not configured on this server", ErrUnavailable)
	}
	p, err := s.GetProvision(ctx, pr, id)
	if err != nil {
		return nil, err
	}
	if p.Status != "approved" {
		return nil, fmt.Errorf("%w: provision %s is %s, not approved", ErrConflict, id, p.Status)
	}
	if !s.cfg.Now().Before(p.UseUntil) {
		return nil, fmt.Errorf("%w: the period of use of provision %s has ended", ErrConflict, id)
	}
	approvedAt := time.Time{}
	if p.ApprovedAt != nil {
		approvedAt = *p.ApprovedAt
	}
	var out []ExportInfo
	for _, cam := range p.Cameras {
		res, err := s.cfg.Exporter.Export(ctx, export.Job{CameraID: cam, From: p.From, To: p.To, Form: p.Form,
			Masks: p.Masks, Reference: "provision " + p.ID, Purpose: string(p.Purpose), RequestedBy: p.RequestedByName,
			ApprovedBy: p.ApprovedByName, RequestedAt: p.RequestedAt, ApprovedAt: approvedAt})
		if err != nil {
			return out, mapExportErr(err)
		}
		info, err := s.recordExport(ctx, pr, res, "provision_id", p.ID, func(tx pgx.Tx, info *ExportInfo) error {
			e := s.provEntry(ctx, pr, p, EntryExportCreate, "export", "제3자 제공용 반출 파일 생성",
				map[string]any{"export_id": res.ID, "sha256": hex.EncodeToString(res.SHA256), "size": res.Size,
					"file":     res.FileName + " (" + s.fileLine(ctx, []string{cam}, res.Manifest.FirstFrame, res.Manifest.LastFrame) + ")",
					"segments": len(res.Manifest.Segments), "masks": len(res.Manifest.Masks)})
			e.Cameras = []string{cam}
			if _, err := s.cfg.Auditor.AppendTx(ctx, tx, e); err != nil {
				return err
			}
			pe := s.provEntry(ctx, pr, p, EntryExportProvide, "download", "제3자 제공 (다운로드)", map[string]any{
				"file": res.FileName + " (SHA-256 " + hex.EncodeToString(res.SHA256) + ")"})
			if p.Delivery != DeliveryDownload {
				// Removable media: the handover is the provision.
				pe.Type, pe.Reason = EntryExportProvide, "제3자 제공 (이동식 저장매체 인계)"
				pe.Details["step"] = "handover"
				_, err := s.cfg.Auditor.AppendTx(ctx, tx, pe)
				return err
			}
			link, err := s.cfg.Links.CreateTx(ctx, tx, res.ID, linkMaker(pr, ac.PermExportRequest, ac.PermExportApprove), s.cfg.LinkTTL, export.LinkEntry{
				Type: EntryExportProvide, Cameras: []string{cam}, FootageFrom: pe.FootageFrom, FootageTo: pe.FootageTo,
				Purpose: pe.Purpose, Reason: pe.Reason, RequestID: p.ID, Details: pe.Details})
			info.Link = link
			return err
		})
		if err != nil {
			_ = s.cfg.Exporter.Remove(res.ID)
			return out, err
		}
		out = append(out, info)
	}
	return out, nil
}

// linkMaker is who makes a download link: the link lives while their login
// session is open and one of perms is still theirs on its cameras.
func linkMaker(pr ac.Principal, perms ...ac.Permission) export.Maker {
	m := export.Maker{UserID: pr.UserID, Username: pr.Username, SessionID: pr.SessionID}
	for _, p := range perms {
		m.Permissions = append(m.Permissions, string(p))
	}
	return m
}

func mapExportErr(err error) error {
	switch {
	case errors.Is(err, export.ErrMaskingUnavailable):
		return fmt.Errorf("%w: %w", ErrConflict, err)
	case errors.Is(err, export.ErrNotFound):
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	case errors.Is(err, export.ErrInvalid), errors.Is(err, export.ErrTooLarge):
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	case errors.Is(err, export.ErrTampered), errors.Is(err, export.ErrOtherNode):
		return fmt.Errorf("%w: %w", ErrConflict, err)
	}
	return err
}

// recordExport stores the export row and runs fn (entries, link) in the
// same transaction.
func (s *Service) recordExport(ctx context.Context, pr ac.Principal, res *export.Result, refCol, ref string,
	fn func(tx pgx.Tx, info *ExportInfo) error) (ExportInfo, error) {
	now := s.cfg.Now()
	info := ExportInfo{ID: res.ID, CameraID: res.Manifest.Camera, FileName: res.FileName, Size: res.Size,
		SHA256: hex.EncodeToString(res.SHA256), ManifestData: res.ManifestData, Path: res.Path, CreatedAt: now}
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `insert into privacy_exports (id, `+refCol+`, camera_id, from_at, to_at, form, file_name,
			path, size, sha256, manifest, created_at, created_by) values ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)`,
			res.ID, ref, res.Manifest.Camera, res.Manifest.From, res.Manifest.To, res.Manifest.Form, res.FileName, res.Path,
			res.Size, res.SHA256, res.ManifestData, now, pr.Username); err != nil {
			return fmt.Errorf("requests: export: %w", err)
		}
		return fn(tx, &info)
	})
	return info, err
}

// CopyForRequester makes the copy given to a subject (사본 제공) of an
// approved viewing: an export with the others masked (masks required
// unless noOthers says nobody else is in the frame), delivered by a
// one-time link whose use writes request.copy (ledger 열람). Needs
// request.handle and export.request on the cameras (purpose
// subject_request).
func (s *Service) CopyForRequester(ctx context.Context, pr ac.Principal, id string, masks []manifest.Mask, noOthers bool) ([]ExportInfo, error) {
	if s.cfg.Exporter == nil || s.cfg.Links == nil {
		return nil, fmt.Errorf("%w: exports are not configured on this server", ErrUnavailable)
	}
	if err := s.requireGlobal(ctx, pr, ac.PermRequestHandle, EntryCopy); err != nil {
		return nil, err
	}
	r, err := s.getRequest(ctx, s.pool, id, false)
	if err != nil {
		return nil, err
	}
	if r.Kind != KindView || (r.Decision != DecisionViewNotice && r.Decision != DecisionPartialRefuse) || r.ClosedAt != nil {
		return nil, fmt.Errorf("%w: request %s has no open viewing decision", ErrConflict, id)
	}
	if len(masks) == 0 && !noOthers {
		return nil, fmt.Errorf("%w: a copy for the requester masks the others: give the masks (or state that nobody else is in the frame)", ErrInvalid)
	}
	if err := s.requireCameras(ctx, pr, ac.PermExportRequest, r.Cameras, ac.PurposeSubjectRequest, r.From, EntryCopy); err != nil {
		return nil, err
	}
	var out []ExportInfo
	for _, cam := range r.Cameras {
		res, err := s.cfg.Exporter.Export(ctx, export.Job{CameraID: cam, From: r.From, To: r.To, Masks: masks,
			Reference: "subject request " + r.ID, Purpose: string(ac.PurposeSubjectRequest), RequestedBy: r.RequesterName,
			ApprovedBy: pr.Username, RequestedAt: r.ReceivedAt, ApprovedAt: s.cfg.Now()})
		if err != nil {
			return out, mapExportErr(err)
		}
		info, err := s.recordExport(ctx, pr, res, "request_id", r.ID, func(tx pgx.Tx, info *ExportInfo) error {
			e := s.reqEntry(ctx, pr, r, EntryExportCreate, "copy_export", "정보주체 사본 제공용 파일 생성",
				map[string]any{"export_id": res.ID, "sha256": hex.EncodeToString(res.SHA256), "masks": len(masks),
					"file": res.FileName})
			e.Cameras = []string{cam}
			if _, err := s.cfg.Auditor.AppendTx(ctx, tx, e); err != nil {
				return err
			}
			ce := s.reqEntry(ctx, pr, r, EntryCopy, "copy", "정보주체 사본 제공", map[string]any{
				"file": res.FileName + " (SHA-256 " + hex.EncodeToString(res.SHA256) + ")",
				"form": fmt.Sprintf("동영상 사본 (타인 마스킹 %d건); 온라인 (일회용 다운로드)", len(masks))})
			link, err := s.cfg.Links.CreateTx(ctx, tx, res.ID, linkMaker(pr, ac.PermExportRequest), s.cfg.LinkTTL, export.LinkEntry{
				Type: EntryCopy, Cameras: []string{cam}, FootageFrom: ce.FootageFrom, FootageTo: ce.FootageTo,
				Purpose: ce.Purpose, Reason: ce.Reason, RequestID: r.ID, Details: ce.Details})
			info.Link = link
			return err
		})
		if err != nil {
			_ = s.cfg.Exporter.Remove(res.ID)
			return out, err
		}
		out = append(out, info)
	}
	return out, nil
}

// CloseProvision ends a provision: its hold is released, and the center's
// own export files are destroyed (export.destroy, ledger 파기). Needs
// export.approve on the cameras.
func (s *Service) CloseProvision(ctx context.Context, pr ac.Principal, id, note string) (Provision, error) {
	p, err := s.getProvision(ctx, s.pool, id, false)
	if err != nil {
		return p, err
	}
	if err := s.requireCameras(ctx, pr, ac.PermExportApprove, p.Cameras, p.Purpose, p.From, EntryProvisionClose); err != nil {
		return Provision{}, err
	}
	now := s.cfg.Now()
	var files []string
	err = s.tx(ctx, func(tx pgx.Tx) error {
		cur, err := s.getProvision(ctx, tx, id, true)
		if err != nil {
			return err
		}
		if cur.Status != "approved" {
			return fmt.Errorf("%w: provision %s is %s", ErrConflict, id, cur.Status)
		}
		if cur.HoldID != "" {
			if _, err := record.ReleaseHold(ctx, tx, cur.HoldID, pr.Username, "제3자 제공 종결"); err != nil && !errors.Is(err, record.ErrNotFound) {
				return fmt.Errorf("requests: close: %w", err)
			}
		}
		rows, err := tx.Query(ctx, `update privacy_exports set destroyed_at = $2 where provision_id = $1 and destroyed_at is null
			returning id`, id, now)
		if err != nil {
			return fmt.Errorf("requests: close: %w", err)
		}
		files, err = pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return fmt.Errorf("requests: close: %w", err)
		}
		p, err = scanProvision(tx.QueryRow(ctx, `update privacy_provisions set status = 'closed', closed_at = $2,
			updated_at = $2 where id = $1 returning `+provCols, id, now))
		if err != nil {
			return fmt.Errorf("requests: close: %w", err)
		}
		if _, err := s.cfg.Auditor.AppendTx(ctx, tx, s.provEntry(ctx, pr, p, EntryProvisionClose, "close", "제3자 제공 종결: "+note,
			map[string]any{"hold_released": p.HoldID})); err != nil {
			return err
		}
		if len(files) > 0 {
			_, err = s.cfg.Auditor.AppendTx(ctx, tx, s.provEntry(ctx, pr, p, EntryExportDestroy, "export_destroy",
				"이용기간 종료: 센터 보관 반출 파일 파기", map[string]any{"exports": files,
					"period": fmt.Sprintf("파기일시 %s; 결과: 반출 파일 %d개 삭제", s.fmtTime(now), len(files))}))
		}
		return err
	})
	if err != nil {
		return Provision{}, err
	}
	if s.cfg.Exporter != nil {
		for _, f := range files {
			if err := s.cfg.Exporter.Remove(f); err != nil {
				s.log.Error("requests: export file not removed", "export", f, "err", err)
			}
		}
	}
	return p, nil
}
