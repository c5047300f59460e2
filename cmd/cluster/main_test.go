package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"oauthdemo/authserver/store/postgres/pgtest"
	"oauthdemo/e2e/cluster"
	"oauthdemo/e2e/harness"
)

// TestRunStartsAndStops runs the command as go tool task cluster does, on
// free ports, twice on the same data directory: the cluster answers through
// haproxy from every instance; the password it prints works there, and
// demo.env's published one does not; Ctrl-C in its terminal (SIGINT to its
// whole process group) stops every process in order, PostgreSQL last, so
// no instance loses its database while it still serves; the second run
// finds the same data and secrets, and prints no secret.
func TestRunStartsAndStops(t *testing.T) {
	if args := os.Getenv("CLUSTER_COMMAND_ARGS"); args != "" {
		// The command itself, in the child, as main runs it.
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		if err := run(ctx, strings.Fields(args), os.Stdout, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, "cluster:", err)
			os.Exit(1)
		}
		return
	}
	for _, missing := range []error{pgtest.Installed(), func() error { _, err := cluster.HAProxyPath(); return err }()} {
		if missing == nil {
			continue
		}
		if strings.EqualFold(os.Getenv("CI"), "true") {
			t.Fatalf("%v, and CI must run the cluster's tests (.ci/run installs it)", missing)
		}
		t.Skip(missing)
	}
	bin := harness.Binaries(t)
	// As root, PostgreSQL runs as the postgres user, who must get through
	// the test's directories to its own.
	base := t.TempDir()
	for _, d := range []string{filepath.Dir(base), base} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	data := filepath.Join(base, ".data")
	// Ports that stay free across the two runs.
	issuerPort, err1 := cluster.Port()
	appPort, err2 := cluster.Port()
	if err := errors.Join(err1, err2); err != nil {
		t.Fatal(err)
	}
	issuer := fmt.Sprintf("127.0.0.1:%d", issuerPort)
	appURL := fmt.Sprintf("http://localhost:%d", appPort)
	authURL := harness.AuthorizeURL("http://"+issuer, appURL+"/callback", "openid photos.read", "s", strings.Repeat("v", 43))

	var password string
	for round := 1; round <= 2; round++ {
		// The command in a process of its own, leading a process group as
		// a shell gives a command it runs in a terminal.
		out := &harness.LogBuffer{}
		cmd := exec.Command(os.Args[0], "-test.run=^TestRunStartsAndStops$")
		cmd.Env = append(os.Environ(), "CLUSTER_COMMAND_ARGS="+strings.Join([]string{"-bin", bin, "-data", data,
			"-issuer-addr", issuer, "-app-port", fmt.Sprint(appPort)}, " "))
		cmd.Stdout, cmd.Stderr = out, out
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
		for !strings.Contains(out.String(), "Ctrl-C stops it all.") {
			select {
			case err := <-done:
				t.Fatalf("round %d: the command ended: %v\n%s", round, err, out)
			case <-time.After(50 * time.Millisecond):
			}
		}

		// Every instance answers through haproxy.
		seen := map[string]bool{}
		for _, u := range []string{"http://" + issuer + "/jwks", appURL + "/"} {
			for range 4 {
				resp, err := http.Get(u)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				seen[resp.Header.Get("X-Instance")] = true
			}
		}
		for _, name := range []string{"imagehost-a", "imagehost-b", "photoeditor-a", "photoeditor-b"} {
			if !seen[name] {
				t.Errorf("round %d: no answer from %s through haproxy (saw %v)", round, name, seen)
			}
		}

		// The secrets: printed on the first run only.
		m := regexp.MustCompile(`user alice\s+password (\S+)`).FindStringSubmatch(out.String())
		switch {
		case round == 1 && m == nil:
			t.Fatalf("the first run printed no password for alice:\n%s", out)
		case round == 1:
			password = m[1]
		case m != nil:
			t.Errorf("the second run printed alice's password again")
		}
		if _, err := harness.Code(harness.MustSignIn(t, harness.NewBrowser(), authURL, "alice", password)); err != nil {
			t.Errorf("round %d: alice's printed password: %v", round, err)
		}
		var refused *harness.RefusedError
		if _, err := harness.SignIn(t.Context(), harness.NewBrowser(), authURL, "alice", "wonderland"); !errors.As(err, &refused) {
			t.Errorf("round %d: demo.env's published password through haproxy: %v, want a refusal", round, err)
		}

		// Ctrl-C: the terminal signals the whole foreground process group.
		stopping := len(out.String())
		if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("round %d: stopping: %v\n%s", round, err, out)
			}
		case <-time.After(60 * time.Second):
			t.Fatalf("round %d: the command did not stop:\n%s", round, out)
		}
		if shutdown := out.String()[stopping:]; strings.Contains(shutdown, "failed to connect") || strings.Contains(shutdown, "level=ERROR") {
			t.Errorf("round %d: an instance lost its database while it stopped:\n%s", round, shutdown)
		}
		for _, addr := range []string{issuer, fmt.Sprintf("127.0.0.1:%d", appPort)} {
			if conn, err := net.Dial("tcp", addr); err == nil {
				conn.Close()
				t.Errorf("round %d: %s still accepts connections after the stop", round, addr)
			}
		}
		if _, err := os.Stat(filepath.Join(data, "pg", "data", "postmaster.pid")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("round %d: PostgreSQL did not shut down cleanly: postmaster.pid is still there (%v)", round, err)
		}
		if t.Failed() {
			t.Logf("the command's output:\n%s", out)
			return
		}
	}
}
