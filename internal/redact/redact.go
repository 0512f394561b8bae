// Package redact removes camera credentials from URLs and from text that
// contains URLs, for every error message, log line and API field that shows a
// device, stream or snapshot URI. Cameras put credentials in the user info
// (rtsp://admin:secret@host/), in the query (?user=admin&password=secret) and
// in the path (/user=admin_password=secret_channel=1_stream=0.sdp); all three
// are hidden.
package redact

import (
	"regexp"
	"strings"
)

// Mask replaces a hidden value.
const Mask = "xxxxx"

// credKey matches a key=value pair whose key names a credential, at the
// start of a path segment, query parameter or underscore-joined field.
var credKey = regexp.MustCompile(`(?i)(^|[/_&?;.,\s])(user(?:name)?|usr|uid|login|pass(?:word|wd)?|pwd|psw|auth|token|secret|key|apikey|sig(?:nature)?)=`)

// nextField ends a value: another key=value joined with an underscore.
var nextField = regexp.MustCompile(`_[A-Za-z][A-Za-z0-9]*=`)

// URL returns u without its user info and with the values of credential
// keys in the path and query masked. A string that is not a URL is masked
// the same way, as far as its shape allows.
func URL(u string) string {
	rest := u
	prefix := ""
	if i := strings.Index(u, "://"); i > 0 && isScheme(u[:i]) {
		prefix, rest = u[:i+3], u[i+3:]
		end := strings.IndexAny(rest, "/?#")
		if end < 0 {
			end = len(rest)
		}
		if at := strings.LastIndexByte(rest[:end], '@'); at >= 0 {
			rest = rest[at+1:]
		}
	}
	return prefix + maskPairs(rest)
}

// maskPairs masks the value of every credential key=value in s.
func maskPairs(s string) string {
	var b strings.Builder
	for {
		loc := credKey.FindStringIndex(s)
		if loc == nil {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:loc[1]])
		v := s[loc[1]:]
		end := strings.IndexAny(v, "&/?#; \t\n")
		if end < 0 {
			end = len(v)
		}
		if m := nextField.FindStringIndex(v[:end]); m != nil {
			end = m[0]
		}
		if end > 0 {
			b.WriteString(Mask)
		}
		s = v[end:]
	}
}

func isScheme(s string) bool {
	for i, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return s != ""
}

// urlInText finds URLs in free text (an error message): a scheme, "://",
// and everything up to white space or a quote.
var urlInText = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://[^\s"'<>` + "`" + `]*`)

// Text returns s with every URL in it passed through URL, and every given
// secret (a camera's password, in plain and query-escaped form) masked.
func Text(s string, secrets ...string) string {
	s = urlInText.ReplaceAllStringFunc(s, URL)
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, Mask)
		}
	}
	return s
}

// Contains reports whether URL would change u: it carries credentials.
func Contains(u string) bool { return URL(u) != u }
