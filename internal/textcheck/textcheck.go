// Package textcheck holds the checks every domain applies to text that people
// will read: names of users, organisations, sites and cameras, reasons,
// purposes and other displayed strings. It knows nothing about gRPC or any
// domain's errors; callers wrap its errors in their own ErrInvalid so that
// control maps them to InvalidArgument.
//
// Bidirectional formatting characters (U+202A–U+202E embeddings and overrides,
// U+2066–U+2069 isolates, U+200E/U+200F and U+061C marks) are refused: they
// let a name display as something else than it is ("Trojan Source"), e.g. an
// audit entry reading "admin" for a user whose name reverses on screen.
package textcheck

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// ErrBidiControl is wrapped by Check when the text holds a bidirectional
// formatting character.
var ErrBidiControl = errors.New("contains a bidirectional formatting character")

// ErrInvalidUTF8 is wrapped by Check when the text is not valid UTF-8.
var ErrInvalidUTF8 = errors.New("is not valid UTF-8")

// IsBidiControl reports whether r is a bidirectional formatting character:
// LRM, RLM, ALM, the embeddings and overrides LRE, RLE, PDF, LRO, RLO and the
// isolates LRI, RLI, FSI, PDI.
func IsBidiControl(r rune) bool {
	switch {
	case r == '\u200e', r == '\u200f', r == '\u061c':
		return true
	case r >= '\u202a' && r <= '\u202e':
		return true
	case r >= '\u2066' && r <= '\u2069':
		return true
	}
	return false
}

// Check returns nil when s is valid UTF-8 without bidirectional formatting
// characters, and otherwise an error wrapping ErrInvalidUTF8 or ErrBidiControl
// that names the offending code point and its byte offset (never the text).
func Check(s string) error {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size <= 1 {
				return fmt.Errorf("%w (byte %d)", ErrInvalidUTF8, i)
			}
		}
		if IsBidiControl(r) {
			return fmt.Errorf("%w U+%04X (byte %d)", ErrBidiControl, r, i)
		}
	}
	return nil
}

// Field is Check with the field's name in the message, e.g.
// "display_name contains a bidirectional formatting character U+202E (byte 3)".
func Field(name, s string) error {
	if err := Check(s); err != nil {
		return fmt.Errorf("%s %w", name, err)
	}
	return nil
}
