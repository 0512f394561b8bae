package main

import (
	"flag"

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
