package requests_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gwanje/gwanje/audit"
	"github.com/gwanje/gwanje/events"
	"github.com/gwanje/gwanje/privacy/requests"
	"github.com/gwanje/gwanje/stream/record"
)

func intake(kind requests.Kind, from, to time.Time) requests.Intake {
	return requests.Intake{RequesterName: "홍길동", RequesterContact: "010-9876-5432", IdentityMethod: "신분증 대조 (주민등록증)",
		Kind: kind, Cameras: []string{camA}, Place: "OO사거리", From: from, To: to, Description: "검은 점퍼, 자전거"}
}

func TestSubjectRequestDecisions(t *testing.T) {
	e := newEnv(t, envOpts{})
	from := time.Now().Add(-2 * time.Hour)
	to := from.Add(10 * time.Minute)
	mgr := e.users["manager1"]

	// Only request handlers open requests; an agent needs a power of attorney.
	if _, err := e.svc.OpenRequest(e.ctx, e.users["operator1"], intake(requests.KindView, from, to)); !errors.Is(err, requests.ErrPermissionDenied) {
		t.Fatalf("operator opened a request: %v", err)
	}
	in := intake(requests.KindView, from, to)
	in.AgentRelation = "배우자"
	if _, err := e.svc.OpenRequest(e.ctx, mgr, in); !errors.Is(err, requests.ErrInvalid) {
		t.Fatalf("agent without power of attorney: %v", err)
	}
	in.PowerOfAttorney = "위임장 (인감증명서 첨부)"
	r, err := e.svc.OpenRequest(e.ctx, mgr, in)
	if err != nil {
		t.Fatal(err)
	}
	if r.HoldID == "" || r.Deadline.Sub(r.ReceivedAt) != 10*24*time.Hour || r.IdentityVerifiedBy != "manager1" {
		t.Fatalf("request %+v", r)
	}
	if holds, _ := e.store.ListHolds(e.ctx, camA, true); len(holds) != 1 || holds[0].CaseRef != r.ID {
		t.Fatalf("holds %+v", holds)
	}

	// Refusals: only the lawful reasons, with how to object.
	for _, tc := range []struct {
		reason requests.RefusalReason
		text   string
	}{
		{"others_in_frame", ""}, {"police_presence", ""}, {"busy", ""}, {requests.RefuseOther, ""},
	} {
		t.Run(string(tc.reason), func(t *testing.T) {
			_, err := e.svc.DecideRequest(e.ctx, mgr, r.ID, requests.Decision{Kind: requests.DecisionRefuse,
				RefusalReason: tc.reason, ReasonText: tc.text, Objection: "행정심판 청구 가능"})
			var re *requests.RefusalError
			if !errors.Is(err, requests.ErrInvalidRefusal) || !errors.Is(err, requests.ErrInvalid) || !errors.As(err, &re) {
				t.Fatalf("refusal %q accepted or wrong error: %v", tc.reason, err)
			}
		})
	}
	if _, err := e.svc.DecideRequest(e.ctx, mgr, r.ID, requests.Decision{Kind: requests.DecisionRefuse,
		RefusalReason: requests.RefuseInvestigation}); !errors.Is(err, requests.ErrInvalid) {
		t.Fatalf("refusal without objection: %v", err)
	}
	// "Already destroyed" is checked: there is no destruction entry.
	if _, err := e.svc.DecideRequest(e.ctx, mgr, r.ID, requests.Decision{Kind: requests.DecisionDestroyed,
		Objection: "행정심판"}); !errors.Is(err, requests.ErrNotDestroyed) {
		t.Fatalf("destroyed without proof: %v", err)
	}
	// Postponement moves the deadline; a viewing notice decides.
	r, err = e.svc.DecideRequest(e.ctx, mgr, r.ID, requests.Decision{Kind: requests.DecisionPostpone,
		PostponedUntil: time.Now().Add(5 * 24 * time.Hour), ReasonText: "다른 사람의 모자이크 처리에 시간이 걸림"})
	if err != nil || r.Status != "postponed" || r.DecidedAt != nil {
		t.Fatalf("postpone: %v %+v", err, r)
	}
	r, err = e.svc.DecideRequest(e.ctx, mgr, r.ID, requests.Decision{Kind: requests.DecisionViewNotice,
		ViewingAt: time.Now().Add(6 * 24 * time.Hour), ViewingPlace: "OO구청 통합관제센터 열람실", Witness: "manager2"})
	if err != nil || r.Status != "decided" {
		t.Fatalf("view notice: %v %+v", err, r)
	}
	if _, err := e.svc.DecideRequest(e.ctx, mgr, r.ID, requests.Decision{Kind: requests.DecisionViewNotice,
		ViewingAt: time.Now(), ViewingPlace: "x"}); !errors.Is(err, requests.ErrConflict) {
		t.Fatalf("second decision: %v", err)
	}
	if err := e.svc.RecordViewing(e.ctx, mgr, r.ID, "manager2", "열람 완료"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.CloseRequest(e.ctx, mgr, r.ID, "열람 완료"); err != nil {
		t.Fatal(err)
	}
	if holds, _ := e.store.ListHolds(e.ctx, camA, true); len(holds) != 0 {
		t.Fatalf("hold kept after close: %+v", holds)
	}
	// Every step is a 열람 row naming the requester.
	n := 0
	for _, row := range e.ledger(time.Now().Add(-time.Hour), time.Now().Add(time.Hour)) {
		if row.EntryType == requests.EntryRequest {
			n++
			if row.Kind != audit.LedgerView || row.Party == "" {
				t.Errorf("row %+v", row)
			}
		}
	}
	if n != 5 { // intake, postpone, notice, viewed, close
		t.Fatalf("%d request.view rows", n)
	}
	if d := e.entries(requests.EntryRequest, audit.Denied); len(d) < 4 {
		t.Fatalf("denials audited: %d", len(d))
	}
}

func TestDeletionAndDestroyed(t *testing.T) {
	e := newEnv(t, envOpts{})
	segs := e.recordCamsim(camA, 4)
	mgr := e.users["manager1"]
	// The range covers segments 1 and 2 entirely and cuts into 0 and 3.
	from, to := segs[0].Start.Add(segs[0].Duration()/2), segs[3].Start.Add(segs[3].Duration()/2)
	// An investigation hold on segment 2 keeps it.
	if _, err := e.store.CreateHold(e.ctx, record.HoldRequest{Cameras: []string{camA}, From: segs[2].Start,
		To: segs[2].End, CaseRef: "수사-1", Reason: "수사", By: "police1"}); err != nil {
		t.Fatal(err)
	}
	r, err := e.svc.OpenRequest(e.ctx, mgr, intake(requests.KindDelete, from, to))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := e.svc.GrantDeletion(e.ctx, mgr, r.ID, "manager2")
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Deleted) != 1 || rep.Deleted[0].ID != segs[1].ID || len(rep.Partial) != 2 || len(rep.Held) != 1 {
		t.Fatalf("deletion %+v", rep)
	}
	if _, err := os.Stat(filepath.Join(e.store.Dir(), segs[1].Path)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("segment file kept: %v", err)
	}
	l, _ := e.store.ListRecordings(e.ctx, camA, segs[0].Start, segs[3].End)
	if len(l.Segments) != 3 {
		t.Fatalf("%d segments left", len(l.Segments))
	}
	d := e.entries(requests.EntryDestroy, audit.Success)
	if len(d) != 1 || d[0].Entry.RequestID != r.ID || d[0].Entry.Details["witness"] != "manager2" {
		t.Fatalf("destroy entries %+v", d)
	}
	found := false
	for _, row := range e.ledger(time.Now().Add(-time.Hour), time.Now().Add(time.Hour)) {
		found = found || (row.EntryType == requests.EntryDestroy && row.Kind == audit.LedgerDestroy)
	}
	if !found {
		t.Fatal("no 파기 row")
	}
	// A later request for the deleted footage: "already destroyed" is verified.
	in := intake(requests.KindView, segs[1].Start, segs[1].End)
	r2, err := e.svc.OpenRequest(e.ctx, mgr, in)
	if err != nil {
		t.Fatal(err)
	}
	r2, err = e.svc.DecideRequest(e.ctx, mgr, r2.ID, requests.Decision{Kind: requests.DecisionDestroyed, Objection: "행정심판 청구 가능"})
	if err != nil || r2.RefusalReason != requests.RefuseDestroyed {
		t.Fatalf("destroyed: %v %+v", err, r2)
	}
	// Footage that still exists cannot be claimed destroyed.
	r3, err := e.svc.OpenRequest(e.ctx, mgr, intake(requests.KindConfirm, segs[0].Start, segs[0].End))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.DecideRequest(e.ctx, mgr, r3.ID, requests.Decision{Kind: requests.DecisionDestroyed, Objection: "x"}); !errors.Is(err, requests.ErrNotDestroyed) {
		t.Fatalf("existing footage claimed destroyed: %v", err)
	}
	r3, err = e.svc.DecideRequest(e.ctx, mgr, r3.ID, requests.Decision{Kind: requests.DecisionConfirmed})
	if err != nil || r3.Result["exists"] != true {
		t.Fatalf("confirm: %v %+v", err, r3)
	}
}

func TestOverdueAlarm(t *testing.T) {
	bus, err := events.New(t.Context(), events.Config{DataDir: t.TempDir(), ListenAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bus.Close)
	var mu sync.Mutex
	got := map[string][]requests.Alarm{}
	for _, subj := range []string{requests.SubjectOverdue, requests.SubjectReminder} {
		unsub, err := bus.Notices().Subscribe(subj, func(b []byte) {
			var a requests.Alarm
			_ = json.Unmarshal(b, &a)
			mu.Lock()
			got[a.Kind] = append(got[a.Kind], a)
			mu.Unlock()
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = unsub() })
	}
	if err := bus.Conn.Flush(); err != nil {
		t.Fatal(err)
	}
	clk := &realClock{}
	e := newEnv(t, envOpts{publisher: bus.Notices(), now: clk.Now, interval: 10 * time.Millisecond})
	from := time.Now().Add(-time.Hour)
	r, err := e.svc.OpenRequest(e.ctx, e.users["manager1"], intake(requests.KindView, from, from.Add(time.Minute)))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- e.svc.Run(t.Context()) }()
	count := func(kind string) int {
		mu.Lock()
		defer mu.Unlock()
		return len(got[kind])
	}
	wait := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	clk.Advance(8*24*time.Hour + time.Minute) // 2 days before the deadline
	wait("reminder", func() bool { return count("reminder") == 1 })
	clk.Advance(2 * 24 * time.Hour) // past the deadline
	wait("overdue alarm", func() bool { return count("overdue") == 1 })
	mu.Lock()
	a := got["overdue"][0]
	mu.Unlock()
	if a.RequestID != r.ID || !a.Deadline.Equal(r.Deadline) {
		t.Fatalf("alarm %+v", a)
	}
	// Sent once: further ticks send nothing more.
	if _, err := e.svc.Tick(e.ctx); err != nil {
		t.Fatal(err)
	}
	e.svc.Close()
	e.svc.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if count("overdue") != 1 || count("reminder") != 1 {
		t.Fatalf("alarms %v", got)
	}
	rep, err := e.svc.Monthly(e.ctx, e.users["manager1"], time.Now())
	if err != nil || len(rep.OpenPastDue) != 1 {
		t.Fatalf("monthly %v %+v", err, rep)
	}
}
