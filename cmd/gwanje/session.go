package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"golang.org/x/term"
	"google.golang.org/grpc/metadata"

	pb "github.com/gwanje/gwanje/proto/gwanje/v1"
)

func init() {
	register(command{name: "login", summary: "log in and keep the session token (asks for the password; --password-stdin for scripts)", run: runLogin})
	register(command{name: "logout", summary: "end the session", run: runLogout})
	register(command{name: "whoami", summary: "show your account, roles and permissions", run: runWhoAmI})
	register(command{name: "passwd", summary: "change your password", run: runPasswd})
}

// sessionFile keeps the session tokens per server, mode 0600, in the
// user's config dir (GWANJE_CONFIG_DIR overrides it).
func sessionFile() (string, error) {
	dir := os.Getenv("GWANJE_CONFIG_DIR")
	if dir == "" {
		base, err := os.UserConfigDir()
		if err != nil {
			return "", fmt.Errorf("no config dir for the session token: %w (set GWANJE_CONFIG_DIR)", err)
		}
		dir = filepath.Join(base, "gwanje")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	return filepath.Join(dir, "sessions.json"), nil
}

func loadSessions() (map[string]string, string, error) {
	path, err := sessionFile()
	if err != nil {
		return nil, "", err
	}
	m := map[string]string{}
	b, err := os.ReadFile(path)
	if err == nil {
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, "", fmt.Errorf("%s is damaged (%v): delete it and log in again", path, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, "", err
	}
	return m, path, nil
}

func saveToken(server, token string) error {
	m, path, err := loadSessions()
	if err != nil {
		return err
	}
	if token == "" {
		delete(m, server)
	} else {
		m[server] = token
	}
	b, _ := json.MarshalIndent(m, "", "  ")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// authed returns ctx carrying the saved session token for c.server.
func (c *cli) authed(ctx context.Context) (context.Context, error) {
	m, _, err := loadSessions()
	if err != nil {
		return nil, err
	}
	tok := m[c.server]
	if tok == "" {
		return nil, fmt.Errorf("not logged in to %s: run 'gwanje login --user NAME'", c.server)
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok), nil
}

// access returns a deadline-bound, authenticated context and the client.
func (c *cli) access(ctx context.Context) (context.Context, context.CancelFunc, pb.AccessServiceClient, error) {
	return connect(ctx, c, pb.NewAccessServiceClient)
}

func (c *cli) readSecret(prompt string, fromStdin bool) (string, error) {
	if !fromStdin {
		if f, ok := c.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			fmt.Fprint(c.stderr, prompt)
			b, err := term.ReadPassword(int(f.Fd()))
			fmt.Fprintln(c.stderr)
			return string(b), err
		}
	}
	if c.stdinLines == nil {
		c.stdinLines = bufio.NewReader(c.stdin)
	}
	line, err := c.stdinLines.ReadString('\n')
	if err != nil && line == "" {
		return "", fmt.Errorf("no password on standard input")
	}
	return strings.TrimRight(line, "\r\n"), nil
}

func runLogin(ctx context.Context, c *cli, args []string) error {
	fs := newFlags("login", c)
	user := fs.String("user", "", "username (required)")
	stdin := fs.Bool("password-stdin", false, "read the password from standard input (one line; a second line is the new password when a one-time password must be changed)")
	code := fs.String("totp", "", "TOTP code, for accounts with a second factor")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *user == "" {
		return errors.New("--user is required")
	}
	pw, err := c.readSecret("password: ", *stdin)
	if err != nil {
		return err
	}
	conn, err := c.dial()
	if err != nil {
		return err
	}
	cctx, cancel := c.callCtx(ctx)
	defer cancel()
	res, err := pb.NewAccessServiceClient(conn).Login(cctx, &pb.LoginRequest{Username: *user, Password: pw, TotpCode: *code})
	if err != nil {
		return err
	}
	if err := saveToken(c.server, res.GetToken()); err != nil {
		return fmt.Errorf("logged in, but the session token could not be kept: %w", err)
	}
	p := res.GetPrincipal()
	out := map[string]any{"username": p.GetUsername(), "roles": p.GetRoles(), "expires_at": res.GetExpiresAt().AsTime(),
		"must_change_password": p.GetMustChangePassword(), "must_enroll_totp": p.GetMustEnrollTotp()}
	err = c.print(out, func(w *tabwriter.Writer) {
		fmt.Fprintf(w, "logged in as\t%s\n", p.GetUsername())
		fmt.Fprintf(w, "roles\t%s\n", strings.Join(p.GetRoles(), ", "))
		fmt.Fprintf(w, "session ends\t%s\n", res.GetExpiresAt().AsTime().In(zone).Format("2006-01-02 15:04"))
	})
	if err != nil || !p.GetMustChangePassword() {
		return err
	}
	// A one-time password (set by an administrator): the session can do
	// nothing but change it, so change it now.
	fmt.Fprintln(c.stderr, "This is a one-time password: you must choose your own password now (until then this session can do nothing else).")
	next, err := c.readSecret("new password: ", *stdin)
	if err != nil {
		return fmt.Errorf("the password was not changed (%w): run gwanje passwd", err)
	}
	if !*stdin {
		again, err := c.readSecret("new password again: ", false)
		if err != nil {
			return fmt.Errorf("the password was not changed (%w): run gwanje passwd", err)
		}
		if again != next {
			return errors.New("the two new passwords differ; the password was not changed: run gwanje passwd")
		}
	}
	actx, acancel, cl, err := c.access(ctx)
	if err != nil {
		return err
	}
	defer acancel()
	if _, err := cl.ChangePassword(actx, &pb.ChangePasswordRequest{CurrentPassword: pw, NewPassword: next}); err != nil {
		return fmt.Errorf("the password was not changed: %w (try again with gwanje passwd)", err)
	}
	fmt.Fprintln(c.stderr, "password changed")
	return nil
}

func runLogout(ctx context.Context, c *cli, args []string) error {
	if err := newFlags("logout", c).Parse(args); err != nil {
		return err
	}
	ctx, cancel, cl, err := c.access(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	_, err = cl.Logout(ctx, &pb.LogoutRequest{})
	if serr := saveToken(c.server, ""); serr != nil && err == nil {
		err = serr
	}
	return err
}

func runWhoAmI(ctx context.Context, c *cli, args []string) error {
	if err := newFlags("whoami", c).Parse(args); err != nil {
		return err
	}
	ctx, cancel, cl, err := c.access(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	r, err := cl.WhoAmI(ctx, &pb.WhoAmIRequest{})
	if err != nil {
		return err
	}
	return c.print(r, func(w *tabwriter.Writer) {
		u := r.GetUser()
		fmt.Fprintf(w, "user\t%s (%s)\n", u.GetUsername(), u.GetDisplayName())
		fmt.Fprintf(w, "organization\t%s (%s)\n", u.GetOrgId(), u.GetOrgKind())
		fmt.Fprintf(w, "roles\t%s\n", strings.Join(r.GetPrincipal().GetRoles(), ", "))
		fmt.Fprintf(w, "permissions\t%s\n", strings.Join(r.GetPermissions(), ", "))
	})
}

func runPasswd(ctx context.Context, c *cli, args []string) error {
	fs := newFlags("passwd", c)
	stdin := fs.Bool("password-stdin", false, "read the current and the new password from standard input (two lines)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cur, err := c.readSecret("current password: ", *stdin)
	if err != nil {
		return err
	}
	next, err := c.readSecret("new password: ", *stdin)
	if err != nil {
		return err
	}
	ctx, cancel, cl, err := c.access(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	if _, err := cl.ChangePassword(ctx, &pb.ChangePasswordRequest{CurrentPassword: cur, NewPassword: next}); err != nil {
		return err
	}
	fmt.Fprintln(c.stdout, "password changed")
	return nil
}

func init() {
	register(command{name: "totp", summary: "totp begin|confirm --code N: enroll a second factor (authenticator app)", run: runTOTP})
}

func runTOTP(ctx context.Context, c *cli, args []string) error {
	return sub(ctx, c, "totp", args, map[string]func(context.Context, *cli, []string) error{
		"begin": func(ctx context.Context, c *cli, args []string) error {
			if err := newFlags("totp begin", c).Parse(args); err != nil {
				return err
			}
			ctx, cancel, cl, err := c.access(ctx)
			if err != nil {
				return err
			}
			defer cancel()
			res, err := cl.BeginTOTP(ctx, &pb.BeginTOTPRequest{})
			if err != nil {
				return err
			}
			return c.print(res, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "secret\t%s\n", res.GetSecret())
				fmt.Fprintf(w, "otpauth URL\t%s\n", res.GetOtpauthUrl())
				fmt.Fprintln(w, "next\tadd it to your authenticator app, then: gwanje totp confirm --code NNNNNN")
			})
		},
		"confirm": func(ctx context.Context, c *cli, args []string) error {
			fs := newFlags("totp confirm", c)
			code := fs.String("code", "", "the 6-digit code the app shows (required)")
			if err := fs.Parse(args); err != nil {
				return err
			}
			if err := required(fs, "code"); err != nil {
				return err
			}
			ctx, cancel, cl, err := c.access(ctx)
			if err != nil {
				return err
			}
			defer cancel()
			if _, err := cl.ConfirmTOTP(ctx, &pb.ConfirmTOTPRequest{Code: *code}); err != nil {
				return err
			}
			fmt.Fprintln(c.stdout, "second factor enrolled: log in with --totp from now on")
			return nil
		},
	})
}
