package devices

import (
	"errors"
	"strings"
)

// csvScanner splits CSV records tolerantly: white space around quoted
// fields ("a" , "b") is ignored, doubled quotes inside quoted fields are
// quotes, a quote inside an unquoted field is a literal, and text after a
// closing quote is kept. Records end at \n, \r\n or \r outside quotes.
type csvScanner struct {
	data string
	pos  int
	line int // line of the next record (1-based)
}

var errUnterminated = errors.New("quoted field is never closed")

// maxFields bounds a record so that hostile input cannot grow one without end.
const maxFields = 256

func newCSVScanner(data string) *csvScanner { return &csvScanner{data: data, line: 1} }

// next returns the next record and the line it starts on; ok is false at the
// end of the input. After an unterminated quote it returns the error and ends.
func (s *csvScanner) next() (rec []string, line int, err error, ok bool) {
	if s.pos >= len(s.data) {
		return nil, s.line, nil, false
	}
	line = s.line
	var b strings.Builder
	for {
		// Skip blanks before a field.
		start := s.pos
		for s.pos < len(s.data) && (s.data[s.pos] == ' ' || s.data[s.pos] == '\t') {
			s.pos++
		}
		b.Reset()
		if s.pos < len(s.data) && s.data[s.pos] == '"' {
			s.pos++
			closed := false
			for s.pos < len(s.data) {
				c := s.data[s.pos]
				if c == '"' {
					if s.pos+1 < len(s.data) && s.data[s.pos+1] == '"' {
						b.WriteByte('"')
						s.pos += 2
						continue
					}
					s.pos++
					closed = true
					break
				}
				if c == '\n' || (c == '\r' && (s.pos+1 >= len(s.data) || s.data[s.pos+1] != '\n')) {
					s.line++
				}
				b.WriteByte(c)
				s.pos++
			}
			if !closed {
				s.pos = len(s.data)
				return nil, line, errUnterminated, true
			}
			// Keep text after the closing quote (trailing blanks are trimmed later).
			for s.pos < len(s.data) && s.data[s.pos] != ',' && s.data[s.pos] != '\n' && s.data[s.pos] != '\r' {
				b.WriteByte(s.data[s.pos])
				s.pos++
			}
		} else {
			s.pos = start
			for s.pos < len(s.data) && s.data[s.pos] != ',' && s.data[s.pos] != '\n' && s.data[s.pos] != '\r' {
				b.WriteByte(s.data[s.pos])
				s.pos++
			}
		}
		if len(rec) < maxFields {
			rec = append(rec, b.String())
		}
		if s.pos >= len(s.data) {
			return rec, line, nil, true
		}
		switch s.data[s.pos] {
		case ',':
			s.pos++
			if s.pos >= len(s.data) {
				return append(rec, ""), line, nil, true
			}
		case '\r':
			s.pos++
			if s.pos < len(s.data) && s.data[s.pos] == '\n' {
				s.pos++
			}
			s.line++
			return rec, line, nil, true
		case '\n':
			s.pos++
			s.line++
			return rec, line, nil, true
		}
	}
}
