package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestFourEyesCLI walks the account and grant commands on the demo: the
// administrator creates an account (the CLI prints the one-time password),
// its owner's first login changes it, an operator grant waits until the
// manager approves it with `grants approve`, and only then does the new
// operator see cameras.
func TestFourEyesCLI(t *testing.T) {
	base := fmt.Sprintf("127.%d.%d.1", 100+rand.IntN(100), rand.IntN(250))
	addr, ca := startServer(t, "--demo", "--demo-password", "demo-4eyes-Passw0rd", "--demo-base-ip", base)
	t.Setenv("GWANJE_CONFIG_DIR", t.TempDir())
	run := func(stdin string, args ...string) (string, string, int) {
		var out, errb bytes.Buffer
		code := runCLI(context.Background(), append([]string{"--server", addr, "--ca", ca}, args...), strings.NewReader(stdin), &out, &errb)
		return out.String(), errb.String(), code
	}
	jsonOut := func(v any, args ...string) {
		t.Helper()
		out, errs, code := run("", append([]string{"--output", "json"}, args...)...)
		if code != 0 {
			t.Fatalf("%v: %s", args, errs)
		}
		if err := json.Unmarshal([]byte(out), v); err != nil {
			t.Fatalf("%v: %v: %s", args, err, out)
		}
	}
	login := func(user, stdin string) string {
		t.Helper()
		_, errs, code := run(stdin, "login", "--user", user, "--password-stdin")
		if code != 0 {
			t.Fatalf("login %s: %s", user, errs)
		}
		return errs
	}

	login("admin", "demo-4eyes-Passw0rd\n")
	var orgs struct{ Organizations []struct{ Id, Kind string } }
	jsonOut(&orgs, "orgs", "list")
	var org string
	for _, o := range orgs.Organizations {
		if o.Kind == "department" {
			org = o.Id
		}
	}
	out, errs, code := run("", "users", "create", "--username", "newop", "--name", "신규 요원", "--org", org, "--reason", "채용")
	if code != 0 || !strings.Contains(out, "one-time password") {
		t.Fatalf("users create: %d %s %s", code, out, errs)
	}
	oneTime := strings.Fields(out[strings.Index(out, "one-time password")+len("one-time password"):])[0]
	var users struct {
		Users []struct{ Id, Username string }
	}
	jsonOut(&users, "users", "list")
	var id string
	for _, u := range users.Users {
		if u.Username == "newop" {
			id = u.Id
		}
	}
	out, errs, code = run("", "grants", "create", "--user", id, "--role", "operator", "--all", "--reason", "주간 근무")
	if code != 0 || !strings.Contains(out, "waiting for approval") {
		t.Fatalf("grants create: %d %s %s", code, out, errs)
	}
	if out, errs, code := run("", "grants", "pending"); code != 0 || !strings.Contains(out, id) || !strings.Contains(out, "pending") {
		t.Fatalf("the administrator's pending list: %s %s", out, errs)
	}

	// The owner's first login: told to change the password, and changes it.
	errs = login("newop", oneTime+"\nnew-operator-Passw0rd\n")
	if !strings.Contains(errs, "one-time password") || !strings.Contains(errs, "password changed") {
		t.Fatalf("first login: %s", errs)
	}
	if _, errs, code := run("", "cameras", "list"); code == 0 || !strings.Contains(errs, "permission denied") {
		t.Fatalf("cameras with a pending grant: %d %s", code, errs)
	}

	// The manager approves.
	login("manager", "demo-4eyes-Passw0rd\n")
	var pending struct {
		Grants []struct {
			ID     string `json:"id"`
			UserID string `json:"user_id"`
			Status string `json:"status"`
		}
	}
	jsonOut(&pending, "grants", "pending")
	if len(pending.Grants) != 1 || pending.Grants[0].UserID != id || pending.Grants[0].Status != "pending" {
		t.Fatalf("pending: %+v", pending)
	}
	if out, errs, code := run("", "grants", "approve", "--id", pending.Grants[0].ID, "--reason", "근무표 확인"); code != 0 || !strings.Contains(out, "active") {
		t.Fatalf("approve: %s %s", out, errs)
	}
	login("newop", "new-operator-Passw0rd\n")
	var cams struct{ Cameras []map[string]any }
	jsonOut(&cams, "cameras", "list")
	if len(cams.Cameras) != 8 {
		t.Fatalf("approved operator sees %d cameras", len(cams.Cameras))
	}

	// The administrator resets it: a new one-time password, printed once.
	login("admin", "demo-4eyes-Passw0rd\n")
	if out, errs, code := run("", "users", "reset-password", "--id", id, "--reason", "분실"); code != 0 || !strings.Contains(out, "one-time password") {
		t.Fatalf("reset-password: %s %s", out, errs)
	}
}
