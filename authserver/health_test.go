package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"oauthdemo/authserver/store/sqlite"
)

// serving is ImageHost run as main runs it, in this process: cancelling
// stop is what SIGTERM does to main's context (signal.NotifyContext).
type serving struct {
	issuer string
	stop   context.CancelFunc
	exited <-chan struct{} // closed once run returned
	err    *error          // what run returned, once it has
}

func startServing(t *testing.T, getenv func(string) string) serving {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	exited, result := make(chan struct{}), new(error)
	go func() {
		*result = run(ctx, nil, getenv, strings.NewReader(""), pw, io.Discard)
		pw.Close()
		close(exited)
	}()
	var issuer string
	sc := bufio.NewScanner(pr)
	for issuer == "" && sc.Scan() {
		if m := regexp.MustCompile(`issuer:\s+(\S+)`).FindStringSubmatch(sc.Text()); m != nil {
			issuer = m[1]
		}
	}
	go io.Copy(io.Discard, pr)
	if issuer == "" {
		cancel()
		<-exited
		t.Fatalf("no issuer printed; run: %v", *result)
	}
	t.Cleanup(func() {
		cancel()
		<-exited
	})
	return serving{issuer: issuer, stop: cancel, exited: exited, err: result}
}

// TestShutdownFinishesRequestsAndKeepsTheirActivity: SIGTERM while a
// sign-in is under way. New connections are refused at once; the sign-in
// still completes; and the activity entry it records ("signed in") is in
// the database once the process has ended: the activity log's writer is
// flushed after the last request finished, not when the signal came.
//
// The request is held under way without a sleep: it asks for
// "Expect: 100-continue", and the server says "100 Continue" only once the
// handler reads the form, so the test knows the handler is running, and
// sends the form only after the signal.
func TestShutdownFinishesRequestsAndKeepsTheirActivity(t *testing.T) {
	dataDir := t.TempDir()
	srv := startServing(t, env("IMAGEHOST_ADDR", "127.0.0.1:0", "IMAGEHOST_DATA_DIR", dataDir,
		"IMAGEHOST_DEMO", "true", "IMAGEHOST_DEMO_USERS", "alice:wonderland"))
	issuer, _ := url.Parse(srv.issuer)

	// The login page, for its form's CSRF token and cookies.
	b := (&testServer{t: t, URL: srv.issuer}).browser()
	resp := b.get("/login")
	hostname, _ := os.Hostname()
	if got, want := resp.Header.Get("X-Instance"), net.JoinHostPort(hostname, issuer.Port()); got != want {
		t.Errorf("X-Instance: %q, want the host name and port %q", got, want)
	}
	form := formValues(t, body(t, resp))
	form.Set("username", "alice")
	form.Set("password", "wonderland")
	payload := form.Encode()
	var cookies []string
	for _, c := range b.client.Jar.Cookies(issuer) {
		cookies = append(cookies, c.Name+"="+c.Value)
	}

	conn, err := net.Dial("tcp", issuer.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /login HTTP/1.1\r\nHost: %s\r\nOrigin: %s\r\nCookie: %s\r\nContent-Type: application/x-www-form-urlencoded\r\n"+
		"Content-Length: %d\r\nExpect: 100-continue\r\n\r\n", issuer.Host, srv.issuer, strings.Join(cookies, "; "), len(payload))
	replies := bufio.NewReader(conn)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if line, err := replies.ReadString('\n'); err != nil || !strings.HasPrefix(line, "HTTP/1.1 100") {
		t.Fatalf("the handler did not ask for the form: %q %v", line, err)
	}
	replies.ReadString('\n') // the blank line after 100 Continue

	srv.stop() // SIGTERM
	// New connections are refused (the listener closes at once).
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", issuer.Host, time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("after SIGTERM ImageHost still accepts connections")
		}
	}
	select {
	case <-srv.exited:
		t.Fatalf("run returned (%v) with a sign-in under way", *srv.err)
	default:
	}

	// The form arrives; the sign-in completes.
	io.WriteString(conn, payload)
	answer, err := http.ReadResponse(replies, nil)
	if err != nil {
		t.Fatalf("the sign-in under way when SIGTERM came got no answer: %v", err)
	}
	answer.Body.Close()
	if answer.StatusCode != http.StatusSeeOther {
		t.Fatalf("the sign-in under way was answered %s, want 303 to the account page", answer.Status)
	}
	select {
	case <-srv.exited:
		if *srv.err != nil {
			t.Fatalf("run returned %v after SIGTERM", *srv.err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("ImageHost did not stop after its last request")
	}

	st, err := sqlite.Open(context.Background(), filepath.Join(dataDir, "imagehost.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	alice, err := st.UserByUsername(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	entries, err := st.ActivityForUser(context.Background(), alice.ID, 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Event == "signed in" {
			return
		}
	}
	t.Fatalf("the sign-in that finished during the shutdown is not in the activity log: %+v", entries)
}

// TestReadyzFollowsTheDatabase: /readyz answers 200 while PostgreSQL
// answers and 503 once the database is gone, without saying why;
// /healthz, liveness, goes on answering 200.
func TestReadyzFollowsTheDatabase(t *testing.T) {
	dbURL := newPostgresDatabase(t)
	ts := newTestServerOn(t, openPostgres(t, dbURL, nil), func(c *Config) { c.DatabaseURL = dbURL })
	get := func(path string) (int, string) {
		resp := ts.browser().get(path)
		return resp.StatusCode, body(t, resp)
	}
	if code, page := get("/readyz"); code != http.StatusOK || page != "ready\n" {
		t.Fatalf("/readyz with the database up: %d %q", code, page)
	}
	u, _ := url.Parse(dbURL)
	if err := pg.Server(t).DropDatabase(context.Background(), strings.TrimPrefix(u.Path, "/")); err != nil {
		t.Fatal(err)
	}
	if code, page := get("/readyz"); code != http.StatusServiceUnavailable || page != "not ready\n" {
		t.Fatalf("/readyz with the database gone: %d %q, want 503 and no detail", code, page)
	}
	if code, _ := get("/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz with the database gone: %d, want 200 (liveness)", code)
	}
}
