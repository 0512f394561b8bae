package main

import (
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gwanje/gwanje/camsim"
)

// runLoad sends authenticated ONVIF GetDeviceInformation requests (WS-Security,
// falling back to HTTP Digest via a 401 challenge is not done: Dahua cameras
// get GetSystemDateAndTime) to the cameras of a manifest and reports the rate.
func runLoad(ctx context.Context, manifest string, workers int, d time.Duration) error {
	b, err := os.ReadFile(manifest)
	if err != nil {
		return fmt.Errorf("load: %w", err)
	}
	var cams []camsim.Info
	if err := json.Unmarshal(b, &cams); err != nil {
		return fmt.Errorf("load: manifest: %w", err)
	}
	if len(cams) == 0 {
		return fmt.Errorf("load: empty manifest")
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	tr := &http.Transport{MaxIdleConnsPerHost: 2, MaxIdleConns: workers * 4, IdleConnTimeout: 30 * time.Second}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var ok, failed atomic.Int64
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				in := cams[int(next.Add(1))%len(cams)]
				body := `<tds:GetSystemDateAndTime/>`
				hdr := ""
				if in.Dialect != camsim.DialectDahua {
					body = `<tds:GetDeviceInformation/>`
					hdr = wsse(in.Username, in.Password)
				}
				env := `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:tds="http://www.onvif.org/ver10/device/wsdl">` + hdr + `<s:Body>` + body + `</s:Body></s:Envelope>`
				req, err := http.NewRequestWithContext(ctx, http.MethodPost, in.DeviceServiceURL, strings.NewReader(env))
				if err != nil {
					failed.Add(1)
					continue
				}
				req.Header.Set("Content-Type", "application/soap+xml")
				resp, err := client.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						failed.Add(1)
					}
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					ok.Add(1)
				} else {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start).Seconds()
	fmt.Printf("cameras=%d workers=%d duration=%.1fs ok=%d failed=%d rate=%.0f req/s\n",
		len(cams), workers, el, ok.Load(), failed.Load(), float64(ok.Load())/el)
	tr.CloseIdleConnections()
	return nil
}

func wsse(user, pw string) string {
	nonce := make([]byte, 16)
	_, _ = rand.Read(nonce)
	cr := time.Now().UTC().Format("2006-01-02T15:04:05Z")
	h := sha1.New()
	h.Write(nonce)
	h.Write([]byte(cr))
	h.Write([]byte(pw))
	return `<s:Header><Security xmlns="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"><UsernameToken><Username>` + user +
		`</Username><Password Type="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest">` +
		base64.StdEncoding.EncodeToString(h.Sum(nil)) + `</Password><Nonce>` + base64.StdEncoding.EncodeToString(nonce) +
		`</Nonce><Created xmlns="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd">` + cr + `</Created></UsernameToken></Security></s:Header>`
}
