package control

import (
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/gwanje/gwanje/internal/textcheck"
	gwanjev1 "github.com/gwanje/gwanje/proto/gwanje/v1"
)

// Message sizes of the API: the server reads requests of at most
// MaxRecvMsgSize and sends responses of at most MaxSendMsgSize; the CLI
// dials with the same figures (they live with the API, in gwanjev1).
const (
	MaxRecvMsgSize = gwanjev1.MaxRequestBytes
	MaxSendMsgSize = gwanjev1.MaxResponseBytes
)

// Length classes of text fields, in characters (Unicode code points), and
// of lists, in elements. Every text, bytes and list field of every request
// has a limit from fieldLimits; a request exceeding one is refused with
// InvalidArgument before its handler runs, so nothing is written or
// recorded. proto/gwanje/v1/LIMITS.md lists them for client developers (it
// is generated from this table: go test ./control -run TestLimitsDoc -update).
const (
	limitToken  = 128      // identifiers, codes, closed sets, page tokens
	limitSecret = 1024     // passwords and one-time codes
	limitName   = 200      // names, titles, addresses, contacts, labels
	limitURL    = 2048     // device URLs and endpoint references
	limitReason = 500      // reasons, stated purposes, short notes
	limitText   = 4000     // free-text descriptions, clauses, decisions
	maxCSVBytes = 12 << 20 // ImportOpenDataRequest.csv, in bytes

	listSmall = 16   // purposes, NTP servers
	listMid   = 64   // permissions, roles, labels, field masks
	listLarge = 1000 // cameras, sites, users, targets, masks
)

// fieldLimits bounds every text, bytes and list field of the API's
// requests, by field name (the same name means the same kind of value in
// every message); fieldLimitOverrides names one field in full where it
// differs. A list field's limit is its number of elements; its elements
// are bounded by elemLimits (by the same name) or, for messages, by their
// own fields.
var fieldLimits = map[string]int{
	// identifiers, closed sets, codes
	"id": limitToken, "camera_id": limitToken, "user_id": limitToken, "org_id": limitToken, "site_id": limitToken,
	"alarm_id": limitToken, "session_id": limitToken, "subject_request_id": limitToken, "camera": limitToken,
	"provision_id": limitToken, "hold_id": limitToken, "grant_id": limitToken, "contract_id": limitToken, "deny_rule_id": limitToken,
	"role_change_id": limitToken, "role_name": limitToken, "org_kind": limitToken, "status": limitToken,
	"requested_by": limitToken, "decided_by": limitToken,
	"site": limitToken, "kind": limitToken, "role": limitToken, "action": limitToken, "purpose": limitToken,
	"national_purpose": limitToken, "lifecycle": limitToken, "decision": limitToken, "outcome": limitToken,
	"format": limitToken, "part": limitToken, "encoding": limitToken, "period": limitToken, "month": limitToken,
	"profile": limitToken, "profile_token": limitToken, "preset_token": limitToken, "page_token": limitToken,
	"local_gov_code": limitToken, "install_ym": limitToken, "revision": limitToken, "form": limitToken,
	"delivery": limitToken, "refusal_reason": limitToken, "identity_method": limitToken, "created_by": limitToken,
	"username": limitToken, "letter_no": limitToken, "management_no": limitToken, "case_ref": limitToken,

	// secrets
	"password": limitSecret, "current_password": limitSecret, "new_password": limitSecret,
	"totp_code": limitToken, "code": limitToken,

	// names, addresses, contacts
	"name": limitName, "display_name": limitName, "title": limitName, "email": limitName, "phone": limitName,
	"org": limitName, "org_phone": limitName, "department": limitName, "road_address": limitName,
	"lot_address": limitName, "contact": limitName, "contact_name": limitName, "contact_phone": limitName,
	"manager": limitName, "manager_phone": limitName, "requester_name": limitName, "requester_contact": limitName,
	"agent_relation": limitName, "unit": limitName, "rank": limitName, "place": limitName, "viewing_place": limitName,
	"witness": limitName, "preset_name": limitName, "label": limitName, "text": limitName, "coverage": limitName,
	"direction": limitName, "schedule": limitName, "storage_place": limitName, "monitoring_method": limitName,
	"monitoring_place": limitName, "signage": limitName, "power_of_attorney": limitName, "basis": limitName,
	"scope": limitName, "updated_by": limitToken, "layout": limitToken, "control_center": limitName, "request_place": limitName, "review_place": limitName,

	// URLs
	"device_url": limitURL, "endpoint_reference": limitURL, "homepage": limitURL,

	// reasons and purposes
	"reason": limitReason, "purpose_text": limitReason, "urgent_reason": limitReason, "end_reason": limitReason,
	"retention_reason": limitReason, "disabled_reason": limitReason, "decide_reason": limitReason, "note": limitReason, "safeguards": limitReason, "objection": limitReason,
	"statute": limitReason,

	// free text
	"description": limitText, "reason_text": limitText, "purpose_and_scope": limitText,
	"subcontracting_restriction": limitText, "access_restriction_and_safeguards": limitText,
	"inspection": limitText, "liability": limitText,

	// bytes
	"csv": maxCSVBytes,

	// lists (number of elements)
	"cameras": listLarge, "camera_ids": listLarge, "sites": listLarge, "departments": listLarge,
	"users": listLarge, "targets": listLarge, "masks": listLarge, "access_persons": listMid,
	"labels": listMid, "roles": listMid, "permissions": listMid, "types": listMid, "paths": listMid,
	"add_permissions": listMid, "pending_changes": listMid,
	"purposes": listSmall, "ntp_servers": listSmall, "states": listSmall, "kinds": listSmall,
	"remedies": listSmall, "staff": 200, "statutes": listMid, "versions": listLarge, "tables": 200, "parts": listMid,
}

// elemLimits bounds the elements of lists of text.
var elemLimits = map[string]int{
	"cameras": limitToken, "camera_ids": limitToken, "sites": limitToken, "departments": limitName,
	"users": limitToken, "targets": limitName, "access_persons": limitName, "labels": limitName,
	"roles": limitToken, "permissions": limitToken, "types": limitToken, "paths": limitToken, "add_permissions": limitToken,
	"purposes": limitToken, "ntp_servers": limitName, "safeguards": limitReason, "remedies": limitReason,
}

// fieldLimitOverrides names fields, in full, whose limit differs from
// their name's.
var fieldLimitOverrides = map[protoreflect.FullName]int{
	// a revision line of an earlier policy is written by people, not a code
	"gwanje.v1.PriorPolicyVersion.revision": limitReason,
	// the text of an earlier policy, when the city has it
	"gwanje.v1.PriorPolicyVersion.document": maxPriorDocument,
}

// maxPriorDocument bounds the text of an earlier policy version, in
// characters (the request as a whole is bounded by MaxRecvMsgSize).
const maxPriorDocument = 200_000

// limitOf returns the limit of field f, or false when the table has none.
func limitOf(f protoreflect.FieldDescriptor) (int, bool) {
	if n, ok := fieldLimitOverrides[f.FullName()]; ok {
		return n, true
	}
	n, ok := fieldLimits[string(f.Name())]
	return n, ok
}

// bounded reports whether field f needs a limit: text, bytes and lists.
func bounded(f protoreflect.FieldDescriptor) bool {
	return f.IsList() || f.IsMap() || f.Kind() == protoreflect.StringKind || f.Kind() == protoreflect.BytesKind
}

// checkLimits refuses a request with a field beyond its limit. The error
// names the field and both sizes; it is wrapped in errInvalidRequest so that
// toStatus makes it InvalidArgument. A field without a limit is refused too
// (TestEveryRequestFieldHasALimit keeps that from happening).
func checkLimits(m proto.Message) error {
	if m == nil {
		return nil
	}
	return checkMessage(m.ProtoReflect(), "")
}

func checkMessage(m protoreflect.Message, path string) error {
	var err error
	m.Range(func(f protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		err = checkField(f, v, path+string(f.Name()))
		return err == nil
	})
	return err
}

func checkField(f protoreflect.FieldDescriptor, v protoreflect.Value, path string) error {
	if !bounded(f) {
		if f.Kind() == protoreflect.MessageKind || f.Kind() == protoreflect.GroupKind {
			return checkMessage(v.Message(), path+".")
		}
		return nil
	}
	limit, ok := limitOf(f)
	if !ok {
		return fmt.Errorf("%w: %s has no documented limit", errInvalidRequest, path)
	}
	switch {
	case f.IsMap():
		return fmt.Errorf("%w: %s: maps are not accepted", errInvalidRequest, path)
	case f.IsList():
		l := v.List()
		if l.Len() > limit {
			return fmt.Errorf("%w: %s has %d elements, at most %d are accepted", errInvalidRequest, path, l.Len(), limit)
		}
		for i := 0; i < l.Len(); i++ {
			ep := fmt.Sprintf("%s[%d]", path, i)
			switch f.Kind() {
			case protoreflect.MessageKind, protoreflect.GroupKind:
				if err := checkMessage(l.Get(i).Message(), ep+"."); err != nil {
					return err
				}
			case protoreflect.StringKind:
				el, ok := elemLimits[string(f.Name())]
				if !ok {
					return fmt.Errorf("%w: %s has no documented limit", errInvalidRequest, ep)
				}
				if err := checkText(l.Get(i).String(), el, ep, false); err != nil {
					return err
				}
			case protoreflect.BytesKind:
				return fmt.Errorf("%w: %s: lists of bytes are not accepted", errInvalidRequest, path)
			}
		}
		return nil
	case f.Kind() == protoreflect.BytesKind:
		if n := len(v.Bytes()); n > limit {
			return fmt.Errorf("%w: %s has %d bytes, at most %d are accepted", errInvalidRequest, path, n, limit)
		}
		return nil
	default:
		return checkText(v.String(), limit, path, secretFields[string(f.Name())])
	}
}

// secretFields are text that nobody reads (passwords): bounded, but any
// character is accepted.
var secretFields = map[string]bool{"password": true, "current_password": true, "new_password": true}

// checkText bounds s to limit characters without counting a string that is
// obviously short or long (a character is 1–4 bytes of UTF-8), and, unless it
// is a secret, refuses bidirectional formatting characters (textcheck).
func checkText(s string, limit int, path string, secret bool) error {
	if len(s) > limit && (len(s) > 4*limit || utf8.RuneCountInString(s) > limit) {
		return fmt.Errorf("%w: %s is too long (%d bytes), at most %d characters are accepted", errInvalidRequest, path, len(s), limit)
	}
	if secret {
		return nil
	}
	if err := textcheck.Field(path, s); err != nil {
		return fmt.Errorf("%w: %w", errInvalidRequest, err)
	}
	return nil
}

// limitRow is one line of the documented limits.
type limitRow struct {
	Field string // message.field
	Limit string
}

// documentedLimits lists the limit of every bounded field of the requests
// of services, sorted; missing lists fields that have none.
func documentedLimits(services []protoreflect.ServiceDescriptor) (rows []limitRow, missing []string) {
	seen := map[protoreflect.FullName]bool{}
	var walk func(md protoreflect.MessageDescriptor)
	walk = func(md protoreflect.MessageDescriptor) {
		if seen[md.FullName()] {
			return
		}
		seen[md.FullName()] = true
		for i := 0; i < md.Fields().Len(); i++ {
			f := md.Fields().Get(i)
			if f.Message() != nil && !f.IsMap() {
				walk(f.Message())
			}
			if !bounded(f) {
				continue
			}
			name := strings.TrimPrefix(string(f.FullName()), string(f.ParentFile().Package())+".")
			limit, ok := limitOf(f)
			if !ok || f.IsMap() {
				missing = append(missing, string(f.FullName()))
				continue
			}
			var desc string
			switch {
			case f.IsList() && f.Kind() == protoreflect.StringKind:
				el, ok := elemLimits[string(f.Name())]
				if !ok {
					missing = append(missing, string(f.FullName())+" (elements)")
					continue
				}
				desc = fmt.Sprintf("%d elements of %d characters", limit, el)
			case f.IsList():
				desc = fmt.Sprintf("%d elements", limit)
			case f.Kind() == protoreflect.BytesKind:
				desc = fmt.Sprintf("%d bytes", limit)
			default:
				desc = fmt.Sprintf("%d characters", limit)
			}
			rows = append(rows, limitRow{Field: name, Limit: desc})
		}
	}
	for _, sd := range services {
		for j := 0; j < sd.Methods().Len(); j++ {
			walk(sd.Methods().Get(j).Input())
		}
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Field < rows[j].Field })
	sort.Strings(missing)
	return rows, missing
}
