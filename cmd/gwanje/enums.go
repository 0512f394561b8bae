package main

import (
	"flag"
	"strings"

	pb "github.com/gwanje/gwanje/proto/gwanje/v1"
)

// enumFlag is a flag whose value is one of an API enum's short codes
// (crime_prevention, view, success, …): the CLI reads and prints codes,
// the API carries enum values.
type enumFlag[E pb.EnumValue] struct{ p *E }

func (f enumFlag[E]) String() string {
	if f.p == nil {
		return ""
	}
	return pb.Code(*f.p)
}

func (f enumFlag[E]) Set(s string) error {
	e, err := pb.ParseCode[E](s)
	if err != nil {
		return err
	}
	*f.p = e
	return nil
}

// enumVar defines an enum flag with a default code ("" for none).
func enumVar[E pb.EnumValue](fs *flag.FlagSet, p *E, name, def, usage string) {
	if def != "" {
		*p, _ = pb.ParseCode[E](def)
	}
	fs.Var(enumFlag[E]{p}, name, usage)
}

// enumList is a flag of comma-separated short codes of one API enum
// (online,offline).
type enumList[E pb.EnumValue] struct{ p *[]E }

func (f enumList[E]) String() string {
	if f.p == nil {
		return ""
	}
	codes := make([]string, len(*f.p))
	for i, e := range *f.p {
		codes[i] = pb.Code(e)
	}
	return strings.Join(codes, ",")
}

func (f enumList[E]) Set(s string) error {
	*f.p = nil
	for _, code := range strings.Split(s, ",") {
		if code = strings.TrimSpace(code); code == "" {
			continue
		}
		e, err := pb.ParseCode[E](code)
		if err != nil {
			return err
		}
		*f.p = append(*f.p, e)
	}
	return nil
}

// enumListVar defines a flag of comma-separated enum codes.
func enumListVar[E pb.EnumValue](fs *flag.FlagSet, p *[]E, name, usage string) {
	fs.Var(enumList[E]{p}, name, usage)
}
