package control

import (
	"fmt"
	"slices"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	pb "github.com/gwanje/gwanje/proto/gwanje/v1"
)

// Updates, the same on every Update RPC (AIP-134, proto/API.md): the
// request carries a body message (the new fields) and an update_mask naming
// the body's fields to change. An empty mask means the fields set in the
// body, never "replace everything"; a field named but unset is cleared.
// A name that is not one of the fields the RPC may change is
// InvalidArgument with an ErrorInfo naming it, and nothing changes.

// updatePaths returns the body's fields that an update changes: the mask's
// paths, or with an empty mask the fields set in body. updatable lists the
// fields the RPC may change (top-level field names of body; a message field
// is changed whole).
func updatePaths(mask *fieldmaskpb.FieldMask, body proto.Message, updatable ...string) ([]string, error) {
	var paths []string
	if len(mask.GetPaths()) > 0 {
		paths = slices.Clone(mask.GetPaths())
	} else if body != nil {
		m := body.ProtoReflect()
		m.Range(func(f protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
			paths = append(paths, string(f.Name()))
			return true
		})
	}
	var out []string
	for _, p := range paths {
		if !slices.Contains(updatable, p) {
			return nil, badMask(body, p, updatable)
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out, nil
}

// badMask is the refusal of a path an update cannot change.
func badMask(body proto.Message, path string, updatable []string) error {
	what := "is not a field"
	if body != nil && body.ProtoReflect().Descriptor().Fields().ByName(protoreflect.Name(path)) != nil {
		what = "cannot be changed here"
	}
	msg := fmt.Sprintf("update_mask: %q %s: name some of %s", path, what, strings.Join(updatable, ", "))
	return statusError(codes.InvalidArgument, pb.ReasonInvalidArgument, msg,
		&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: "update_mask", Description: msg}}})
}

// applyPaths copies the fields paths name from src to dst, clearing those
// unset in src. dst and src are messages of one type.
func applyPaths(dst, src proto.Message, paths []string) {
	d, s := dst.ProtoReflect(), src.ProtoReflect()
	fields := d.Descriptor().Fields()
	for _, p := range paths {
		f := fields.ByName(protoreflect.Name(p))
		if f == nil {
			continue // updatePaths let only fields through
		}
		if s.Has(f) {
			d.Set(f, s.Get(f))
		} else {
			d.Clear(f)
		}
	}
}

// fieldNames lists the top-level field names of a message, for the
// updatable fields of an RPC whose body is changed field by field.
func fieldNames(m proto.Message) []string {
	fs := m.ProtoReflect().Descriptor().Fields()
	out := make([]string, fs.Len())
	for i := range out {
		out[i] = string(fs.Get(i).Name())
	}
	return out
}

// errNothingToChange refuses an update that names no field and sets none.
var errNothingToChange = status.Error(codes.InvalidArgument, "nothing to change: set the fields to change (and name them in update_mask)")

// bodyOr is body, or empty when the request carries none.
func bodyOr[M proto.Message](body, empty M) M {
	if body.ProtoReflect().IsValid() {
		return body
	}
	return empty
}
