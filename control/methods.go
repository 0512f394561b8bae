package control

import (
	"fmt"
	"sort"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	gwanjev1 "github.com/gwanje/gwanje/proto/gwanje/v1"
)

// access says what a method needs before its handler runs.
type access struct {
	// public methods need no login (health, server info, login itself).
	public bool
	// perm is the permission the caller must hold; empty with public false
	// means "any logged-in user" (WhoAmI, Logout, ChangePassword).
	perm string
}

// methods maps every gRPC method to what it needs. Default deny: a method
// missing here is refused, and New fails (checkMethodTable), so a test fails
// when an RPC has no entry.
var methods = map[string]access{
	healthpb.Health_Check_FullMethodName:                             {public: true},
	healthpb.Health_Watch_FullMethodName:                             {public: true},
	healthpb.Health_List_FullMethodName:                              {public: true},
	"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo":      {public: true},
	"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": {public: true},

	gwanjev1.SystemService_GetInfo_FullMethodName: {public: true},
}

// checkMethodTable fails when a registered method has no entry in methods.
func checkMethodTable(srv *grpc.Server) error {
	var missing []string
	for svc, info := range srv.GetServiceInfo() {
		for _, m := range info.Methods {
			full := "/" + svc + "/" + m.Name
			if _, ok := methods[full]; !ok {
				missing = append(missing, full)
			}
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return fmt.Errorf("control: methods without an entry in the permission table: %v", missing)
	}
	return nil
}
