package camsim

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Accepted distance between a UsernameToken's Created and the camera clock.
const wsseWindow = 5 * time.Minute

// Nonce memory bound: beyond it the oldest window is forgotten (cameras keep few too).
const maxNonces = 4096

// checkWSSE validates a UsernameToken against the camera's own clock and
// password, rejecting replayed nonces. It returns a short reason on failure.
func (c *Camera) checkWSSE(t *usernameToken, now time.Time, password string) (bool, string) {
	if t.Username != c.cfg.Username {
		return false, "unknown user"
	}
	if t.PasswordType != "" && !strings.HasSuffix(t.PasswordType, "#PasswordDigest") {
		// PasswordText: accepted as some cameras do, still needs the right password.
		return hmac.Equal([]byte(t.Password), []byte(password)), "wrong password"
	}
	if t.Nonce == "" || t.Created == "" {
		return false, "nonce and created required"
	}
	nonce, err := base64.StdEncoding.DecodeString(t.Nonce)
	if err != nil {
		return false, "nonce is not base64"
	}
	created, err := parseXSDateTime(t.Created)
	if err != nil {
		return false, "bad created"
	}
	if d := created.Sub(now); d > wsseWindow || d < -wsseWindow {
		return false, "created outside the camera clock window"
	}
	h := sha1.New()
	h.Write(nonce)
	h.Write([]byte(t.Created))
	h.Write([]byte(password))
	want := base64.StdEncoding.EncodeToString(h.Sum(nil))
	if !hmac.Equal([]byte(want), []byte(t.Password)) {
		return false, "wrong password"
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nonces == nil {
		c.nonces = map[string]time.Time{}
	}
	if _, seen := c.nonces[t.Nonce]; seen {
		return false, "replayed nonce"
	}
	if len(c.nonces) >= maxNonces {
		for k, exp := range c.nonces {
			if now.After(exp) {
				delete(c.nonces, k)
			}
		}
		if len(c.nonces) >= maxNonces {
			clear(c.nonces) // cannot keep more: a real camera forgets too
		}
	}
	c.nonces[t.Nonce] = now.Add(2 * wsseWindow)
	return true, ""
}

func parseXSDateTime(s string) (time.Time, error) {
	for _, l := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04:05.999999999"} {
		if t, err := time.Parse(l, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("bad xs:dateTime %q", s)
}

func (c *Camera) digestRealm() string {
	switch c.d.name {
	case DialectDahua:
		return "Login to " + c.cfg.SerialNumber
	case DialectAxis:
		return "AXIS_" + strings.ToUpper(c.cfg.SerialNumber)
	default:
		return "IP Camera(" + c.cfg.SerialNumber[len(c.cfg.SerialNumber)-5:] + ")"
	}
}

// digestNonce makes a stateless nonce: time and an HMAC over it.
func (c *Camera) digestNonce(now time.Time) string {
	ts := strconv.FormatInt(now.Unix(), 16)
	m := hmac.New(sha256.New, c.secret[:])
	m.Write([]byte(ts))
	return ts + "-" + hex.EncodeToString(m.Sum(nil)[:12])
}

func (c *Camera) digestChallenge(now time.Time) string {
	return fmt.Sprintf(`Digest realm="%s", qop="auth", nonce="%s", algorithm=MD5, stale=FALSE`, c.digestRealm(), c.digestNonce(now))
}

// parseDigest parses the parameters of an Authorization: Digest header.
func parseDigest(h string) map[string]string {
	if len(h) < 7 || !strings.EqualFold(h[:7], "digest ") {
		return nil
	}
	out := map[string]string{}
	s := h[7:]
	for len(s) > 0 && len(out) < 32 {
		s = strings.TrimLeft(s, " ,")
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			break
		}
		k := strings.ToLower(strings.TrimSpace(s[:eq]))
		s = s[eq+1:]
		var v string
		if strings.HasPrefix(s, `"`) {
			end := strings.IndexByte(s[1:], '"')
			if end < 0 {
				return nil
			}
			v, s = s[1:end+1], s[end+2:]
		} else {
			end := strings.IndexByte(s, ',')
			if end < 0 {
				end = len(s)
			}
			v, s = strings.TrimSpace(s[:end]), s[end:]
		}
		out[k] = v
	}
	return out
}

func md5hex(s string) string {
	h := md5.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

// checkDigest verifies RFC 2617/7616 MD5 Digest credentials. stale reports a
// valid response computed with an expired nonce.
func (c *Camera) checkDigest(r *http.Request, now time.Time, password string) (ok, present bool) {
	p := parseDigest(r.Header.Get("Authorization"))
	if p == nil {
		return false, false
	}
	if p["username"] != c.cfg.Username || p["realm"] != c.digestRealm() {
		return false, true
	}
	nonce := p["nonce"]
	ts, mac, found := strings.Cut(nonce, "-")
	if !found {
		return false, true
	}
	m := hmac.New(sha256.New, c.secret[:])
	m.Write([]byte(ts))
	if !hmac.Equal([]byte(mac), []byte(hex.EncodeToString(m.Sum(nil)[:12]))) {
		return false, true
	}
	if sec, err := strconv.ParseInt(ts, 16, 64); err != nil || now.Sub(time.Unix(sec, 0)) > 10*time.Minute {
		return false, true
	}
	if alg := p["algorithm"]; alg != "" && !strings.EqualFold(alg, "MD5") {
		return false, true
	}
	ha1 := md5hex(c.cfg.Username + ":" + p["realm"] + ":" + password)
	ha2 := md5hex(r.Method + ":" + p["uri"])
	var want string
	if p["qop"] == "" {
		want = md5hex(ha1 + ":" + nonce + ":" + ha2)
	} else {
		want = md5hex(ha1 + ":" + nonce + ":" + p["nc"] + ":" + p["cnonce"] + ":" + p["qop"] + ":" + ha2)
	}
	return hmac.Equal([]byte(want), []byte(p["response"])), true
}
