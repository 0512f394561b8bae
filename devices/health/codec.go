package health

import (
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	gwanjev1 "github.com/gwanje/gwanje/proto/gwanje/v1"
)

// EventKind classifies camera events.
type EventKind string

// Event kinds (the last token of the event subject).
const (
	EventMotion    EventKind = "motion"
	EventTamper    EventKind = "tamper"
	EventVideoLoss EventKind = "video_loss"
	EventOther     EventKind = "other"
)

// Event is an event reported by a camera.
type Event struct {
	CameraID   string
	Kind       EventKind
	Time       time.Time // camera clock
	ReceivedAt time.Time
	Active     bool
	Topic      string
	Operation  string // Initialized, Changed, Deleted
	Source     map[string]string
	Data       map[string]string
	Site       string
	Department string
}

// AlarmKind says what raised an alarm.
type AlarmKind string

// Alarm kinds. The health workers' conditions:
const (
	AlarmOffline    AlarmKind = "offline"
	AlarmClockDrift AlarmKind = "clock_drift"
)

// Alarm kinds raised by a recorder node through a Reporter (source
// "recorder/<node>"). All but AlarmRecordingDiskFull are events: they clear
// when acknowledged.
const (
	AlarmRecordingQuarantined  AlarmKind = "recording_quarantined"
	AlarmRecordingMissing      AlarmKind = "recording_missing"
	AlarmRecordingWriteFailed  AlarmKind = "recording_write_failed"
	AlarmRecordingTampered     AlarmKind = "recording_tampered"
	AlarmRecordingDiskFull     AlarmKind = "recording_disk_full"
	AlarmRecordingOverRetained AlarmKind = "recording_over_retained"
)

// Alarm kinds raised by the audit store through a Reporter (source
// "audit", no camera): AlarmAuditIntegrity is a condition (a cut tail),
// AlarmAuditOversize an event (an entry published as a summary).
const (
	AlarmAuditIntegrity AlarmKind = "audit_integrity"
	AlarmAuditOversize  AlarmKind = "audit_oversize"
)

// AlarmState is where an alarm is in its life.
type AlarmState string

// Alarm states.
const (
	AlarmRaised       AlarmState = "raised"
	AlarmAcknowledged AlarmState = "acknowledged"
	AlarmCleared      AlarmState = "cleared"
)

// Alarm is a condition that needs an operator.
type Alarm struct {
	ID                 string
	CameraID           string
	Kind               AlarmKind
	Cause              string
	ConditionSince     time.Time
	RaisedAt           time.Time
	AcknowledgedAt     time.Time // zero until acknowledged
	AcknowledgedBy     string    // user id
	AcknowledgedByName string
	AcknowledgeNote    string
	ClearedAt          time.Time // zero while the condition lasts
	Site               string
	Department         string
	Version            int64
	// Source is what raised the alarm: "" for the health workers,
	// "recorder/<node>" for a recorder node. An alarm with no CameraID is
	// about the node or system Source names.
	Source string
	// Occurrences counts the alarm's events while it was open (>= 1).
	Occurrences int
}

// State derives the alarm's state.
func (a Alarm) State() AlarmState {
	switch {
	case !a.ClearedAt.IsZero():
		return AlarmCleared
	case !a.AcknowledgedAt.IsZero():
		return AlarmAcknowledged
	}
	return AlarmRaised
}

var stateToPB = map[State]gwanjev1.CameraState{
	Unknown: gwanjev1.CameraState_CAMERA_STATE_UNSPECIFIED, Online: gwanjev1.CameraState_CAMERA_STATE_ONLINE,
	Degraded: gwanjev1.CameraState_CAMERA_STATE_DEGRADED, Offline: gwanjev1.CameraState_CAMERA_STATE_OFFLINE,
	Unauthorized: gwanjev1.CameraState_CAMERA_STATE_UNAUTHORIZED, StreamFailed: gwanjev1.CameraState_CAMERA_STATE_STREAM_FAILED,
	Stalled: gwanjev1.CameraState_CAMERA_STATE_STALLED, Maintenance: gwanjev1.CameraState_CAMERA_STATE_MAINTENANCE,
}

var stateFromPB = func() map[gwanjev1.CameraState]State {
	m := map[gwanjev1.CameraState]State{}
	for k, v := range stateToPB {
		m[v] = k
	}
	return m
}()

// StateToProto and StateFromProto convert states for the API.
func StateToProto(s State) gwanjev1.CameraState { return stateToPB[s] }

// StateFromProto converts a protobuf state (unknown values map to Unknown).
func StateFromProto(s gwanjev1.CameraState) State { return stateFromPB[s] }

var eventKindToPB = map[EventKind]gwanjev1.CameraEventKind{
	EventMotion: gwanjev1.CameraEventKind_CAMERA_EVENT_KIND_MOTION, EventTamper: gwanjev1.CameraEventKind_CAMERA_EVENT_KIND_TAMPER,
	EventVideoLoss: gwanjev1.CameraEventKind_CAMERA_EVENT_KIND_VIDEO_LOSS, EventOther: gwanjev1.CameraEventKind_CAMERA_EVENT_KIND_OTHER,
}

var alarmKindToPB = map[AlarmKind]gwanjev1.AlarmKind{
	AlarmOffline: gwanjev1.AlarmKind_ALARM_KIND_OFFLINE, AlarmClockDrift: gwanjev1.AlarmKind_ALARM_KIND_CLOCK_DRIFT,
	AlarmRecordingQuarantined:  gwanjev1.AlarmKind_ALARM_KIND_RECORDING_QUARANTINED,
	AlarmRecordingMissing:      gwanjev1.AlarmKind_ALARM_KIND_RECORDING_MISSING,
	AlarmRecordingWriteFailed:  gwanjev1.AlarmKind_ALARM_KIND_RECORDING_WRITE_FAILED,
	AlarmRecordingTampered:     gwanjev1.AlarmKind_ALARM_KIND_RECORDING_TAMPERED,
	AlarmRecordingDiskFull:     gwanjev1.AlarmKind_ALARM_KIND_RECORDING_DISK_FULL,
	AlarmRecordingOverRetained: gwanjev1.AlarmKind_ALARM_KIND_RECORDING_OVER_RETAINED,
	AlarmAuditIntegrity:        gwanjev1.AlarmKind_ALARM_KIND_AUDIT_INTEGRITY,
	AlarmAuditOversize:         gwanjev1.AlarmKind_ALARM_KIND_AUDIT_OVERSIZE,
}

var alarmStateToPB = map[AlarmState]gwanjev1.AlarmState{
	AlarmRaised: gwanjev1.AlarmState_ALARM_STATE_RAISED, AlarmAcknowledged: gwanjev1.AlarmState_ALARM_STATE_ACKNOWLEDGED,
	AlarmCleared: gwanjev1.AlarmState_ALARM_STATE_CLEARED,
}

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func fromTS(t *timestamppb.Timestamp) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.AsTime()
}

// StatusToProto converts a status to its wire message.
func StatusToProto(s Status) *gwanjev1.CameraStatus {
	m := &gwanjev1.CameraStatus{
		CameraId: s.CameraID, State: stateToPB[s.State], PreviousState: stateToPB[s.Previous], Cause: s.Cause,
		Since: ts(s.Since), ObservedAt: ts(s.ObservedAt), Latency: durationpb.New(s.Latency),
		ClockOffset: durationpb.New(s.ClockOffset), ClockDriftSince: ts(s.ClockDriftSince),
		Site: s.Site, Department: s.Department, Worker: s.Worker,
	}
	for _, p := range s.Probes {
		m.Probes = append(m.Probes, &gwanjev1.ProbeResult{Probe: p.Probe, Ok: p.OK, ErrorKind: string(p.Err), Detail: p.Detail, Latency: durationpb.New(p.Latency)})
	}
	return m
}

// StatusFromProto converts a wire message to a status.
func StatusFromProto(m *gwanjev1.CameraStatus) Status {
	s := Status{
		CameraID: m.GetCameraId(), State: stateFromPB[m.GetState()], Previous: stateFromPB[m.GetPreviousState()], Cause: m.GetCause(),
		Since: fromTS(m.GetSince()), ObservedAt: fromTS(m.GetObservedAt()), Latency: m.GetLatency().AsDuration(),
		ClockOffset: m.GetClockOffset().AsDuration(), ClockDriftSince: fromTS(m.GetClockDriftSince()),
		Site: m.GetSite(), Department: m.GetDepartment(), Worker: m.GetWorker(),
	}
	for _, p := range m.GetProbes() {
		s.Probes = append(s.Probes, ProbeResult{Probe: p.GetProbe(), OK: p.GetOk(), Err: ErrKind(p.GetErrorKind()), Detail: p.GetDetail(), Latency: p.GetLatency().AsDuration()})
	}
	return s
}

// EventToProto converts an event to its wire message.
func EventToProto(e Event) *gwanjev1.CameraEvent {
	k, ok := eventKindToPB[e.Kind]
	if !ok {
		k = gwanjev1.CameraEventKind_CAMERA_EVENT_KIND_OTHER
	}
	return &gwanjev1.CameraEvent{
		CameraId: e.CameraID, Kind: k, Time: ts(e.Time), ReceivedAt: ts(e.ReceivedAt), Active: e.Active,
		Topic: e.Topic, PropertyOperation: e.Operation, Source: e.Source, Data: e.Data, Site: e.Site, Department: e.Department,
	}
}

// EventFromProto converts a wire message to an event.
func EventFromProto(m *gwanjev1.CameraEvent) Event {
	kind := EventOther
	for k, v := range eventKindToPB {
		if v == m.GetKind() {
			kind = k
		}
	}
	return Event{
		CameraID: m.GetCameraId(), Kind: kind, Time: fromTS(m.GetTime()), ReceivedAt: fromTS(m.GetReceivedAt()), Active: m.GetActive(),
		Topic: m.GetTopic(), Operation: m.GetPropertyOperation(), Source: m.GetSource(), Data: m.GetData(), Site: m.GetSite(), Department: m.GetDepartment(),
	}
}

// AlarmToProto converts an alarm to its wire message.
func AlarmToProto(a Alarm) *gwanjev1.Alarm {
	return &gwanjev1.Alarm{
		Id: a.ID, CameraId: a.CameraID, Kind: alarmKindToPB[a.Kind], State: alarmStateToPB[a.State()], Cause: a.Cause,
		ConditionSince: ts(a.ConditionSince), RaisedAt: ts(a.RaisedAt), AcknowledgedAt: ts(a.AcknowledgedAt),
		AcknowledgedBy: a.AcknowledgedBy, AcknowledgedByName: a.AcknowledgedByName, AcknowledgeNote: a.AcknowledgeNote,
		ClearedAt: ts(a.ClearedAt), Site: a.Site, Department: a.Department, Version: a.Version,
		Source: a.Source, Occurrences: int32(a.Occurrences),
	}
}

// AlarmFromProto converts a wire message to an alarm.
func AlarmFromProto(m *gwanjev1.Alarm) Alarm {
	kind := AlarmKind("")
	for k, v := range alarmKindToPB {
		if v == m.GetKind() {
			kind = k
		}
	}
	return Alarm{
		ID: m.GetId(), CameraID: m.GetCameraId(), Kind: kind, Cause: m.GetCause(), ConditionSince: fromTS(m.GetConditionSince()),
		RaisedAt: fromTS(m.GetRaisedAt()), AcknowledgedAt: fromTS(m.GetAcknowledgedAt()), AcknowledgedBy: m.GetAcknowledgedBy(),
		AcknowledgedByName: m.GetAcknowledgedByName(), AcknowledgeNote: m.GetAcknowledgeNote(), ClearedAt: fromTS(m.GetClearedAt()),
		Site: m.GetSite(), Department: m.GetDepartment(), Version: m.GetVersion(),
		Source: m.GetSource(), Occurrences: int(m.GetOccurrences()),
	}
}

func marshal(m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		// Marshalling a message built here cannot fail; a failure is a bug.
		panic(fmt.Sprintf("health: marshal %T: %v", m, err))
	}
	return b
}

// subjectParts splits gwanje.v1.camera.<id>.<kind>[.<sub>] into the camera
// id, the kind (status, event, alarm) and the sub-kind; a system alarm
// (gwanje.v1.system.<source>.alarm.<kind>) has no camera id.
func subjectParts(subject string) (cameraID, kind, sub string, ok bool) {
	const p = "gwanje.v1.camera."
	if rest, found := strings.CutPrefix(subject, "gwanje.v1.system."); found {
		parts := strings.Split(rest, ".")
		if len(parts) == 3 && parts[1] == "alarm" {
			return "", "alarm", parts[2], true
		}
		return "", "", "", false
	}
	if !strings.HasPrefix(subject, p) {
		return "", "", "", false
	}
	parts := strings.Split(subject[len(p):], ".")
	switch {
	case len(parts) == 2 && parts[1] == "status":
		return parts[0], "status", "", true
	case len(parts) == 3 && (parts[1] == "event" || parts[1] == "alarm"):
		return parts[0], parts[1], parts[2], true
	}
	return "", "", "", false
}

// validID reports whether a camera id can be a subject token.
func validID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	return !strings.ContainsAny(id, ".*> \t\r\n")
}
