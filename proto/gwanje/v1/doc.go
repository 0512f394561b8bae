// Package gwanjev1 is the generated Go code of gwanje's gRPC API
// (proto/gwanje/v1/*.proto). Do not edit the .pb.go files: change the .proto
// files and run scripts/genproto.
package gwanjev1
