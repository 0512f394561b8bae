package control

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// TestEverySessionIDCanBeStopped: a Start… RPC whose response carries a
// session_id has a Stop… RPC in its service that takes that session_id
// (StartLiveView → StopLiveView); a response without one (StartPlayback)
// has nothing to stop through the API.
func TestEverySessionIDCanBeStopped(t *testing.T) {
	starts := 0
	protoregistry.GlobalFiles.RangeFilesByPackage("gwanje.v1", func(fd protoreflect.FileDescriptor) bool {
		for i := 0; i < fd.Services().Len(); i++ {
			sd := fd.Services().Get(i)
			for j := 0; j < sd.Methods().Len(); j++ {
				m := sd.Methods().Get(j)
				name, ok := strings.CutPrefix(string(m.Name()), "Start")
				if !ok {
					continue
				}
				starts++
				if m.Output().Fields().ByName("session_id") == nil {
					continue
				}
				stop := sd.Methods().ByName(protoreflect.Name("Stop" + name))
				if stop == nil || stop.Input().Fields().ByName("session_id") == nil {
					t.Errorf("%s answers a session_id but %s has no Stop%s taking it", m.FullName(), sd.Name(), name)
				}
			}
		}
		return true
	})
	if starts < 2 {
		t.Fatalf("found %d Start RPCs; the API has StartLiveView and StartPlayback", starts)
	}
}
