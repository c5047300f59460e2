package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// env is a fake environment for run.
func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func runCmd(t *testing.T, getenv func(string) string, stdin string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, getenv, strings.NewReader(stdin), &out, &errOut)
	return out.String() + errOut.String(), err
}

func TestCommands(t *testing.T) {
	dir := t.TempDir()
	getenv := env("IMAGEHOST_DATA_DIR", dir)
	steps := []struct {
		args    []string
		stdin   string
		want    string
		wantErr bool
	}{
		{[]string{"users", "add", "-username", "carol", "-name", "Carol", "-email", "carol@example.org"}, "correct horse\n", "added user carol", false},
		{[]string{"users", "add", "-username", "carol"}, "correct horse\n", "is taken", true},
		{[]string{"users", "add", "-username", "Carol"}, "correct horse\n", "is taken", true},
		{[]string{"users", "add", "-username", "dave"}, "short\n", "at least 8", true},
		{[]string{"users", "list"}, "", "carol", false},
		{[]string{"users", "add", "-username", "teacher", "-admin"}, "blackboard\n", "added admin teacher", false},
		{[]string{"users", "list"}, "", "admin", false},
		{[]string{"users", "set-admin", "-username", "carol"}, "", "carol is an admin", false},
		{[]string{"users", "set-admin", "-username", "carol", "-off"}, "", "carol is no longer an admin", false},
		{[]string{"users", "set-admin", "-username", "nobody"}, "", "not found", true},
		{[]string{"users", "disable", "-username", "carol"}, "", "disabled user carol", false},
		{[]string{"users", "list"}, "", "disabled", false},
		{[]string{"users", "enable", "-username", "carol"}, "", "enabled user carol", false},
		{[]string{"clients", "add", "-id", "cli-app", "-name", "CLI App", "-redirect-uri", "http://127.0.0.1:9999/cb"}, "", "client secret (shown only now)", false},
		{[]string{"clients", "add", "-id", "bad", "-redirect-uri", "http://evil.example/cb"}, "", "loopback", true},
		{[]string{"clients", "list"}, "", "cli-app", false},
		{[]string{"clients", "add", "-id", "api", "-name", "An API", "-grant-type", "client_credentials", "-resource-server"}, "", "added client api", false},
		{[]string{"clients", "list"}, "", "confidential,resource-server", false},
		{[]string{"clients", "set-resource-server", "-id", "api", "-off"}, "", "no longer a resource server", false},
		{[]string{"clients", "set-resource-server", "-id", "cli-app"}, "", "client cli-app is a resource server", false},
		{[]string{"clients", "set-resource-server", "-id", "nobody"}, "", "not found", true},
		{[]string{"clients", "add", "-id", "pub", "-public", "-resource-server", "-redirect-uri", "http://127.0.0.1:9999/cb"}, "", "cannot be -public", true},
		{[]string{"keys", "list"}, "", "KID", false},
		{[]string{"keys", "rotate"}, "", "new keys made", false},
		{[]string{"clients", "remove", "-id", "cli-app"}, "", "removed client cli-app", false},
		{[]string{"users", "remove", "-username", "carol"}, "", "removed user carol", false},
		{[]string{"users", "remove", "-username", "carol"}, "", "not found", true},
		{[]string{"frobnicate"}, "", "unknown command", true},
	}
	for _, s := range steps {
		out, err := runCmd(t, getenv, s.stdin, s.args...)
		if (err != nil) != s.wantErr || !strings.Contains(out+errString(err), s.want) {
			t.Fatalf("%v: err %v, output %q; want %q", s.args, err, out, s.want)
		}
	}
}

// TestCommandsFindTheServersDatabase: the operator's commands find the
// database as serve does, by -data-dir, else IMAGEHOST_DATA_DIR.
func TestCommandsFindTheServersDatabase(t *testing.T) {
	dir, other := t.TempDir(), t.TempDir()
	if out, err := runCmd(t, env("IMAGEHOST_DATA_DIR", dir), "correct horse\n", "users", "add", "-username", "carol"); err != nil {
		t.Fatalf("users add: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		name   string
		getenv func(string) string
		args   []string
		found  bool
	}{
		{"the variable", env("IMAGEHOST_DATA_DIR", dir), nil, true},
		{"the flag", env(), []string{"-data-dir", dir}, true},
		{"the flag over the variable", env("IMAGEHOST_DATA_DIR", other), []string{"-data-dir", dir}, true},
		{"another directory", env("IMAGEHOST_DATA_DIR", other), nil, false},
	} {
		out, err := runCmd(t, tc.getenv, "", append([]string{"users", "list"}, tc.args...)...)
		if err != nil || strings.Contains(out, "carol") != tc.found {
			t.Errorf("%s: users list: err %v, found carol %v, want %v", tc.name, err, !tc.found, tc.found)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestConfigValidation(t *testing.T) {
	tests := []struct {
		name   string
		getenv func(string) string
		args   []string
		ok     bool
	}{
		{"defaults", env(), nil, true},
		{"issuer with trailing slash", env("IMAGEHOST_ISSUER", "http://127.0.0.1:9090/"), nil, false},
		{"issuer with query", env("IMAGEHOST_ISSUER", "http://127.0.0.1:9090?x=1"), nil, false},
		{"relative issuer", env("IMAGEHOST_ISSUER", "/imagehost"), nil, false},
		{"30 s access tokens", env("IMAGEHOST_ACCESS_TOKEN_TTL", "30s"), nil, true},
		{"access tokens longer than the cap", env("IMAGEHOST_ACCESS_TOKEN_TTL", "2h"), nil, false},
		{"a cap above 24 h", env("IMAGEHOST_MAX_ACCESS_TOKEN_TTL", "25h", "IMAGEHOST_ACCESS_TOKEN_TTL", "25h"), nil, false},
		{"a cap of 24 h", env("IMAGEHOST_MAX_ACCESS_TOKEN_TTL", "24h", "IMAGEHOST_ACCESS_TOKEN_TTL", "2h"), nil, true},
		{"bad duration", env("IMAGEHOST_ACCESS_TOKEN_TTL", "soon"), nil, false},
		{"negative duration", nil, []string{"-access-token-ttl", "-1m"}, false},
		{"code lifetime over 10 minutes", nil, []string{"-code-ttl", "1h"}, false},
		{"unknown token check", env("IMAGEHOST_API_TOKEN_CHECK", "trust-me"), nil, false},
		{"short initial access token", env("IMAGEHOST_INITIAL_ACCESS_TOKEN", "abc"), nil, false},
		{"PostgreSQL database", env("IMAGEHOST_DATABASE_URL", "postgres://imagehost@db.example/imagehost"), nil, true},
		{"database URL of another kind", nil, []string{"-database-url", "mysql://imagehost@db.example/imagehost"}, false},
		{"lab mode on PostgreSQL", env("IMAGEHOST_DATABASE_URL", "postgres://imagehost@db.example/imagehost", "IMAGEHOST_LAB", "true"), nil, false},
		{"an instance name", env("IMAGEHOST_INSTANCE", "imagehost-a"), nil, true},
		{"an instance name with a line break", env("IMAGEHOST_INSTANCE", "a\r\nSet-Cookie: x=y"), nil, false},
		{"introspection on PostgreSQL without a shared secret",
			env("IMAGEHOST_DATABASE_URL", "postgres://imagehost@db.example/imagehost", "IMAGEHOST_API_TOKEN_CHECK", "introspect"), nil, false},
		{"introspection on PostgreSQL with a shared secret",
			env("IMAGEHOST_DATABASE_URL", "postgres://imagehost@db.example/imagehost", "IMAGEHOST_API_TOKEN_CHECK", "introspect",
				"IMAGEHOST_API_CLIENT_SECRET", "photos-api-secret-0123456789abcdef"), nil, true},
		{"introspection on SQLite, a new secret at every start", env("IMAGEHOST_API_TOKEN_CHECK", "introspect"), nil, true},
		{"short API client secret", env("IMAGEHOST_API_CLIENT_SECRET", "too-short"), nil, false},
		{"photo quota", env("IMAGEHOST_MAX_PHOTOS_PER_OWNER", "20", "IMAGEHOST_MAX_BYTES_PER_OWNER", "1GB"), nil, true},
		{"no photo quota", env("IMAGEHOST_MAX_PHOTOS_PER_OWNER", "0"), nil, false},
		{"byte quota in words", env("IMAGEHOST_MAX_BYTES_PER_OWNER", "lots"), nil, false},
		{"byte quota out of range", nil, []string{"-max-bytes-per-owner", "99999999999GB"}, false},
		{"device codes for 15 minutes, polled every 2 s", env("IMAGEHOST_DEVICE_CODE_TTL", "15m", "IMAGEHOST_DEVICE_POLL_INTERVAL", "2s"), nil, true},
		{"device codes for an hour", env("IMAGEHOST_DEVICE_CODE_TTL", "1h"), nil, false},
		{"device poll interval under a second", nil, []string{"-device-poll-interval", "500ms"}, false},
		{"device poll interval not in whole seconds", nil, []string{"-device-poll-interval", "1500ms"}, false},
		{"no pending device codes", env("IMAGEHOST_MAX_PENDING_DEVICE_CODES", "0"), nil, false},
		{"a shutdown delay for a load balancer", env("IMAGEHOST_SHUTDOWN_DELAY", "3s"), nil, true},
		{"a shutdown delay past a service manager's patience", nil, []string{"-shutdown-delay", "1m"}, false},
		{"a negative shutdown delay", env("IMAGEHOST_SHUTDOWN_DELAY", "-1s"), nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			getenv := tc.getenv
			if getenv == nil {
				getenv = env()
			}
			cfg, err := parseConfig(tc.args, getenv, io.Discard)
			if err == nil {
				err = cfg.Validate()
			}
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
		})
	}
	cfg, _ := parseConfig([]string{"-access-token-ttl", "45s"}, env("IMAGEHOST_ACCESS_TOKEN_TTL", "30s"), io.Discard)
	if cfg.AccessTokenTTL != 45*time.Second {
		t.Fatalf("a flag must win over the environment: %v", cfg.AccessTokenTTL)
	}
	cfg, _ = parseConfig(nil, env("IMAGEHOST_MAX_BYTES_PER_OWNER", "512KB"), io.Discard)
	if cfg.MaxBytesPerOwner != 512<<10 || cfg.MaxPhotosPerOwner != 100 {
		t.Fatalf("quota: %d photos, %d bytes", cfg.MaxPhotosPerOwner, cfg.MaxBytesPerOwner)
	}
}

// TestServeDemo starts the real server through run, as the demo does, and
// stops it the way Ctrl-C does. The demo seeds its users on the first run
// only: a user removed between runs stays removed.
func TestServeDemo(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	getenv := env("IMAGEHOST_ADDR", "127.0.0.1:0", "IMAGEHOST_DATA_DIR", dir, "IMAGEHOST_DEMO", "true",
		"IMAGEHOST_DEMO_USERS", "alice:wonderland,bob:builder", "IMAGEHOST_DEMO_APP_CLIENT_SECRET", "demo-secret-0123456789")
	for round := range 2 { // the second run must not seed twice
		ctx, cancel := context.WithCancel(context.Background())
		pr, pw := io.Pipe()
		done := make(chan error, 1)
		go func() {
			done <- run(ctx, nil, getenv, strings.NewReader(""), pw, io.Discard)
			pw.Close()
		}()
		var issuer string
		var seen strings.Builder
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			seen.WriteString(sc.Text() + "\n")
			if m := regexp.MustCompile(`issuer:\s+(\S+)`).FindStringSubmatch(sc.Text()); m != nil {
				issuer = m[1]
				break
			}
		}
		go io.Copy(io.Discard, pr)
		if issuer == "" {
			cancel()
			t.Fatalf("no issuer printed:\n%s; run: %v", seen.String(), <-done)
		}
		want := map[int][]string{
			0: {"alice          password wonderland     (created, with photos)", "bob            password builder        (created, with photos)"},
			1: {"alice          password wonderland     (exists)", "bob            (removed after the demo was seeded on "},
		}[round]
		for _, w := range want {
			if !strings.Contains(seen.String(), w) {
				t.Fatalf("round %d output lacks %q:\n%s", round, w, seen.String())
			}
		}
		resp, err := http.Get(issuer + "/.well-known/openid-configuration")
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("discovery: %v", err)
		}
		resp.Body.Close()
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("run returned %v after shutdown", err)
		}
		if round == 0 {
			var out strings.Builder
			if err := run(context.Background(), []string{"users", "remove", "-username", "bob"}, getenv, strings.NewReader(""), &out, io.Discard); err != nil {
				t.Fatalf("users remove bob: %v\n%s", err, out.String())
			}
		}
	}
	var out strings.Builder
	if err := run(context.Background(), []string{"users", "list"}, getenv, strings.NewReader(""), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "alice") || strings.Contains(out.String(), "bob") {
		t.Fatalf("after the second run, users list:\n%s", out.String())
	}
}
