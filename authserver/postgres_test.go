package main

// ImageHost on PostgreSQL: the whole program started through run with a
// database URL.

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"golang.org/x/oauth2"

	"oauthdemo/authserver/store/postgres/pgtest"
)

// pg is this test binary's PostgreSQL server, started by the first test
// that needs one; without PostgreSQL those tests skip (outside CI).
var pg pgtest.Shared

func TestMain(m *testing.M) {
	code := m.Run()
	pg.Stop()
	os.Exit(code)
}

// TestServeOnPostgres runs ImageHost through run with IMAGEHOST_DATABASE_URL
// on an empty database, as an instance behind a load balancer would start,
// and does a whole authorization code flow with a standard client: login,
// consent, code, tokens, the photos API, a refresh. Everything it stores
// lands in PostgreSQL; the data directory stays empty.
func TestServeOnPostgres(t *testing.T) {
	dbURL := pg.Database(t)
	dataDir := t.TempDir()
	const secret = "demo-secret-0123456789abcdef"
	getenv := env("IMAGEHOST_ADDR", "127.0.0.1:0", "IMAGEHOST_DATA_DIR", dataDir, "IMAGEHOST_DATABASE_URL", dbURL,
		"IMAGEHOST_DEMO", "true", "IMAGEHOST_DEMO_USERS", "alice:wonderland", "IMAGEHOST_DEMO_APP_CLIENT_SECRET", secret)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, nil, getenv, strings.NewReader(""), pw, io.Discard)
		pw.Close()
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
		t.Fatalf("no issuer printed; run: %v", <-done)
	}

	ts := &testServer{t: t, URL: issuer, clock: &testClock{}}
	c := newStandardClient(t, ts, "photoeditorapp", secret, "http://localhost:8080/callback", "openid", "offline_access", "photos.read")
	tok, idToken := c.login(t, ts.browser(), "alice", "wonderland")
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token despite offline_access")
	}
	resp, err := c.oauth.Client(context.Background(), tok).Get(issuer + "/api/photos")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/photos: %v %v", err, resp.Status)
	}
	if page := body(t, resp); !strings.Contains(page, `"id"`) {
		t.Fatalf("alice's seeded photos are missing: %s", page)
	}
	refreshed, err := c.oauth.TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil || refreshed.RefreshToken == tok.RefreshToken {
		t.Fatalf("refresh: %v", err)
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run returned %v after shutdown", err)
	}
	if entries, _ := os.ReadDir(dataDir); len(entries) != 0 {
		t.Fatalf("the data directory holds %v; everything belongs in PostgreSQL", entries)
	}
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var grants, refreshTokens int
	err = conn.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM grants WHERE user_id = $1),
		(SELECT count(*) FROM refresh_tokens)`, idToken.Subject).Scan(&grants, &refreshTokens)
	if err != nil || grants != 1 || refreshTokens != 2 {
		t.Fatalf("PostgreSQL holds %d grants of alice's and %d refresh tokens (%v), want 1 and 2 (the first, rotated once)", grants, refreshTokens, err)
	}
}
