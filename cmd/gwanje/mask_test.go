package main

import (
	"flag"
	"io"
	"slices"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"

	pb "github.com/gwanje/gwanje/proto/gwanje/v1"
)

// TestFlagMasks: the flags given, and only they, name the fields an update
// changes; every flag's path is a field of the message it updates.
func TestFlagMasks(t *testing.T) {
	for _, tc := range []struct {
		name  string
		args  []string
		site  bool
		paths []string
	}{
		{"camera monitoring place and retention", []string{"--monitoring-place", "관제센터", "--retention-days", "60", "--retention-reason", "수사"}, false,
			[]string{"monitoring_place", "retention_days", "retention_reason"}},
		{"camera lifecycle", []string{"--lifecycle", "active"}, false, []string{"lifecycle"}},
		{"site rename and address", []string{"--name", "새 이름", "--address", "○○로 1"}, true, []string{"name", "road_address"}},
		{"site contractor parts are one path", []string{"--contractor-name", "한빛", "--contractor-phone", "061-000-0000"}, true, []string{"contractor"}},
		{"nothing", nil, true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			paths := cameraFlagPaths
			if tc.site {
				siteFlags(fs, &pb.SiteFields{Contractor: &pb.Contractor{}})
				paths = siteFlagPaths
			} else {
				cameraFlags(fs, &pb.CameraFields{})
				fs.String("lifecycle", "", "")
			}
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			got := maskOf(fs, paths).GetPaths()
			slices.Sort(got)
			if !slices.Equal(got, tc.paths) {
				t.Fatalf("mask %v, want %v", got, tc.paths)
			}
		})
	}
	for _, m := range []struct {
		paths map[string]string
		msg   protoreflect.Message
	}{{cameraFlagPaths, (&pb.CameraFields{}).ProtoReflect()}, {siteFlagPaths, (&pb.SiteFields{}).ProtoReflect()}} {
		for flagName, path := range m.paths {
			if m.msg.Descriptor().Fields().ByName(protoreflect.Name(path)) == nil {
				t.Errorf("--%s names %q, not a field of %s", flagName, path, m.msg.Descriptor().Name())
			}
		}
	}
}
