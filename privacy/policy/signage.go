package policy

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"html/template"
	"slices"
	"strings"

	"github.com/gwanje/gwanje/devices"
)

// Sign is the text of one site's signage (안내판): purpose and place,
// coverage and hours, the manager's contact, and the contractor's name and
// contact when the site is outsourced.
type Sign struct {
	SiteName        string
	Address         string
	Purposes        []string
	Coverage        []string
	Hours           []string
	Managers        []string // "안전총괄과 홍길동 (061-860-0000)"
	Contractor      string
	ContractorPhone string
	Cameras         int
}

// Signage is the signage of the registry: one sign per site with cameras
// whose signage is a physical sign, and the sites whose signage is a
// homepage notice instead. Cameras with exempt signage are left out.
type Signage struct {
	Institution string
	Signs       []Sign
	Homepage    []Sign
}

// BuildSignage writes the signage from an installation report and the
// sites (for their addresses).
func BuildSignage(in Institution, rep *devices.InstallationReport, sites []devices.Site) Signage {
	in = in.withDefaults()
	siteByID := map[string]devices.Site{}
	for _, s := range sites {
		siteByID[s.ID] = s
	}
	type acc struct {
		sign                     Sign
		purposes, cov, hours, mg tally
	}
	groups := map[devices.Signage]map[string]*acc{devices.SignagePhysical: {}, devices.SignageHomepage: {}}
	for i := range rep.Cameras {
		c := &rep.Cameras[i]
		g, ok := groups[c.Signage]
		if !ok {
			continue // exempt
		}
		a := g[c.SiteID]
		if a == nil {
			st := siteByID[c.SiteID]
			addr := st.RoadAddress
			if addr == "" {
				addr = st.LotAddress
			}
			if addr == "" {
				addr = c.RoadAddress
			}
			if addr == "" {
				addr = c.LotAddress
			}
			a = &acc{sign: Sign{SiteName: c.SiteName, Address: addr}}
			g[c.SiteID] = a
		}
		if cn := strings.TrimSpace(c.Contractor.Name); cn != "" {
			a.sign.Contractor, a.sign.ContractorPhone = cn, c.Contractor.Phone
		}
		a.sign.Cameras++
		a.purposes.add(c.Purpose)
		if c.Coverage != "" {
			a.cov.add(c.Coverage)
		}
		a.hours.add(c.Schedule)
		m := strings.TrimSpace(strings.Join(strings.Fields(c.Department+" "+managerText(&c.Camera)), " "))
		if m == "" {
			m = in.Name
		}
		a.mg.add(m)
	}
	out := Signage{Institution: in.Name}
	for kind, g := range groups {
		var signs []Sign
		for _, a := range g {
			s := a.sign
			s.Purposes, s.Coverage, s.Hours, s.Managers = a.purposes.keys(), a.cov.keys(), a.hours.keys(), a.mg.keys()
			signs = append(signs, s)
		}
		slices.SortFunc(signs, func(a, b Sign) int {
			if c := strings.Compare(a.SiteName, b.SiteName); c != 0 {
				return c
			}
			return strings.Compare(a.Address, b.Address)
		})
		if kind == devices.SignagePhysical {
			out.Signs = signs
		} else {
			out.Homepage = signs
		}
	}
	return out
}

// Signage computes the signage from the registry now.
func (s *Service) Signage(ctx context.Context) (Signage, error) {
	rep, err := s.cfg.Registry.InstallationReport(ctx, s.cfg.ReportFilter)
	if err != nil {
		return Signage{}, fmt.Errorf("policy: signage: %w", err)
	}
	sites, err := s.cfg.Registry.ListSites(ctx)
	if err != nil {
		return Signage{}, fmt.Errorf("policy: signage: %w", err)
	}
	inst, err := s.institution(ctx, s.cfg.Pool)
	if err != nil {
		return Signage{}, err
	}
	return BuildSignage(inst, rep, sites), nil
}

//go:embed signage.html.tmpl
var signageTmplText string

var signageTmpl = template.Must(template.New("signage").Funcs(funcs).Funcs(template.FuncMap{
	"join": strings.Join,
}).Parse(signageTmplText))

type signageView struct {
	Signage
	Homepage bool
	Title    string
}

// RenderSignsHTML renders the printable signs, one per site.
func RenderSignsHTML(sg Signage) (string, error) {
	return renderSignage(signageView{Signage: sg, Title: sg.Institution + " 영상정보처리기기 안내판"})
}

// RenderHomepageNoticeHTML renders the page listing the sites whose signage
// is a homepage notice.
func RenderHomepageNoticeHTML(sg Signage) (string, error) {
	return renderSignage(signageView{Signage: sg, Homepage: true, Title: sg.Institution + " 영상정보처리기기 설치 안내 (홈페이지 게재)"})
}

func renderSignage(v signageView) (string, error) {
	var buf bytes.Buffer
	if err := signageTmpl.Execute(&buf, v); err != nil {
		return "", fmt.Errorf("policy: render signage: %w", err)
	}
	return buf.String(), nil
}
