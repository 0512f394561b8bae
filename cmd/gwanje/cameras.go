package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	pb "github.com/gwanje/gwanje/proto/gwanje/v1"
)

func init() {
	register(command{name: "sites", summary: "sites list|create|update: places where cameras stand (개소)", run: runSites})
	register(command{name: "cameras", summary: "cameras list|show|discover|register|create|update|bulk-update|decommission|import|export", run: runCameras})
	register(command{name: "report", summary: "report installation: the 설치 현황 as XLSX or CSV", run: runReport})
}

func (c *cli) devices(ctx context.Context) (context.Context, context.CancelFunc, pb.DeviceServiceClient, error) {
	return connect(ctx, c, pb.NewDeviceServiceClient)
}

// cameraFlags binds the registry fields a technician sets.
func cameraFlags(fs *flag.FlagSet, f *pb.CameraFields) (labels, persons *string, legal, res, retention *int) {
	fs.StringVar(&f.SiteId, "site", "", "site id (gwanje sites list)")
	fs.StringVar(&f.Name, "name", "", "camera name")
	fs.StringVar(&f.ManagementNo, "management-no", "", "관리번호")
	fs.StringVar(&f.Purpose, "purpose", "", "local purpose: 방범, 어린이보호, 산불감시, 주정차단속, …")
	legal = fs.Int("legal-basis", 0, "legal basis 1–5 (default: the purpose's)")
	fs.StringVar(&f.Coverage, "coverage", "", `촬영범위, e.g. "반경 100M 이내"`)
	res = fs.Int("resolution", 0, "카메라화소수 in 10,000 pixels (200 = 2 MP)")
	fs.StringVar(&f.Direction, "direction", "", "촬영방면")
	fs.StringVar(&f.InstallYm, "installed", "", "설치연월 YYYYMM")
	fs.StringVar(&f.Schedule, "schedule", "", `촬영시간: "24시간", "평일 07:00~09:00, 17:00~20:00", "11/01~05/15"`)
	retention = fs.Int("retention-days", 0, "보관일수 (default 30; more needs --retention-reason)")
	fs.BoolVar(&f.NotStored, "not-stored", false, "footage is not stored (미보유)")
	fs.StringVar(&f.RetentionReason, "retention-reason", "", "why more than 30 days")
	fs.StringVar(&f.StoragePlace, "storage-place", "", "보관장소")
	fs.StringVar(&f.MonitoringMethod, "monitoring", "", "관제방법, e.g. 상시 모니터링")
	fs.StringVar(&f.MonitoringPlace, "monitoring-place", "", "관제장소, e.g. 통합관제센터 관제실")
	fs.StringVar(&f.Department, "department", "", "담당부서 (default: the site's)")
	fs.StringVar(&f.Manager, "manager", "", "관리책임자")
	fs.StringVar(&f.ManagerPhone, "manager-phone", "", "관리책임자 연락처")
	persons = fs.String("access-persons", "", "접근권한자, comma-separated")
	fs.StringVar(&f.Signage, "signage", "", "sign, homepage or exempt")
	labels = fs.String("labels", "", "labels, comma-separated (e.g. sensitive)")
	return
}

// cameraFlagPaths maps the flags of cameraFlags (and --lifecycle) to the
// CameraFields they set, for update masks: only the flags given change.
var cameraFlagPaths = map[string]string{"site": "site_id", "name": "name", "management-no": "management_no", "purpose": "purpose",
	"legal-basis": "legal_basis", "coverage": "coverage", "resolution": "resolution", "direction": "direction",
	"installed": "install_ym", "schedule": "schedule", "retention-days": "retention_days", "not-stored": "not_stored",
	"retention-reason": "retention_reason", "storage-place": "storage_place", "monitoring": "monitoring_method",
	"monitoring-place": "monitoring_place", "department": "department", "manager": "manager",
	"manager-phone": "manager_phone", "access-persons": "access_persons", "signage": "signage", "labels": "labels",
	"lifecycle": "lifecycle"}

// maskOf names the fields of the flags given on the command line.
func maskOf(fs *flag.FlagSet, paths map[string]string) *fieldmaskpb.FieldMask {
	m := &fieldmaskpb.FieldMask{}
	fs.Visit(func(f *flag.Flag) {
		if n, ok := paths[f.Name]; ok && !slices.Contains(m.Paths, n) {
			m.Paths = append(m.Paths, n)
		}
	})
	return m
}

// siteFlags are the site fields as flags, for create and update.
func siteFlags(fs *flag.FlagSet, f *pb.SiteFields) {
	fs.StringVar(&f.Name, "name", "", "name")
	fs.StringVar(&f.ManagementNo, "management-no", "", "관리번호")
	fs.StringVar(&f.Department, "department", "", "담당부서")
	fs.StringVar(&f.Org, "org", "", "관리기관")
	fs.StringVar(&f.OrgPhone, "org-phone", "", "관리기관전화번호")
	fs.StringVar(&f.RoadAddress, "address", "", "소재지도로명주소")
	fs.StringVar(&f.LotAddress, "lot-address", "", "소재지지번주소")
	fs.StringVar(&f.Contractor.Id, "contractor", "", "contractor organization id, when outsourced")
	fs.StringVar(&f.Contractor.Name, "contractor-name", "", "contractor name (수탁업체)")
	fs.StringVar(&f.Contractor.Contact, "contractor-contact", "", "contractor's contact person (담당자)")
	fs.StringVar(&f.Contractor.Phone, "contractor-phone", "", "contractor's phone (연락처)")
}

// siteFlagPaths maps siteFlags to SiteFields; the contractor is changed
// whole (sites update fills the parts not given from the site).
var siteFlagPaths = map[string]string{"name": "name", "management-no": "management_no", "department": "department",
	"org": "org", "org-phone": "org_phone", "address": "road_address", "lot-address": "lot_address",
	"contractor": "contractor", "contractor-name": "contractor", "contractor-contact": "contractor", "contractor-phone": "contractor"}

func runSites(ctx context.Context, c *cli, args []string) error {
	return sub(ctx, c, "sites", args, map[string]func(context.Context, *cli, []string) error{
		"list": func(ctx context.Context, c *cli, args []string) error {
			if err := newFlags("sites list", c).Parse(args); err != nil {
				return err
			}
			ctx, cancel, cl, err := c.devices(ctx)
			if err != nil {
				return err
			}
			defer cancel()
			lr := &pb.ListSitesRequest{}
			r, err := allPages(func(token string) (*pb.ListSitesResponse, error) {
				lr.PageToken = token
				return cl.ListSites(ctx, lr)
			})
			if err != nil {
				return err
			}
			return c.print(r, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "ID\tNAME\tDEPARTMENT\tADDRESS\tCONTRACTOR")
				for _, s := range r.GetSites() {
					f := s.GetFields()
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", s.GetId(), f.GetName(), f.GetDepartment(), f.GetRoadAddress(), f.GetContractor().GetName())
				}
			})
		},
		"create": func(ctx context.Context, c *cli, args []string) error {
			fs := newFlags("sites create", c)
			f := &pb.SiteFields{Contractor: &pb.Contractor{}}
			siteFlags(fs, f)
			reason := fs.String("reason", "", "why (required)")
			if err := fs.Parse(args); err != nil {
				return err
			}
			if err := required(fs, "name", "reason"); err != nil {
				return err
			}
			ctx, cancel, cl, err := c.devices(ctx)
			if err != nil {
				return err
			}
			defer cancel()
			s, err := cl.CreateSite(ctx, &pb.CreateSiteRequest{Fields: f, Reason: *reason})
			if err != nil {
				return err
			}
			return c.print(s, func(w *tabwriter.Writer) { fmt.Fprintf(w, "created\t%s (%s)\n", s.GetFields().GetName(), s.GetId()) })
		},
		"update": func(ctx context.Context, c *cli, args []string) error {
			fs := newFlags("sites update", c)
			id := fs.String("id", "", "site id (required)")
			f := &pb.SiteFields{Contractor: &pb.Contractor{}}
			siteFlags(fs, f)
			reason := fs.String("reason", "", "why (required)")
			if err := fs.Parse(args); err != nil {
				return err
			}
			if err := required(fs, "id", "reason"); err != nil {
				return err
			}
			mask := maskOf(fs, siteFlagPaths)
			if len(mask.Paths) == 0 {
				return errors.New("nothing to change: give the fields to change as flags (--name, --address, --contractor-name, …)")
			}
			ctx, cancel, cl, err := c.devices(ctx)
			if err != nil {
				return err
			}
			defer cancel()
			if slices.Contains(mask.Paths, "contractor") {
				// The contractor is changed whole: keep the parts not given.
				sites, err := allPages(func(token string) (*pb.ListSitesResponse, error) {
					return cl.ListSites(ctx, &pb.ListSitesRequest{PageSize: 1000, PageToken: token})
				})
				if err != nil {
					return err
				}
				given := map[string]bool{}
				fs.Visit(func(fl *flag.Flag) { given[fl.Name] = true })
				for _, s := range sites.GetSites() {
					if s.GetId() != *id {
						continue
					}
					cur := s.GetFields().GetContractor()
					for flagName, dst := range map[string]*string{"contractor": &f.Contractor.Id, "contractor-name": &f.Contractor.Name,
						"contractor-contact": &f.Contractor.Contact, "contractor-phone": &f.Contractor.Phone} {
						if !given[flagName] {
							switch flagName {
							case "contractor":
								*dst = cur.GetId()
							case "contractor-name":
								*dst = cur.GetName()
							case "contractor-contact":
								*dst = cur.GetContact()
							case "contractor-phone":
								*dst = cur.GetPhone()
							}
						}
					}
				}
			}
			s, err := cl.UpdateSite(ctx, &pb.UpdateSiteRequest{SiteId: *id, Fields: f, UpdateMask: mask, Reason: *reason})
			if err != nil {
				return err
			}
			return c.print(s, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "updated\t%s (%s): %s\n", s.GetFields().GetName(), s.GetId(), strings.Join(mask.Paths, ", "))
			})
		},
	})
}

func runCameras(ctx context.Context, c *cli, args []string) error {
	return sub(ctx, c, "cameras", args, map[string]func(context.Context, *cli, []string) error{
		"list": func(ctx context.Context, c *cli, args []string) error {
			fs := newFlags("cameras list", c)
			r := &pb.ListCamerasRequest{}
			fs.StringVar(&r.SiteId, "site", "", "site id")
			fs.StringVar(&r.Purpose, "purpose", "", "local purpose")
			fs.StringVar(&r.Department, "department", "", "department")
			enumVar(fs, &r.Lifecycle, "lifecycle", "", "planned, active, maintenance or decommissioned")
			enumListVar(fs, &r.States, "state", "current health states, comma-separated: "+strings.Join(pb.Codes[pb.CameraState](), ", ")+" (unprobed: none yet)")
			fs.StringVar(&r.Label, "label", "", "label")
			fs.StringVar(&r.Text, "text", "", "text in name, address, model…")
			limit := fs.Int("limit", 0, "show one page of this many cameras (at most 1000) instead of all")
			fs.StringVar(&r.PageToken, "page", "", "show the page of this token from a previous list (with --limit)")
			if err := fs.Parse(args); err != nil {
				return err
			}
			r.PageSize = int32(*limit)
			ctx, cancel, cl, err := c.devices(ctx)
			if err != nil {
				return err
			}
			defer cancel()
			var res *pb.ListCamerasResponse
			if *limit > 0 || r.PageToken != "" {
				res, err = cl.ListCameras(ctx, r)
			} else {
				r.PageSize = 1000
				res, err = allPages(func(token string) (*pb.ListCamerasResponse, error) {
					r.PageToken = token
					return cl.ListCameras(ctx, r)
				})
			}
			if err != nil {
				return err
			}
			return c.print(res, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "ID\tNAME\tSITE\tPURPOSE\tRETENTION\tSCHEDULE\tMODEL\tSTATE")
				for _, cam := range res.GetCameras() {
					f := cam.GetFields()
					ret := fmt.Sprintf("%dd", f.GetRetentionDays())
					if f.GetNotStored() {
						ret = "미보유"
					}
					fmt.Fprintf(w, "%s\t%s\t%s\t%s (%s)\t%s\t%s\t%s %s\t%s\n", cam.GetId(), f.GetName(), f.GetSiteId(), f.GetPurpose(), cam.GetNationalPurpose(),
						ret, f.GetSchedule(), cam.GetDevice().GetManufacturer(), cam.GetDevice().GetModel(), pb.Code(f.GetLifecycle()))
				}
				if res.GetNextPageToken() != "" {
					fmt.Fprintf(w, "\nmore: gwanje cameras list … --page %s\n", res.GetNextPageToken())
				}
			})
		},
		"show": func(ctx context.Context, c *cli, args []string) error {
			fs := newFlags("cameras show", c)
			id := fs.String("id", "", "camera id (required)")
			if err := fs.Parse(args); err != nil {
				return err
			}
			if err := required(fs, "id"); err != nil {
				return err
			}
			ctx, cancel, cl, err := c.devices(ctx)
			if err != nil {
				return err
			}
			defer cancel()
			cam, err := cl.GetCamera(ctx, &pb.GetCameraRequest{CameraId: *id})
			if err != nil {
				return err
			}
			return c.print(cam, func(w *tabwriter.Writer) {
				f, d := cam.GetFields(), cam.GetDevice()
				for _, kv := range [][2]string{
					{"id", cam.GetId()}, {"name", f.GetName()}, {"site", f.GetSiteId()},
					{"purpose", f.GetPurpose() + " → " + cam.GetNationalPurpose()}, {"address", f.GetRoadAddress()},
					{"coverage", f.GetCoverage()}, {"schedule", f.GetSchedule()}, {"retention", fmt.Sprintf("%d days %s", f.GetRetentionDays(), f.GetRetentionReason())},
					{"department", f.GetDepartment()}, {"manager", f.GetManager() + " " + f.GetManagerPhone()},
					{"signage", f.GetSignage()}, {"labels", strings.Join(f.GetLabels(), ",")}, {"lifecycle", pb.Code(f.GetLifecycle())},
					{"device", d.GetManufacturer() + " " + d.GetModel() + " fw " + d.GetFirmware() + " sn " + d.GetSerial()},
					{"device url", d.GetDeviceUrl()}, {"ptz", fmt.Sprint(d.GetPtz())},
					{"clock offset at registration", clockText(d.GetClockOffset())},
				} {
					fmt.Fprintf(w, "%s\t%s\n", kv[0], kv[1])
				}
				for _, p := range cam.GetPendingReasons() {
					fmt.Fprintf(w, "pending\t%s\n", p)
				}
				for _, p := range d.GetProfiles() {
					fmt.Fprintf(w, "profile %s\t%s %dx%d %.0f fps\n", p.GetToken(), p.GetEncoding(), p.GetWidth(), p.GetHeight(), p.GetFrameRate())
				}
			})
		},
		"discover": func(ctx context.Context, c *cli, args []string) error {
			fs := newFlags("cameras discover", c)
			targets := fs.String("targets", "", "addresses or CIDR ranges, comma-separated (required), e.g. 10.1.2.0/24")
			port := fs.Int("port", 0, "WS-Discovery port (default 3702)")
			if err := fs.Parse(args); err != nil {
				return err
			}
			if err := required(fs, "targets"); err != nil {
				return err
			}
			conn, err := c.dial()
			if err != nil {
				return err
			}
			actx, err := c.authed(ctx)
			if err != nil {
				return err
			}
			st, err := pb.NewDeviceServiceClient(conn).Discover(actx, &pb.DiscoverRequest{Targets: list(*targets), Port: int32(*port)})
			if err != nil {
				return err
			}
			// Rows are printed as devices answer (a /24 takes seconds), so
			// the columns have fixed widths.
			row := "%-46s %-18s %-20s %-12s %s\n"
			if c.output != "json" {
				fmt.Fprintf(c.stdout, row, "DEVICE URL", "NAME", "HARDWARE", "LOCATION", "REGISTERED")
			}
			n := 0
			for {
				d, err := st.Recv()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					return err
				}
				n++
				if c.output == "json" {
					if err := c.print(d, nil); err != nil {
						return err
					}
					continue
				}
				reg := "no"
				if d.GetRegistered() {
					reg = "yes (" + d.GetCameraId() + ")"
				}
				fmt.Fprintf(c.stdout, row, d.GetDeviceUrl(), d.GetName(), d.GetHardware(), d.GetLocation(), reg)
			}
			if c.output != "json" {
				fmt.Fprintf(c.stderr, "%d devices answered\n", n)
			}
			return nil
		},
		"register": func(ctx context.Context, c *cli, args []string) error {
			fs := newFlags("cameras register", c)
			r := &pb.RegisterCameraRequest{Fields: &pb.CameraFields{}}
			fs.StringVar(&r.DeviceUrl, "url", "", "ONVIF device service URL (required), e.g. http://10.1.2.3/onvif/device_service")
			fs.StringVar(&r.Username, "username", "", "camera username (required)")
			stdin := fs.Bool("password-stdin", false, "read the camera password from standard input")
			fs.StringVar(&r.ProfileToken, "profile", "", "profile to stream (default: the best)")
			fs.StringVar(&r.Reason, "reason", "", "why (required)")
			fs.BoolVar(&r.Strict, "strict", false, "refuse the camera when its stream cannot be checked now (default: register it pending until health sees it up)")
			labels, persons, legal, res, retention := cameraFlags(fs, r.Fields)
			if err := fs.Parse(args); err != nil {
				return err
			}
			if err := required(fs, "url", "username", "site", "name", "purpose", "reason"); err != nil {
				return err
			}
			pw, err := c.readSecret("camera password: ", *stdin)
			if err != nil {
				return err
			}
			r.Password = pw
			r.Fields.Labels, r.Fields.AccessPersons = list(*labels), list(*persons)
			r.Fields.LegalBasis, r.Fields.Resolution, r.Fields.RetentionDays = int32(*legal), int32(*res), int32(*retention)
			ctx, cancel, cl, err := c.devices(ctx)
			if err != nil {
				return err
			}
			defer cancel()
			out, err := cl.RegisterCamera(ctx, r)
			if err != nil {
				return err
			}
			return c.print(out, func(w *tabwriter.Writer) {
				d := out.GetCamera().GetDevice()
				state := "registered"
				if len(out.GetPending()) > 0 {
					state = "registered pending"
				}
				fmt.Fprintf(w, "%s\t%s (%s)\n", state, out.GetCamera().GetFields().GetName(), out.GetCamera().GetId())
				fmt.Fprintf(w, "device\t%s %s, %d profiles\n", d.GetManufacturer(), d.GetModel(), len(d.GetProfiles()))
				fmt.Fprintf(w, "clock offset\t%s\n", clockText(out.GetClockOffset()))
				for _, p := range out.GetPending() {
					fmt.Fprintf(w, "pending\t%s (health completes the registration when the camera is up)\n", p)
				}
				for _, warn := range out.GetWarnings() {
					fmt.Fprintf(w, "warning\t%s\n", warn)
				}
			})
		},
		"update": func(ctx context.Context, c *cli, args []string) error {
			fs := newFlags("cameras update", c)
			r := &pb.UpdateCameraRequest{Fields: &pb.CameraFields{}, UpdateMask: &fieldmaskpb.FieldMask{}}
			fs.StringVar(&r.CameraId, "id", "", "camera id (required)")
			fs.StringVar(&r.Reason, "reason", "", "why (required)")
			labels, persons, legal, res, retention := cameraFlags(fs, r.Fields)
			enumVar(fs, &r.Fields.Lifecycle, "lifecycle", "", "planned, active or maintenance")
			if err := fs.Parse(args); err != nil {
				return err
			}
			if err := required(fs, "id", "reason"); err != nil {
				return err
			}
			r.Fields.Labels, r.Fields.AccessPersons = list(*labels), list(*persons)
			r.Fields.LegalBasis, r.Fields.Resolution, r.Fields.RetentionDays = int32(*legal), int32(*res), int32(*retention)
			// Only the flags given change.
			r.UpdateMask = maskOf(fs, cameraFlagPaths)
			if len(r.UpdateMask.Paths) == 0 {
				return errors.New("nothing to change: give the fields to change as flags")
			}
			ctx, cancel, cl, err := c.devices(ctx)
			if err != nil {
				return err
			}
			defer cancel()
			cam, err := cl.UpdateCamera(ctx, r)
			if err != nil {
				return err
			}
			return c.print(cam, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "updated\t%s: %s\n", cam.GetId(), strings.Join(r.UpdateMask.Paths, ", "))
			})
		},
		"create": func(ctx context.Context, c *cli, args []string) error {
			fs := newFlags("cameras create", c)
			r := &pb.CreateCameraRequest{Fields: &pb.CameraFields{}}
			fs.StringVar(&r.Reason, "reason", "", "why (required)")
			labels, persons, legal, res, retention := cameraFlags(fs, r.Fields)
			enumVar(fs, &r.Fields.Lifecycle, "lifecycle", "planned", "planned (no device yet), active or maintenance")
			if err := fs.Parse(args); err != nil {
				return err
			}
			if err := required(fs, "site", "name", "purpose", "reason"); err != nil {
				return err
			}
			r.Fields.Labels, r.Fields.AccessPersons = list(*labels), list(*persons)
			r.Fields.LegalBasis, r.Fields.Resolution, r.Fields.RetentionDays = int32(*legal), int32(*res), int32(*retention)
			ctx, cancel, cl, err := c.devices(ctx)
			if err != nil {
				return err
			}
			defer cancel()
			cam, err := cl.CreateCamera(ctx, r)
			if err != nil {
				return err
			}
			return c.print(cam, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "created\t%s (%s), %s without a device (register it when it is installed)\n",
					cam.GetFields().GetName(), cam.GetId(), pb.Code(cam.GetFields().GetLifecycle()))
			})
		},
		"bulk-update": func(ctx context.Context, c *cli, args []string) error {
			fs := newFlags("cameras bulk-update", c)
			r := &pb.BatchUpdateCamerasRequest{Fields: &pb.CameraFields{}, Filter: &pb.CameraFilter{}}
			ids := fs.String("ids", "", "camera ids, comma-separated")
			fs.StringVar(&r.Filter.SiteId, "where-site", "", "select the cameras of this site")
			fs.StringVar(&r.Filter.Purpose, "where-purpose", "", "select the cameras of this local purpose")
			fs.StringVar(&r.Filter.NationalPurpose, "where-national-purpose", "", "select the cameras of this 설치목적구분")
			fs.StringVar(&r.Filter.Department, "where-department", "", "select the cameras of this department")
			enumVar(fs, &r.Filter.Lifecycle, "where-lifecycle", "", "select the cameras in this lifecycle (planned, active or maintenance)")
			fs.StringVar(&r.Filter.Label, "where-label", "", "select the cameras with this label")
			fs.StringVar(&r.Filter.Text, "where-text", "", "select the cameras with this text in name, address, model…")
			fs.StringVar(&r.Reason, "reason", "", "why (required; recorded once for the batch)")
			fs.BoolVar(&r.ValidateOnly, "dry-run", false, "check every camera; change nothing")
			labels, persons, legal, res, retention := cameraFlags(fs, r.Fields)
			enumVar(fs, &r.Fields.Lifecycle, "lifecycle", "", "planned, active or maintenance")
			if err := fs.Parse(args); err != nil {
				return err
			}
			if err := required(fs, "reason"); err != nil {
				return err
			}
			r.CameraIds = list(*ids)
			r.Fields.Labels, r.Fields.AccessPersons = list(*labels), list(*persons)
			r.Fields.LegalBasis, r.Fields.Resolution, r.Fields.RetentionDays = int32(*legal), int32(*res), int32(*retention)
			r.UpdateMask = maskOf(fs, cameraFlagPaths)
			if len(r.UpdateMask.Paths) == 0 {
				return errors.New("nothing to change: give the fields to change as flags")
			}
			if len(r.CameraIds) == 0 && proto.Size(r.Filter) == 0 {
				return errors.New("no cameras selected: give --ids or --where-… flags")
			}
			ctx, cancel, cl, err := c.devices(ctx)
			if err != nil {
				return err
			}
			defer cancel()
			out, err := cl.BatchUpdateCameras(ctx, r)
			if err != nil {
				return err
			}
			return c.print(out, func(w *tabwriter.Writer) {
				state := "updated"
				if out.GetValidateOnly() {
					state = "dry run: would update"
				}
				fmt.Fprintf(w, "%s\t%d cameras: %s\n", state, len(out.GetCameraIds()), strings.Join(out.GetUpdateMaskPaths(), ", "))
				for _, id := range out.GetCameraIds() {
					fmt.Fprintf(w, "\t%s\n", id)
				}
			})
		},
		"decommission": func(ctx context.Context, c *cli, args []string) error {
			fs := newFlags("cameras decommission", c)
			id := fs.String("id", "", "camera id (required)")
			reason := fs.String("reason", "", "why (required)")
			if err := fs.Parse(args); err != nil {
				return err
			}
			if err := required(fs, "id", "reason"); err != nil {
				return err
			}
			ctx, cancel, cl, err := c.devices(ctx)
			if err != nil {
				return err
			}
			defer cancel()
			cam, err := cl.DecommissionCamera(ctx, &pb.DecommissionCameraRequest{CameraId: *id, Reason: *reason})
			if err != nil {
				return err
			}
			return c.print(cam, func(w *tabwriter.Writer) { fmt.Fprintf(w, "decommissioned\t%s (kept with its history)\n", cam.GetId()) })
		},
		"import": func(ctx context.Context, c *cli, args []string) error {
			fs := newFlags("cameras import", c)
			file := fs.String("file", "", "전국CCTV표준데이터 CSV (required)")
			enc := fs.String("encoding", "", "utf-8 or cp949 (default: detected)")
			dry := fs.Bool("dry-run", false, "validate only; import nothing")
			dept := fs.String("department", "", "담당부서 of the imported cameras")
			reason := fs.String("reason", "", "why (required)")
			if err := fs.Parse(args); err != nil {
				return err
			}
			if err := required(fs, "file", "reason"); err != nil {
				return err
			}
			data, err := os.ReadFile(*file)
			if err != nil {
				return err
			}
			ctx, cancel, cl, err := c.devices(ctx)
			if err != nil {
				return err
			}
			defer cancel()
			res, err := cl.ImportOpenData(ctx, &pb.ImportOpenDataRequest{Csv: data, Encoding: *enc, DryRun: *dry, Department: *dept, Reason: *reason})
			if err != nil {
				return err
			}
			if err := c.print(res, func(w *tabwriter.Writer) {
				for _, e := range res.GetErrors() {
					fmt.Fprintf(w, "line %d\t%s\t%s\n", e.GetLine(), e.GetColumn(), e.GetReason())
				}
				state := "imported"
				switch {
				case len(res.GetErrors()) > 0:
					state = "nothing imported: fix the lines above"
				case res.GetDryRun():
					state = "dry run: would import"
				}
				fmt.Fprintf(w, "%s\t%d rows, %d sites, %d cameras\n", state, res.GetRows(), res.GetSites(), res.GetCameras())
				fmt.Fprintf(w, "rows\t%d inserted, %d updated, %d unchanged, %d deleted, %d refused\n", res.GetInserted(),
					res.GetUpdated(), res.GetUnchanged(), res.GetDeleted(), res.GetRefused())
			}); err != nil {
				return err
			}
			if len(res.GetErrors()) > 0 {
				return fmt.Errorf("%d bad rows", len(res.GetErrors()))
			}
			return nil
		},
		"export": func(ctx context.Context, c *cli, args []string) error {
			fs := newFlags("cameras export", c)
			enc := fs.String("encoding", "cp949", "utf-8 or cp949")
			code := fs.String("local-gov-code", "", "개방자치단체코드")
			out := fs.String("out", "", "file to write (default: the server's file name)")
			if err := fs.Parse(args); err != nil {
				return err
			}
			ctx, cancel, cl, err := c.devices(ctx)
			if err != nil {
				return err
			}
			defer cancel()
			rep, err := cl.ExportOpenData(ctx, &pb.ExportOpenDataRequest{Encoding: *enc, LocalGovCode: *code})
			if err != nil {
				return err
			}
			return c.saveReport(rep, *out)
		},
	})
}

func runReport(ctx context.Context, c *cli, args []string) error {
	return sub(ctx, c, "report", args, map[string]func(context.Context, *cli, []string) error{
		"installation": func(ctx context.Context, c *cli, args []string) error {
			fs := newFlags("report installation", c)
			format := fs.String("format", "xlsx", "xlsx or csv")
			part := fs.String("part", "summary", "for csv: summary or list")
			dept := fs.String("department", "", "only this department")
			out := fs.String("out", "", "file to write (default: the server's file name)")
			if err := fs.Parse(args); err != nil {
				return err
			}
			ctx, cancel, cl, err := c.devices(ctx)
			if err != nil {
				return err
			}
			defer cancel()
			rep, err := cl.GetInstallationReport(ctx, &pb.GetInstallationReportRequest{Format: *format, Part: *part, Department: *dept})
			if err != nil {
				return err
			}
			return c.saveReport(rep, *out)
		},
	})
}

// clockText shows a clock offset, "unknown" when the camera did not tell.
func clockText(d *durationpb.Duration) string {
	if d == nil {
		return "unknown"
	}
	return d.AsDuration().String()
}
