package audit_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"os"
)

func hmacHex(key, msg string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(msg))
	return hex.EncodeToString(m.Sum(nil))
}

func osStat(p string) (os.FileInfo, error) { return os.Stat(p) }
