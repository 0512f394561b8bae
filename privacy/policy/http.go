package policy

import (
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Routes are the paths Handler serves; mount it on each (the ones ending in
// "/" as subtree patterns).
var Routes = []string{"/policy", "/policy.md", "/policy/", "/signage", "/signage/"}

const csp = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors *"

// Handler serves the public, read-only pages, without login:
//
//	GET /policy           the version in force (with a notice of an announced revision; the latest announced one when none is in force yet)
//	GET /policy.md        the same as Markdown
//	GET /policy/history   the 개정 연혁: every version with its dates and revision line
//	GET /policy/v/{n}     version n as published (HTML); /policy/v/{n}.md as Markdown
//	GET /signage          the printable signs, one per site with a physical sign (exempt sites excluded)
//	GET /signage/homepage the sites whose signage is a homepage notice
//
// Pages hold only what the published documents hold: no credentials, device
// addresses or account data. Errors are logged; clients see a generic page.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /policy", s.servePolicy(false))
	mux.HandleFunc("GET /policy.md", s.servePolicy(true))
	mux.HandleFunc("GET /policy/{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/policy", http.StatusMovedPermanently)
	})
	mux.HandleFunc("GET /policy/history", s.serveHistory)
	mux.HandleFunc("GET /policy/v/{n}", s.serveVersion)
	mux.HandleFunc("GET /signage", s.serveSignage(false))
	mux.HandleFunc("GET /signage/homepage", s.serveSignage(true))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		mux.ServeHTTP(w, r)
	})
}

func (s *Service) fail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, ErrNotFound) {
		writePage(w, http.StatusNotFound, "찾을 수 없습니다", "요청한 운영·관리 방침이 없습니다.")
		return
	}
	s.log.Error("policy page failed", "path", r.URL.Path, "err", err)
	writePage(w, http.StatusInternalServerError, "일시적인 오류", "잠시 후 다시 시도해 주십시오.")
}

var msgTmpl = template.Must(template.New("msg").Funcs(funcs).Parse(`<!DOCTYPE html>
<html lang="ko"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title><style>{{css}}</style></head><body>
<nav><a href="/policy">현행 운영·관리 방침</a><a href="/policy/history">개정 연혁</a></nav>
<h1>{{.Title}}</h1>{{.Body}}</body></html>`))

func writePage(w http.ResponseWriter, code int, title string, body any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(code)
	_ = msgTmpl.Execute(w, map[string]any{"Title": title, "Body": body})
}

func writeDoc(w http.ResponseWriter, r *http.Request, body, ctype, cache, etag string) {
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Cache-Control", cache)
	if etag != "" {
		h.Set("ETag", etag)
		if match := r.Header.Get("If-None-Match"); match != "" && match == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write([]byte(body))
	}
}

func etagOf(v Version, md bool) string {
	suffix := "h"
	if md {
		suffix = "m"
	}
	return `"` + strconv.Itoa(v.Number) + "-" + hex.EncodeToString(v.ContentHash[:min(8, len(v.ContentHash))]) + suffix + `"`
}

func (s *Service) servePolicy(md bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		now := s.cfg.Now()
		latest, err := s.Latest(ctx)
		if errors.Is(err, ErrNotFound) {
			writePage(w, http.StatusNotFound, "운영·관리 방침", "아직 공고된 영상정보처리기기 운영·관리 방침이 없습니다.")
			return
		}
		if err != nil {
			s.fail(w, r, err)
			return
		}
		cur, err := s.Current(ctx, now)
		var notice template.HTML
		switch {
		case errors.Is(err, ErrNotFound):
			cur = latest
			notice = template.HTML(fmt.Sprintf(`<div class="notice">이 방침은 %s %s %s부터 시행됩니다.</div>`,
				template.HTMLEscapeString(Date(latest.AnnouncedOn)), announced(latest.AnnouncedOn, now),
				template.HTMLEscapeString(Date(latest.EffectiveOn))))
		case err != nil:
			s.fail(w, r, err)
			return
		case latest.Number > cur.Number:
			head := "개정 공고"
			if civil(now).Before(latest.AnnouncedOn) {
				head = "개정 공고 예정(" + Date(latest.AnnouncedOn) + ")"
			}
			notice = template.HTML(fmt.Sprintf(`<div class="notice">%s: 제%d판(%s)이 %s부터 시행됩니다. <a href="/policy/v/%d">개정 방침 보기</a> · <a href="/policy/v/%d#compare">전·후 비교</a></div>`,
				template.HTMLEscapeString(head), latest.Number, template.HTMLEscapeString(latest.Revision),
				template.HTMLEscapeString(Date(latest.EffectiveOn)), latest.Number, latest.Number))
		}
		if md {
			writeDoc(w, r, cur.Markdown, "text/markdown; charset=utf-8", "no-cache", "")
			return
		}
		body := strings.Replace(cur.HTML, NoticeMarker, string(notice), 1)
		writeDoc(w, r, body, "text/html; charset=utf-8", "no-cache", "")
	}
}

func (s *Service) serveVersion(w http.ResponseWriter, r *http.Request) {
	p := r.PathValue("n")
	md := strings.HasSuffix(p, ".md")
	p = strings.TrimSuffix(p, ".md")
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || strconv.Itoa(n) != p {
		s.fail(w, r, ErrNotFound)
		return
	}
	v, err := s.Version(r.Context(), n)
	if errors.Is(err, ErrNotFound) {
		s.servePrior(w, r, n, md)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	const immutable = "public, max-age=86400, immutable"
	if md {
		writeDoc(w, r, v.Markdown, "text/markdown; charset=utf-8", immutable, etagOf(v, true))
		return
	}
	writeDoc(w, r, strings.Replace(v.HTML, NoticeMarker, "", 1), "text/html; charset=utf-8", immutable, etagOf(v, false))
}

var historyTmpl = template.Must(template.New("history").Funcs(funcs).Parse(`<!DOCTYPE html>
<html lang="ko"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Name}} 영상정보처리기기 운영·관리 방침 개정 연혁</title><style>{{css}}</style></head><body>
<nav><a href="/policy">현행 운영·관리 방침</a><a href="/policy/history">개정 연혁</a></nav>
<h1>{{.Name}} 영상정보처리기기 운영·관리 방침 개정 연혁</h1>
{{- if .Versions}}
<table>
<thead><tr><th class="n">번호</th><th>년월</th><th>제·개정 내용</th><th>공고일자</th><th>시행일자</th><th>보기</th></tr></thead>
<tbody>
{{- range .Versions}}
<tr><td class="n">{{.Number}}</td><td>{{ym .AnnouncedOn}}</td><td>{{.Revision}}{{if .UrgentReason}} (긴급 시행: {{.UrgentReason}}){{end}}</td><td>{{date .AnnouncedOn}}</td><td>{{date .EffectiveOn}}</td><td><a href="/policy/v/{{.Number}}">HTML</a> · <a href="/policy/v/{{.Number}}.md">Markdown</a>{{if gt .Number 1}} · <a href="/policy/v/{{.Number}}#compare">전·후 비교</a>{{end}}</td></tr>
{{- end}}
</tbody>
</table>
{{- else}}
<p>아직 공고된 운영·관리 방침이 없습니다.</p>
{{- end}}
</body></html>`))

func (s *Service) serveHistory(w http.ResponseWriter, r *http.Request) {
	hs, err := s.History(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// newest first on the page
	for i, j := 0, len(hs)-1; i < j; i, j = i+1, j-1 {
		hs[i], hs[j] = hs[j], hs[i]
	}
	var b strings.Builder
	inst, err := s.institution(r.Context(), s.cfg.Pool)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := historyTmpl.Execute(&b, map[string]any{"Name": inst.Name, "Versions": hs}); err != nil {
		s.fail(w, r, err)
		return
	}
	writeDoc(w, r, b.String(), "text/html; charset=utf-8", "no-cache", "")
}

func (s *Service) serveSignage(homepage bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sg, err := s.Signage(r.Context())
		if err != nil {
			s.fail(w, r, err)
			return
		}
		render := RenderSignsHTML
		if homepage {
			render = RenderHomepageNoticeHTML
		}
		body, err := render(sg)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		writeDoc(w, r, body, "text/html; charset=utf-8", "no-cache", "")
	}
}

// announced says "공고되었으며" for a date on or before now's date and
// "공고될 예정이며" for a later one.
func announced(on, now time.Time) string {
	if civil(now).Before(on) {
		return "공고될 예정이며"
	}
	return "공고되었으며"
}

var priorTmpl = template.Must(template.New("prior").Funcs(funcs).Parse(`<!DOCTYPE html>
<html lang="ko"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>운영·관리 방침 제{{.Number}}판</title><style>{{css}}</style></head><body>
<nav><a href="/policy">현행 운영·관리 방침</a><a href="/policy/history">개정 연혁</a></nav>
<article><h1>운영·관리 방침 제{{.Number}}판</h1>
<table class="meta"><tr><th>공고일자</th><td>{{date .AnnouncedOn}}</td><th>시행일자</th><td>{{date .EffectiveOn}}</td></tr>
<tr><th>제·개정</th><td colspan="3">{{.Revision}}</td></tr></table>
{{if .Document}}<pre class="prior">{{.Document}}</pre>{{else}}<p>이 판의 본문은 관리 시스템 도입 전에 공고되어 보관되어 있지 않습니다.</p>{{end}}
</article></body></html>`))

// servePrior serves an imported earlier revision: its dates, its line and
// its text where it was imported.
func (s *Service) servePrior(w http.ResponseWriter, r *http.Request, n int, md bool) {
	p, err := s.Prior(r.Context(), n)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	const immutable = "public, max-age=86400"
	if md {
		body := fmt.Sprintf("# 운영·관리 방침 제%d판\n\n- 공고일자: %s\n- 시행일자: %s\n- 제·개정 내용: %s\n\n%s", p.Number,
			Date(p.AnnouncedOn), Date(p.EffectiveOn), p.Revision, p.Document)
		writeDoc(w, r, body, "text/markdown; charset=utf-8", immutable, "")
		return
	}
	var b strings.Builder
	if err := priorTmpl.Execute(&b, p); err != nil {
		s.fail(w, r, err)
		return
	}
	writeDoc(w, r, b.String(), "text/html; charset=utf-8", immutable, "")
}
