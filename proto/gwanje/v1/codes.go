package gwanjev1

import (
	"fmt"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// The API's closed sets are enums (PURPOSE_CRIME_PREVENTION, …); people,
// the CLI, the audit trail and the domain packages use their short codes
// (crime_prevention). These helpers are the one translation between the
// two: the code is the value's name without the enum's prefix, in lower case.

// EnumValue is what every generated enum type is.
type EnumValue interface {
	~int32
	Descriptor() protoreflect.EnumDescriptor
}

// prefix is the enum's value prefix, read off its zero value
// (PURPOSE_UNSPECIFIED → "PURPOSE_").
func prefix(d protoreflect.EnumDescriptor) string {
	return strings.TrimSuffix(string(d.Values().ByNumber(0).Name()), "UNSPECIFIED")
}

// Code returns the short code of an enum value ("" for the zero value or a
// number the enum does not define).
func Code[E EnumValue](e E) string {
	if e == 0 {
		return ""
	}
	d := e.Descriptor()
	v := d.Values().ByNumber(protoreflect.EnumNumber(e))
	if v == nil {
		return ""
	}
	return strings.ToLower(strings.TrimPrefix(string(v.Name()), prefix(d)))
}

// Codes lists the short codes of an enum in declaration order, without the
// zero value.
func Codes[E EnumValue]() []string {
	var zero E
	d := zero.Descriptor()
	p := prefix(d)
	out := make([]string, 0, d.Values().Len()-1)
	for i := 0; i < d.Values().Len(); i++ {
		v := d.Values().Get(i)
		if v.Number() != 0 {
			out = append(out, strings.ToLower(strings.TrimPrefix(string(v.Name()), p)))
		}
	}
	return out
}

// ParseCode returns the enum value of a short code. The empty code gives
// the zero value; an unknown code is an error that lists the known ones.
func ParseCode[E EnumValue](code string) (E, error) {
	var zero E
	if code == "" {
		return zero, nil
	}
	d := zero.Descriptor()
	v := d.Values().ByName(protoreflect.Name(prefix(d) + strings.ToUpper(code)))
	if v == nil || v.Number() == 0 || strings.ToLower(code) != code {
		return zero, fmt.Errorf("unknown %s %q: use one of %s", d.Name(), code, strings.Join(Codes[E](), ", "))
	}
	return E(v.Number()), nil
}
