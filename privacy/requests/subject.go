package requests

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	ac "github.com/gwanje/gwanje/accesscontrol"
	"github.com/gwanje/gwanje/audit"
	"github.com/gwanje/gwanje/stream/record"
)

// Kind is what a subject asks for.
type Kind string

// Kinds of subject request.
const (
	KindView    Kind = "view"    // 열람
	KindConfirm Kind = "confirm" // 존재확인
	KindDelete  Kind = "delete"  // 삭제
)

var kindLabels = map[Kind]string{KindView: "열람 청구", KindConfirm: "존재확인 청구", KindDelete: "삭제 청구"}

// Label is the Korean name of the kind.
func (k Kind) Label() string { return kindLabels[k] }

// Entry types of subject requests: every step is a request.view entry
// (ledger 열람) with details["step"]; a copy handed over is request.copy;
// a granted deletion is recording.destroy (ledger 파기).
const (
	EntryRequest = "request.view"
	EntryCopy    = "request.copy"
	EntryDestroy = record.EntryDestroy
)

// Intake is a subject request as received.
type Intake struct {
	RequesterName    string
	RequesterContact string
	// AgentRelation is set when an agent asks for the subject (e.g. "배우자",
	// "법정대리인"); PowerOfAttorney then records the power of attorney
	// (위임장: its reference or description) and is required.
	AgentRelation   string
	PowerOfAttorney string
	// IdentityMethod is how identity was verified (e.g. "신분증 대조
	// (주민등록증)"); IdentityVerifiedBy who verified it (default the
	// caller's username).
	IdentityMethod     string
	IdentityVerifiedBy string
	Kind               Kind
	// The footage: cameras and/or a site (all its cameras), the time
	// range, the place and a description (clothing, what happened).
	Cameras     []string
	Site        string
	Place       string
	From, To    time.Time
	Description string
	// ReceivedAt starts the clock. Default now.
	ReceivedAt time.Time
}

// SubjectRequest is a stored subject request.
type SubjectRequest struct {
	ID                 string
	Kind               Kind
	Status             string // open, postponed, decided, closed
	RequesterName      string
	RequesterContact   string
	AgentRelation      string
	PowerOfAttorney    string
	IdentityMethod     string
	IdentityVerifiedBy string
	Cameras            []string
	Site, Place        string
	From, To           time.Time
	Description        string
	ReceivedAt         time.Time
	ReceivedBy         string
	Deadline           time.Time
	HoldID             string
	RemindedAt         *time.Time
	OverdueAlarmedAt   *time.Time
	Decision           DecisionKind
	DecidedAt          *time.Time
	DecidedBy          string
	RefusalReason      RefusalReason
	ReasonText         string
	Objection          string
	ViewingAt          *time.Time
	ViewingPlace       string
	PostponedUntil     *time.Time
	Result             map[string]any
	ClosedAt           *time.Time
}

// Overdue reports whether the request is undecided past its deadline.
func (r SubjectRequest) Overdue(now time.Time) bool {
	return r.DecidedAt == nil && r.ClosedAt == nil && !now.Before(r.Deadline)
}

const reqCols = `id, kind, status, requester_name, requester_contact, agent_relation, power_of_attorney,
	identity_method, identity_verified_by, cameras, site, place, from_at, to_at, description, received_at, received_by,
	deadline_at, hold_id, reminded_at, overdue_alarmed_at, decision, decided_at, decided_by, reason_code, reason_text,
	objection, viewing_at, viewing_place, postponed_until, result, closed_at`

func scanRequest(r pgx.Row) (SubjectRequest, error) {
	var q SubjectRequest
	var kind, dec, reason string
	err := r.Scan(&q.ID, &kind, &q.Status, &q.RequesterName, &q.RequesterContact, &q.AgentRelation, &q.PowerOfAttorney,
		&q.IdentityMethod, &q.IdentityVerifiedBy, &q.Cameras, &q.Site, &q.Place, &q.From, &q.To, &q.Description,
		&q.ReceivedAt, &q.ReceivedBy, &q.Deadline, &q.HoldID, &q.RemindedAt, &q.OverdueAlarmedAt, &dec, &q.DecidedAt,
		&q.DecidedBy, &reason, &q.ReasonText, &q.Objection, &q.ViewingAt, &q.ViewingPlace, &q.PostponedUntil,
		&q.Result, &q.ClosedAt)
	q.Kind, q.Decision, q.RefusalReason = Kind(kind), DecisionKind(dec), RefusalReason(reason)
	return q, err
}

// requesterLine is the ledger's 요구자 column.
func (r SubjectRequest) requesterLine() string {
	s := r.RequesterName + " / " + r.RequesterContact
	if r.AgentRelation != "" {
		s += " (대리인: " + r.AgentRelation + ", 위임장: " + r.PowerOfAttorney + ")"
	}
	return s
}

// fileLine names footage as people find it (파일명): the cameras by name
// and place, never their ids, and the time the footage covers.
func (s *Service) fileLine(ctx context.Context, cams []string, from, to time.Time) string {
	names := make([]string, 0, len(cams))
	for _, id := range cams {
		c, err := s.cfg.Cameras.Camera(ctx, id)
		switch {
		case err != nil || c.Name == "":
			names = append(names, "등록되지 않은 카메라")
		case c.Place != "":
			names = append(names, c.Name+" ("+c.Place+")")
		default:
			names = append(names, c.Name)
		}
	}
	return fmt.Sprintf("%s 영상 %s ~ %s", strings.Join(names, ", "), s.fmtTime(from), s.fmtTime(to))
}

// entry builds a request.view entry for a step.
func (s *Service) reqEntry(ctx context.Context, p ac.Principal, r SubjectRequest, typ, step, reason string, extra map[string]any) audit.Entry {
	from, to := r.From, r.To
	d := map[string]any{
		"step":       step,
		"request_id": r.ID,
		"kind":       string(r.Kind),
		"file":       s.fileLine(ctx, r.Cameras, r.From, r.To),
		"recipient":  r.requesterLine(),
		"basis":      "개인정보 보호법 제35조·제36조 (정보주체의 " + r.Kind.Label() + ")",
		"period":     "처리기한 " + s.fmtTime(r.Deadline),
	}
	for k, v := range extra {
		d[k] = v
	}
	return audit.Entry{Time: s.cfg.Now(), Type: typ, Outcome: audit.Success, Actor: actor(p), ClientAddr: p.ClientAddr,
		SessionID: p.SessionID, Cameras: r.Cameras, FootageFrom: &from, FootageTo: &to,
		Purpose: string(ac.PurposeSubjectRequest), Reason: reason, RequestID: r.ID, Details: d}
}

// OpenRequest records a subject request received, places a legal hold on
// the footage it names and starts the clock. Needs request.handle.
func (s *Service) OpenRequest(ctx context.Context, p ac.Principal, in Intake) (SubjectRequest, error) {
	if err := s.requireGlobal(ctx, p, ac.PermRequestHandle, EntryRequest); err != nil {
		return SubjectRequest{}, err
	}
	tr := strings.TrimSpace
	in.RequesterName, in.RequesterContact = tr(in.RequesterName), tr(in.RequesterContact)
	in.AgentRelation, in.PowerOfAttorney = tr(in.AgentRelation), tr(in.PowerOfAttorney)
	in.IdentityMethod, in.IdentityVerifiedBy = tr(in.IdentityMethod), tr(in.IdentityVerifiedBy)
	if in.IdentityVerifiedBy == "" {
		in.IdentityVerifiedBy = p.Username
	}
	if in.ReceivedAt.IsZero() {
		in.ReceivedAt = s.cfg.Now()
	}
	if err := checkDisplayed("requester name", in.RequesterName, "requester contact", in.RequesterContact,
		"agent relation", in.AgentRelation, "power of attorney", in.PowerOfAttorney,
		"identity method", in.IdentityMethod, "identity verified by", in.IdentityVerifiedBy); err != nil {
		return SubjectRequest{}, err
	}
	switch {
	case in.RequesterName == "" || in.RequesterContact == "":
		return SubjectRequest{}, fmt.Errorf("%w: the requester's name and contact are required", ErrInvalid)
	case in.AgentRelation != "" && in.PowerOfAttorney == "":
		return SubjectRequest{}, fmt.Errorf("%w: an agent needs a power of attorney (위임장); record it", ErrInvalid)
	case in.IdentityMethod == "":
		return SubjectRequest{}, fmt.Errorf("%w: how the requester's identity was verified is required", ErrInvalid)
	case kindLabels[in.Kind] == "":
		return SubjectRequest{}, fmt.Errorf("%w: kind %q (view, confirm or delete)", ErrInvalid, in.Kind)
	case in.From.IsZero() || !in.To.After(in.From):
		return SubjectRequest{}, fmt.Errorf("%w: the footage's time range (from < to) is required", ErrInvalid)
	case in.ReceivedAt.After(s.cfg.Now().Add(time.Minute)):
		return SubjectRequest{}, fmt.Errorf("%w: received in the future", ErrInvalid)
	}
	cams, err := s.cleanCameras(ctx, in.Cameras, in.Site)
	if err != nil {
		return SubjectRequest{}, err
	}
	id := newID("sr-")
	var out SubjectRequest
	err = s.tx(ctx, func(tx pgx.Tx) error {
		h, err := record.CreateHold(ctx, tx, record.HoldRequest{Cameras: cams, From: in.From, To: in.To, CaseRef: id,
			Reason: "정보주체 " + in.Kind.Label() + " 처리 중 보존", By: p.Username})
		if err != nil {
			return fmt.Errorf("%w: hold: %v", ErrInvalid, err)
		}
		out, err = scanRequest(tx.QueryRow(ctx, `insert into privacy_subject_requests (id, kind, requester_name,
			requester_contact, agent_relation, power_of_attorney, identity_method, identity_verified_by, cameras, site,
			place, from_at, to_at, description, received_at, received_by, deadline_at, hold_id)
			values ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18) returning `+reqCols,
			id, string(in.Kind), in.RequesterName, in.RequesterContact, in.AgentRelation, in.PowerOfAttorney,
			in.IdentityMethod, in.IdentityVerifiedBy, cams, tr(in.Site), tr(in.Place), in.From, in.To, tr(in.Description),
			in.ReceivedAt, p.Username, in.ReceivedAt.Add(s.cfg.Deadline), h.ID))
		if err != nil {
			return fmt.Errorf("requests: intake: %w", err)
		}
		_, err = s.cfg.Auditor.AppendTx(ctx, tx, s.reqEntry(ctx, p, out, EntryRequest, "intake", "정보주체 "+in.Kind.Label()+" 접수",
			map[string]any{"identity": in.IdentityMethod + " (확인: " + in.IdentityVerifiedBy + ")", "hold_id": h.ID,
				"place": out.Place, "description": out.Description, "received_at": s.fmtTime(out.ReceivedAt)}))
		return err
	})
	if err != nil {
		return SubjectRequest{}, err
	}
	s.log.Info("requests: subject request opened", "id", id, "kind", in.Kind, "cameras", cams, "deadline", out.Deadline)
	return out, nil
}

// GetRequest returns a subject request. Needs request.handle.
func (s *Service) GetRequest(ctx context.Context, p ac.Principal, id string) (SubjectRequest, error) {
	if err := s.requireGlobal(ctx, p, ac.PermRequestHandle, EntryRequest); err != nil {
		return SubjectRequest{}, err
	}
	return s.getRequest(ctx, s.pool, id, false)
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func (s *Service) getRequest(ctx context.Context, q querier, id string, lock bool) (SubjectRequest, error) {
	sql := `select ` + reqCols + ` from privacy_subject_requests where id = $1`
	if lock {
		sql += " for update"
	}
	r, err := scanRequest(q.QueryRow(ctx, sql, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return r, fmt.Errorf("%w: subject request %q", ErrNotFound, id)
	}
	if err != nil {
		return r, fmt.Errorf("requests: %w", err)
	}
	return r, nil
}

// ListRequests lists subject requests received in [from, to), newest
// first; openOnly keeps the undecided ones. Needs request.handle.
func (s *Service) ListRequests(ctx context.Context, p ac.Principal, from, to time.Time, openOnly bool) ([]SubjectRequest, error) {
	if err := s.requireGlobal(ctx, p, ac.PermRequestHandle, EntryRequest); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `select `+reqCols+` from privacy_subject_requests
		where received_at >= $1 and received_at < $2 and (not $3 or (decided_at is null and closed_at is null))
		order by received_at desc, id`, from, to, openOnly)
	if err != nil {
		return nil, fmt.Errorf("requests: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (SubjectRequest, error) { return scanRequest(r) })
	if err != nil {
		return nil, fmt.Errorf("requests: %w", err)
	}
	return out, nil
}

// DecisionKind is the answer to a subject request.
type DecisionKind string

// Decisions.
const (
	// DecisionViewNotice: 열람 통지 — date, time and place of the viewing.
	DecisionViewNotice DecisionKind = "view_notice"
	// DecisionPostpone: 연기 통지 — a new date and the reason (e.g. the
	// masking of others takes time). Not final: the clock moves on to the
	// new date.
	DecisionPostpone DecisionKind = "postpone"
	// DecisionRefuse / DecisionPartialRefuse: 열람 거절 (전부/일부) with a
	// lawful reason and how to object.
	DecisionRefuse        DecisionKind = "refuse"
	DecisionPartialRefuse DecisionKind = "partial_refuse"
	// DecisionDestroyed: the footage was already destroyed after its
	// retention — verified against the record store and the destruction
	// entries.
	DecisionDestroyed DecisionKind = "destroyed"
	// DecisionConfirmed answers a confirmation request (존재확인):
	// whether footage exists (checked against the record store).
	DecisionConfirmed DecisionKind = "confirmed"
	// DecisionDeleted: a deletion request granted (GrantDeletion).
	DecisionDeleted DecisionKind = "deleted"
)

// RefusalReason is a lawful reason to refuse (열람 등의 제한·거절 사유).
type RefusalReason string

// The lawful refusal reasons.
const (
	RefuseInvestigation   RefusalReason = "investigation"     // 범죄의 수사·공소의 제기 및 유지·재판에 중대한 지장
	RefuseDestroyed       RefusalReason = "destroyed"         // 보관기간 경과로 파기됨 (verified)
	RefuseOthersPrivacy   RefusalReason = "others_privacy"    // 타인의 생명·신체·재산 또는 사생활을 부당하게 침해할 우려가 높음
	RefuseProhibitedByLaw RefusalReason = "prohibited_by_law" // 법률에 따라 열람이 금지되거나 제한됨
	RefuseOther           RefusalReason = "other"             // 그 밖의 정당한 사유 (text required)
)

// RefusalReasons are the lawful reasons with their Korean labels.
var RefusalReasons = map[RefusalReason]string{
	RefuseInvestigation:   "범죄의 수사, 공소의 제기 및 유지, 재판에 중대한 지장을 초래하는 경우",
	RefuseDestroyed:       "보관기간 경과로 이미 파기된 경우",
	RefuseOthersPrivacy:   "다른 사람의 생명·신체를 해할 우려가 있거나 재산과 그 밖의 이익을 부당하게 침해할 우려가 높은 경우",
	RefuseProhibitedByLaw: "법률에 따라 열람이 금지되거나 제한되는 경우",
	RefuseOther:           "그 밖의 정당한 사유가 있는 경우",
}

// invalidReasons are reasons people reach for that the law does not allow.
var invalidReasons = map[string]string{
	"police_presence":   "'only with police present' is not a refusal reason: the subject may view without the police",
	"police_only":       "'only with police present' is not a refusal reason: the subject may view without the police",
	"others_in_frame":   "'other people are in the frame' is not a refusal reason: mask the others instead (postpone if masking takes time)",
	"others_in_footage": "'other people are in the frame' is not a refusal reason: mask the others instead (postpone if masking takes time)",
}

// RefusalError says why a refusal reason was rejected. It wraps
// ErrInvalidRefusal.
type RefusalError struct {
	Reason string
	Why    string
}

func (e *RefusalError) Error() string {
	return fmt.Sprintf("requests: refusal reason %q rejected: %s", e.Reason, e.Why)
}

// Unwrap makes errors.Is(err, ErrInvalidRefusal) (and ErrInvalid) hold.
func (e *RefusalError) Unwrap() error { return ErrInvalidRefusal }

// CheckRefusalReason accepts only the lawful reasons.
func CheckRefusalReason(code RefusalReason, text string) error {
	if why, bad := invalidReasons[string(code)]; bad {
		return &RefusalError{Reason: string(code), Why: why}
	}
	if _, ok := RefusalReasons[code]; !ok {
		return &RefusalError{Reason: string(code), Why: "use one of investigation, destroyed, others_privacy, prohibited_by_law, other"}
	}
	if code == RefuseOther && strings.TrimSpace(text) == "" {
		return &RefusalError{Reason: string(code), Why: "'other' needs the specific reason in text"}
	}
	return nil
}

// Decision is a decision on a subject request.
type Decision struct {
	Kind DecisionKind
	// ViewNotice: when and where the subject may view.
	ViewingAt    time.Time
	ViewingPlace string
	// Postpone: until when, and why (ReasonText).
	PostponedUntil time.Time
	// Refuse / PartialRefuse: the lawful reason, the specifics, and how to
	// object (이의제기 방법). PartialRefuse also needs a ViewNotice part or
	// text saying what is given.
	RefusalReason RefusalReason
	ReasonText    string
	Objection     string
	// Witness: 관리책임자·입회자 확인.
	Witness string
}

// DecideRequest records a decision (not deletion: GrantDeletion). A
// postponement moves the deadline; every other decision is final. A
// "destroyed" decision (or refusal reason) is verified first. Needs
// request.handle.
func (s *Service) DecideRequest(ctx context.Context, p ac.Principal, id string, d Decision) (SubjectRequest, error) {
	if err := s.requireGlobal(ctx, p, ac.PermRequestHandle, EntryRequest); err != nil {
		return SubjectRequest{}, err
	}
	now := s.cfg.Now()
	d.ReasonText, d.Objection, d.ViewingPlace = strings.TrimSpace(d.ReasonText), strings.TrimSpace(d.Objection), strings.TrimSpace(d.ViewingPlace)
	switch d.Kind {
	case DecisionViewNotice:
		if d.ViewingAt.IsZero() || d.ViewingPlace == "" {
			return SubjectRequest{}, fmt.Errorf("%w: a viewing notice needs the date, time and place", ErrInvalid)
		}
	case DecisionPostpone:
		if !d.PostponedUntil.After(now) || d.ReasonText == "" {
			return SubjectRequest{}, fmt.Errorf("%w: a postponement needs a later date and the reason", ErrInvalid)
		}
	case DecisionRefuse, DecisionPartialRefuse:
		if err := CheckRefusalReason(d.RefusalReason, d.ReasonText); err != nil {
			_ = s.denied(ctx, p, EntryRequest, nil, err.Error(), err)
			return SubjectRequest{}, err
		}
		if d.Objection == "" {
			return SubjectRequest{}, fmt.Errorf("%w: a refusal must say how to object (이의제기 방법)", ErrInvalid)
		}
	case DecisionDestroyed:
		d.RefusalReason = RefuseDestroyed
	case DecisionConfirmed:
	case DecisionDeleted:
		return SubjectRequest{}, fmt.Errorf("%w: use GrantDeletion to grant a deletion", ErrInvalid)
	default:
		return SubjectRequest{}, fmt.Errorf("%w: decision %q", ErrInvalid, d.Kind)
	}
	r, err := s.getRequest(ctx, s.pool, id, false)
	if err != nil {
		return r, err
	}
	result := map[string]any{}
	if d.RefusalReason == RefuseDestroyed {
		ev, err := s.verifyDestroyed(ctx, r)
		if err != nil {
			return r, err
		}
		result["destruction_entries"] = ev
	}
	if d.Kind == DecisionConfirmed {
		n, err := s.countFootage(ctx, r)
		if err != nil {
			return r, err
		}
		result["exists"] = n > 0
		result["segments"] = n
	}
	err = s.tx(ctx, func(tx pgx.Tx) error {
		cur, err := s.getRequest(ctx, tx, id, true)
		if err != nil {
			return err
		}
		if cur.DecidedAt != nil || cur.ClosedAt != nil {
			return fmt.Errorf("%w: request %s was already decided (%s)", ErrConflict, id, cur.Decision)
		}
		rj, _ := json.Marshal(result)
		if d.Kind == DecisionPostpone {
			r, err = scanRequest(tx.QueryRow(ctx, `update privacy_subject_requests set status = 'postponed',
				decision = $2, reason_text = $3, postponed_until = $4, deadline_at = $4, reminded_at = null,
				overdue_alarmed_at = null, updated_at = $5 where id = $1 returning `+reqCols,
				id, string(d.Kind), d.ReasonText, d.PostponedUntil, now))
		} else {
			var va *time.Time
			if !d.ViewingAt.IsZero() {
				va = &d.ViewingAt
			}
			r, err = scanRequest(tx.QueryRow(ctx, `update privacy_subject_requests set status = 'decided',
				decision = $2, decided_at = $3, decided_by = $4, reason_code = $5, reason_text = $6, objection = $7,
				viewing_at = $8, viewing_place = $9, result = $10, updated_at = $3 where id = $1 returning `+reqCols,
				id, string(d.Kind), now, p.Username, string(d.RefusalReason), d.ReasonText, d.Objection, va,
				d.ViewingPlace, rj))
		}
		if err != nil {
			return fmt.Errorf("requests: decide: %w", err)
		}
		extra := map[string]any{"decision": string(d.Kind)}
		reason := decisionLabel(d.Kind)
		switch d.Kind {
		case DecisionViewNotice:
			extra["viewing"] = s.fmtTime(d.ViewingAt) + " " + d.ViewingPlace
		case DecisionPostpone:
			extra["postponed_until"] = s.fmtTime(d.PostponedUntil)
			reason += ": " + d.ReasonText
		case DecisionRefuse, DecisionPartialRefuse, DecisionDestroyed:
			extra["refusal_reason"] = string(d.RefusalReason)
			extra["objection"] = d.Objection
			reason += " — 거부 사유: " + RefusalReasons[d.RefusalReason]
			if d.ReasonText != "" {
				reason += " (" + d.ReasonText + ")"
			}
		case DecisionConfirmed:
			extra["exists"] = result["exists"]
		}
		if d.Witness != "" {
			extra["witness"] = d.Witness
		}
		for k, v := range result {
			extra[k] = v
		}
		_, err = s.cfg.Auditor.AppendTx(ctx, tx, s.reqEntry(ctx, p, r, EntryRequest, "decision", reason, extra))
		return err
	})
	return r, err
}

func decisionLabel(k DecisionKind) string {
	switch k {
	case DecisionViewNotice:
		return "열람 결정 통지"
	case DecisionPostpone:
		return "열람 연기 통지"
	case DecisionRefuse:
		return "열람 거절 통지"
	case DecisionPartialRefuse:
		return "일부 열람 거절 통지"
	case DecisionDestroyed:
		return "파기되어 열람 불가 통지"
	case DecisionConfirmed:
		return "존재 확인 결과 통지"
	case DecisionDeleted:
		return "삭제 완료 통지"
	}
	return string(k)
}

func (s *Service) countFootage(ctx context.Context, r SubjectRequest) (int, error) {
	n := 0
	for _, c := range r.Cameras {
		l, err := record.ListRecordings(ctx, s.pool, c, r.From, r.To, time.Second)
		if err != nil {
			return 0, fmt.Errorf("requests: footage: %w", err)
		}
		n += len(l.Segments)
	}
	return n, nil
}

// verifyDestroyed proves "already destroyed": no segment of the cameras
// overlaps the range in the record store, and for every camera a
// recording.destroy entry covers footage in the range. It returns the
// entries' sequence numbers.
func (s *Service) verifyDestroyed(ctx context.Context, r SubjectRequest) ([]int64, error) {
	if n, err := s.countFootage(ctx, r); err != nil {
		return nil, err
	} else if n > 0 {
		return nil, fmt.Errorf("%w: the record store still holds %d segments of the range", ErrNotDestroyed, n)
	}
	var seqs []int64
	for _, c := range r.Cameras {
		found := false
		f := audit.Filter{Types: []string{record.EntryDestroy}, Camera: c, From: r.From, To: s.cfg.Now().Add(time.Second),
			Outcome: audit.Success, Limit: 1000}
		for !found {
			pg, err := s.cfg.AuditQuery.Query(ctx, f)
			if err != nil {
				return nil, fmt.Errorf("%w: destruction entries: %v", ErrUnavailable, err)
			}
			for _, st := range pg.Entries {
				e := st.Entry
				if e.FootageFrom != nil && e.FootageTo != nil && e.FootageFrom.Before(r.To) && e.FootageTo.After(r.From) {
					seqs = append(seqs, st.Seq)
					found = true
					break
				}
			}
			if pg.Next == "" {
				break
			}
			f.Cursor = pg.Next
		}
		if !found {
			return nil, fmt.Errorf("%w: camera %s has no footage in the range, but no destruction entry covers it (never recorded? answer with a confirmation that no footage exists)", ErrNotDestroyed, c)
		}
	}
	return seqs, nil
}

// DeletionReport says what a granted deletion did.
type DeletionReport struct {
	// Deleted are the segments wholly inside the range: file and index
	// row destroyed.
	Deleted []record.Segment
	// Partial are segments that straddle an edge of the range: kept
	// (deleting them would destroy footage outside the range; cutting an
	// encrypted segment is not supported by the record store).
	Partial []record.Segment
	// Held are segments inside the range under another legal hold (an
	// investigation): kept until that hold ends.
	Held     []record.Segment
	AuditSeq int64
}

// GrantDeletion grants a deletion request (삭제 청구): it destroys the
// segments of the requested cameras that lie wholly inside the range and
// that no other hold protects, after committing the recording.destroy
// entry (ledger 파기) with the decision; segments that straddle the edges
// or are under another hold are kept and named in the entry. The request's
// own hold is released. Needs request.handle.
func (s *Service) GrantDeletion(ctx context.Context, p ac.Principal, id, witness string) (DeletionReport, error) {
	var rep DeletionReport
	if err := s.requireGlobal(ctx, p, ac.PermRequestHandle, EntryRequest); err != nil {
		return rep, err
	}
	r, err := s.getRequest(ctx, s.pool, id, false)
	if err != nil {
		return rep, err
	}
	if r.Kind != KindDelete {
		return rep, fmt.Errorf("%w: request %s asks for %s, not deletion", ErrInvalid, id, r.Kind.Label())
	}
	now := s.cfg.Now()
	st := s.cfg.Store
	err = s.tx(ctx, func(tx pgx.Tx) error {
		cur, err := s.getRequest(ctx, tx, id, true)
		if err != nil {
			return err
		}
		if cur.DecidedAt != nil || cur.ClosedAt != nil {
			return fmt.Errorf("%w: request %s was already decided (%s)", ErrConflict, id, cur.Decision)
		}
		for _, c := range r.Cameras {
			rows, err := tx.Query(ctx, `select id, camera_id, node, start_at, end_at, path, size, sha256, key_id,
				exists (select 1 from recording_holds h where $1 = any(h.cameras) and h.id <> $4 and h.released_at is null
				        and (h.until_at is null or h.until_at > $5) and h.from_at < s.end_at and h.to_at > s.start_at)
				from recording_segments s where camera_id = $1 and start_at < $3 and end_at > $2
				order by start_at for update`, c, r.From, r.To, r.HoldID, now)
			if err != nil {
				return fmt.Errorf("requests: deletion: %w", err)
			}
			for rows.Next() {
				var sg record.Segment
				var held bool
				if err := rows.Scan(&sg.ID, &sg.CameraID, &sg.Node, &sg.Start, &sg.End, &sg.Path, &sg.Size, &sg.SHA256,
					&sg.KeyID, &held); err != nil {
					rows.Close()
					return fmt.Errorf("requests: deletion: %w", err)
				}
				switch {
				case sg.Start.Before(r.From) || sg.End.After(r.To):
					rep.Partial = append(rep.Partial, sg)
				case held:
					rep.Held = append(rep.Held, sg)
				default:
					rep.Deleted = append(rep.Deleted, sg)
				}
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return fmt.Errorf("requests: deletion: %w", err)
			}
		}
		for _, sg := range rep.Deleted {
			if sg.Node != st.Node() {
				return fmt.Errorf("%w: segment %d is on node %s; run the deletion there", ErrConflict, sg.ID, sg.Node)
			}
		}
		var files []string
		var bytes int64
		for _, sg := range rep.Deleted {
			files = append(files, path.Base(sg.Path))
			bytes += sg.Size
		}
		kept := func(ss []record.Segment) []string {
			var out []string
			for _, sg := range ss {
				out = append(out, fmt.Sprintf("%s %s~%s", sg.CameraID, s.fmtTime(sg.Start), s.fmtTime(sg.End)))
			}
			return out
		}
		from, to := r.From, r.To
		rec, err := s.cfg.Auditor.AppendTx(ctx, tx, audit.Entry{Time: now, Type: EntryDestroy, Outcome: audit.Success,
			Actor: actor(p), ClientAddr: p.ClientAddr, SessionID: p.SessionID, Cameras: r.Cameras,
			FootageFrom: &from, FootageTo: &to, Purpose: string(ac.PurposeSubjectRequest),
			Reason: "정보주체 삭제 청구에 따른 파기", RequestID: r.ID,
			Details: map[string]any{
				"request_id": r.ID, "step": "deletion",
				"file":      fmt.Sprintf("%s (%d개 파일, 암호화 fMP4)", s.fileLine(ctx, r.Cameras, r.From, r.To), len(files)),
				"files":     files,
				"recipient": r.requesterLine(),
				"witness":   witness,
				"period": fmt.Sprintf("파기일시 %s; 결과: %d개 파일 %d바이트 영구 삭제; 범위 경계에 걸친 %d개 파일 보존 (범위 밖 영상 포함); 다른 보존조치 대상 %d개 파일 보존",
					s.fmtTime(now), len(files), bytes, len(rep.Partial), len(rep.Held)),
				"kept_partial": kept(rep.Partial),
				"kept_held":    kept(rep.Held),
				"method":       "file deletion and index removal; the camera-day data key is destroyed by the retention sweeper once no segment of the day remains (crypto-shredding)",
			}})
		if err != nil {
			return err
		}
		rep.AuditSeq = rec.Seq
		ids := make([]int64, len(rep.Deleted))
		for i, sg := range rep.Deleted {
			ids[i] = sg.ID
		}
		if _, err := tx.Exec(ctx, `delete from recording_segments where id = any($1)`, ids); err != nil {
			return fmt.Errorf("requests: deletion: %w", err)
		}
		res, _ := json.Marshal(map[string]any{"deleted": len(rep.Deleted), "kept_partial": len(rep.Partial),
			"kept_held": len(rep.Held), "audit_seq": rec.Seq})
		if _, err := tx.Exec(ctx, `update privacy_subject_requests set status = 'decided', decision = 'deleted',
			decided_at = $2, decided_by = $3, result = $4, updated_at = $2 where id = $1`, id, now, p.Username, res); err != nil {
			return fmt.Errorf("requests: deletion: %w", err)
		}
		if r.HoldID != "" {
			if _, err := record.ReleaseHold(ctx, tx, r.HoldID, p.Username, "삭제 청구 처리 완료"); err != nil && !errors.Is(err, record.ErrNotFound) {
				return fmt.Errorf("requests: deletion: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return DeletionReport{}, err
	}
	// The entry and the index are committed: remove the files (as the
	// retention sweeper does; a file that cannot be removed is logged and
	// found by the start-up check).
	var errs []error
	for _, sg := range rep.Deleted {
		p := filepath.Join(st.Dir(), filepath.FromSlash(sg.Path))
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
		_ = os.Remove(filepath.Dir(p)) // only when empty
	}
	if err := errors.Join(errs...); err != nil {
		s.log.Error("requests: deletion: files not removed", "request", id, "err", err)
		return rep, fmt.Errorf("requests: deletion recorded but files remain: %w", err)
	}
	s.log.Info("requests: deletion granted", "request", id, "deleted", len(rep.Deleted), "partial", len(rep.Partial), "held", len(rep.Held))
	return rep, nil
}

// CloseRequest ends a request's handling (viewing done, objection period
// over): the hold on its footage is released. Needs request.handle.
func (s *Service) CloseRequest(ctx context.Context, p ac.Principal, id, note string) (SubjectRequest, error) {
	if err := s.requireGlobal(ctx, p, ac.PermRequestHandle, EntryRequest); err != nil {
		return SubjectRequest{}, err
	}
	now := s.cfg.Now()
	var r SubjectRequest
	err := s.tx(ctx, func(tx pgx.Tx) error {
		cur, err := s.getRequest(ctx, tx, id, true)
		if err != nil {
			return err
		}
		if cur.ClosedAt != nil {
			return fmt.Errorf("%w: request %s is already closed", ErrConflict, id)
		}
		if cur.DecidedAt == nil {
			return fmt.Errorf("%w: request %s is not decided yet", ErrConflict, id)
		}
		if cur.HoldID != "" {
			if _, err := record.ReleaseHold(ctx, tx, cur.HoldID, p.Username, "정보주체 청구 처리 종결"); err != nil && !errors.Is(err, record.ErrNotFound) {
				return fmt.Errorf("requests: close: %w", err)
			}
		}
		r, err = scanRequest(tx.QueryRow(ctx, `update privacy_subject_requests set status = 'closed', closed_at = $2,
			closed_by = $3, updated_at = $2 where id = $1 returning `+reqCols, id, now, p.Username))
		if err != nil {
			return fmt.Errorf("requests: close: %w", err)
		}
		_, err = s.cfg.Auditor.AppendTx(ctx, tx, s.reqEntry(ctx, p, r, EntryRequest, "close", "정보주체 청구 처리 종결",
			map[string]any{"note": note}))
		return err
	})
	return r, err
}

// RecordViewing records that the subject viewed the footage (the playback
// itself is audited as playback.start with purpose subject_request and
// this request's ID), with the witness. Needs request.handle.
func (s *Service) RecordViewing(ctx context.Context, p ac.Principal, id, witness, note string) error {
	if err := s.requireGlobal(ctx, p, ac.PermRequestHandle, EntryRequest); err != nil {
		return err
	}
	return s.tx(ctx, func(tx pgx.Tx) error {
		r, err := s.getRequest(ctx, tx, id, true)
		if err != nil {
			return err
		}
		if r.Decision != DecisionViewNotice && r.Decision != DecisionPartialRefuse {
			return fmt.Errorf("%w: request %s has no viewing notice", ErrConflict, id)
		}
		_, err = s.cfg.Auditor.AppendTx(ctx, tx, s.reqEntry(ctx, p, r, EntryRequest, "viewed", "정보주체 열람 실시",
			map[string]any{"witness": witness, "note": note, "form": "열람 (현장 재생)"}))
		return err
	})
}
