package main

import (
	"bufio"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const publishedClientSecret = "demo-photoeditorapp-secret-not-for-production"

// demoEnv is demo.env's settings for the app, on addr.
func demoEnv(t *testing.T, addr, secretsFile string) func(string) string {
	vars := map[string]string{
		"PHOTOEDITOR_ADDR":                  addr,
		"PHOTOEDITOR_BASE_URL":              "http://localhost:8080",
		"PHOTOEDITOR_CLIENT_SECRET":         publishedClientSecret,
		"PHOTOEDITOR_MACHINE_CLIENT_ID":     "photo-sync",
		"PHOTOEDITOR_MACHINE_CLIENT_SECRET": "demo-photo-sync-secret-not-for-production",
		"PHOTOEDITOR_EXPIRY_CLIENT_ID":      "photoeditorapp-expiry",
		"PHOTOEDITOR_EXPIRY_CLIENT_SECRET":  "demo-photoeditorapp-expiry-secret-not-for-production",
		"PHOTOEDITOR_DATA_DIR":              t.TempDir(),
		"PHOTOEDITOR_DEMO_SECRETS":          secretsFile,
		"PHOTOEDITOR_LOG_LEVEL":             "warn",
	}
	return func(k string) string { return vars[k] }
}

// TestDemoSecretsOnANetwork: listening beyond loopback, the app refuses to
// start with demo.env's published client secret, and takes the ones
// ImageHost generated when it finds them; on loopback without them it keeps
// demo.env's, as ImageHost does.
func TestDemoSecretsOnANetwork(t *testing.T) {
	file := filepath.Join(t.TempDir(), "demo-secrets")

	// No generated secrets, on a network: refused, once the bounded wait is over.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := run(ctx, nil, demoEnv(t, "0.0.0.0:0", file), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "refuses demo.env's published client secret") {
		t.Fatalf("on a network without generated secrets, run = %v; want a refusal", err)
	}

	// On loopback without them: demo.env's values.
	cfg, err := parseConfig(nil, demoEnv(t, "127.0.0.1:0", file), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg, err = withDemoSecrets(context.Background(), cfg, time.Minute, io.Discard); err != nil || cfg.ClientSecret != publishedClientSecret {
		t.Fatalf("on loopback without generated secrets: %q, %v", cfg.ClientSecret, err)
	}

	// ImageHost wrote them (in its format): the app starts with them.
	os.WriteFile(file, []byte("# generated\nPHOTOEDITOR_CLIENT_SECRET=generated-app-secret\nPHOTOEDITOR_MACHINE_CLIENT_SECRET=generated-m2m-secret\n"+
		"PHOTOEDITOR_EXPIRY_CLIENT_SECRET=generated-expiry-secret\n"), 0o600)
	for _, addr := range []string{"127.0.0.1:0", "0.0.0.0:0"} {
		cfg, _ := parseConfig(nil, demoEnv(t, addr, file), io.Discard)
		cfg, err := withDemoSecrets(context.Background(), cfg, time.Minute, io.Discard)
		if err != nil || cfg.ClientSecret != "generated-app-secret" || cfg.MachineClientSecret != "generated-m2m-secret" ||
			cfg.ExpiryClientSecret != "generated-expiry-secret" {
			t.Fatalf("on %s with generated secrets: %q %q %q, %v", addr, cfg.ClientSecret, cfg.MachineClientSecret, cfg.ExpiryClientSecret, err)
		}
	}
	ctx, cancel = context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, nil, demoEnv(t, "0.0.0.0:0", file), pw, io.Discard)
		pw.Close()
	}()
	var seen strings.Builder
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		seen.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), "is listening on") {
			break
		}
	}
	go io.Copy(io.Discard, pr)
	cancel()
	if err := <-done; err != nil || !strings.Contains(seen.String(), "ImageHost's generated ones, from "+file) {
		t.Fatalf("on a network with generated secrets: run = %v\n%s", err, seen.String())
	}
}

// TestOwnClientKeepsItsSecret: an app configured with a client of its own
// (an attendee's, from the console of the teacher's ImageHost) keeps its
// secret when demo secrets lie around from an earlier demo, and needs none
// to listen beyond loopback.
func TestOwnClientKeepsItsSecret(t *testing.T) {
	file := filepath.Join(t.TempDir(), "demo-secrets")
	os.WriteFile(file, []byte("PHOTOEDITOR_CLIENT_SECRET=generated-app-secret\n"), 0o600)
	missing := filepath.Join(t.TempDir(), "demo-secrets")
	for _, tc := range []struct{ addr, file string }{{"127.0.0.1:0", file}, {"0.0.0.0:0", file}, {"0.0.0.0:0", missing}} {
		env := demoEnv(t, tc.addr, tc.file)
		own := func(k string) string {
			switch k {
			case "PHOTOEDITOR_CLIENT_ID":
				return "attendee-app-id"
			case "PHOTOEDITOR_CLIENT_SECRET":
				return "attendee-app-secret"
			}
			return env(k)
		}
		cfg, err := parseConfig(nil, own, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		cfg, err = withDemoSecrets(ctx, cfg, time.Minute, io.Discard)
		cancel()
		if err != nil || cfg.ClientSecret != "attendee-app-secret" {
			t.Fatalf("on %s, demo secrets at %s: the app's secret is %q, %v; want its own", tc.addr, tc.file, cfg.ClientSecret, err)
		}
	}
}
