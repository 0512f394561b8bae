package control

import pb "github.com/gwanje/gwanje/proto/gwanje/v1"

// enumOf turns a domain code (crime_prevention, success, open, …) into the
// API's enum value; a code the API does not know becomes the zero value
// (UNSPECIFIED) rather than failing a read of stored data.
func enumOf[E pb.EnumValue](code string) E {
	e, err := pb.ParseCode[E](code)
	if err != nil {
		var zero E
		return zero
	}
	return e
}
