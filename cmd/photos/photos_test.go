package main

import (
	"bytes"
	"context"
	"flag"
	"go/build"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"oauthdemo/e2e/harness"
)

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestConfigDir(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "darwin" {
		t.Skip("the XDG rules are for the other systems")
	}
	tests := []struct {
		name   string
		getenv func(string) string
		want   string
	}{
		{"XDG_CONFIG_HOME", env("XDG_CONFIG_HOME", "/x/config", "HOME", "/home/a"), "/x/config/imagehost-photos"},
		{"a relative XDG_CONFIG_HOME is ignored", env("XDG_CONFIG_HOME", "config", "HOME", "/home/a"), "/home/a/.config/imagehost-photos"},
		{"HOME", env("HOME", "/home/a"), "/home/a/.config/imagehost-photos"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got, err := configDir(tc.getenv); err != nil || got != tc.want {
				t.Fatalf("configDir = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	if _, err := configDir(env()); err == nil {
		t.Fatal("no HOME and no XDG_CONFIG_HOME: want an error")
	}
}

// TestCredentialsFile: the tokens are the user's alone. The file is 0600 in
// a 0700 directory, also when the directory was there before with wider
// permissions; a file others can read is refused, except by logout, which
// revokes its tokens.
func TestCredentialsFile(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permissions")
	}
	dir := filepath.Join(t.TempDir(), "imagehost-photos")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := credentialsFile(dir)
	creds := credentials{Issuer: "http://127.0.0.1:9090", ClientID: "photos-cli", AccessToken: "at", RefreshToken: "rt",
		Expiry: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
	if err := creds.save(path); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{dir: 0o700, path: 0o600} {
		if info, err := os.Stat(p); err != nil || info.Mode().Perm() != want {
			t.Fatalf("%s: mode %v, %v; want %04o", p, info.Mode().Perm(), err, want)
		}
	}
	got, err := loadCredentials(path)
	if err != nil || got != creds {
		t.Fatalf("loadCredentials = %+v, %v; want %+v", got, err, creds)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("the directory holds %d files, want only the credentials", len(entries))
	}

	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := loadCredentials(path); err == nil || !strings.Contains(err.Error(), "can be read by others") {
		t.Fatalf("a credentials file others can read: %v, want it refused", err)
	}
	if _, err := readCredentials(path, false); err != nil {
		t.Fatalf("logout cannot read a file others can read: %v", err)
	}
	if _, err := loadCredentials(filepath.Join(dir, "none.json")); err != errNotSignedIn {
		t.Fatalf("no file: %v, want errNotSignedIn", err)
	}
}

// TestTranscriptMasksSecrets: the transcript shows the exchange, and of
// each secret only enough to tell it from another.
func TestTranscriptMasksSecrets(t *testing.T) {
	const (
		deviceCode   = "GmRhmhcxhwAzkoEqiMEg_DnyEysNkuNhszIySk9eS"
		accessToken  = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"
		refreshToken = "tGzv3JOkF0XG5Qx2TlKWIAtGzv3JOkF0XG5Qx2TlKWI"
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"access_token":"`+accessToken+`","refresh_token": "`+refreshToken+`","token_type":"Bearer","user_code":"WDJB-MJHT"}`)
	}))
	defer srv.Close()
	var out bytes.Buffer
	client := newHTTPClient(true, &out)
	form := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "device_code": {deviceCode}, "client_id": {"photos-cli"}}
	req, _ := http.NewRequest("POST", srv.URL+"/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+accessToken)
	key, err := newProofKey()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Do(req.WithContext(withProofKey(req.Context(), key)))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), refreshToken) {
		t.Fatal("the transcript took the body from the caller")
	}
	transcript := out.String()
	// The DPoP proof is shown decoded, without its signature.
	if !strings.Contains(transcript, `"typ":"dpop+jwt"`) || !strings.Contains(transcript, `"htm":"POST"`) || !strings.Contains(transcript, "(signature not shown)") {
		t.Errorf("the transcript does not show the DPoP proof decoded:\n%s", transcript)
	}
	if strings.Contains(transcript, `"d":`) {
		t.Errorf("the transcript shows a private key:\n%s", transcript)
	}
	for _, secret := range []string{deviceCode, accessToken, refreshToken} {
		if strings.Contains(transcript, secret) {
			t.Errorf("the transcript shows a secret in full:\n%s", transcript)
		}
	}
	for _, shown := range []string{"device_code=GmRhmh…(41 characters)", "Authorization: Bearer eyJhbG…", `"refresh_token": "tGzv3J…(43 characters)"`,
		"client_id=photos-cli", `"user_code":"WDJB-MJHT"`, "POST " + srv.URL + "/token", "200 OK"} {
		if !strings.Contains(transcript, shown) {
			t.Errorf("the transcript lacks %q:\n%s", shown, transcript)
		}
	}
}

// TestCallback: the loopback callback ends the wait only with this
// sign-in's state and the right issuer.
func TestCallback(t *testing.T) {
	const issuer = "http://127.0.0.1:9090"
	tests := []struct {
		name     string
		query    string
		status   int
		finished bool
		err      string
	}{
		{"another path", "", 404, false, ""},
		{"no state", "code=c&iss=" + url.QueryEscape(issuer), 400, false, ""},
		{"another state", "code=c&state=forged&iss=" + url.QueryEscape(issuer), 400, false, ""},
		{"another issuer (mix-up)", "code=c&state=s1&iss=" + url.QueryEscape("http://evil.example"), 400, true, "not " + issuer},
		{"no issuer", "code=c&state=s1", 400, true, "RFC 9207"},
		{"denied", "error=access_denied&state=s1&iss=" + url.QueryEscape(issuer), 200, true, "you denied"},
		{"a code", "code=c&state=s1&iss=" + url.QueryEscape(issuer), 200, true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cb := &callback{issuer: issuer, requireISS: true, state: "s1", done: make(chan callbackResult, 1)}
			path := "/callback?"
			if tc.name == "another path" {
				path = "/other?"
			}
			rec := httptest.NewRecorder()
			cb.ServeHTTP(rec, httptest.NewRequest("GET", path+tc.query, nil))
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d", rec.Code, tc.status)
			}
			select {
			case res := <-cb.done:
				if !tc.finished {
					t.Fatalf("the wait ended with %+v", res)
				}
				if tc.err == "" && (res.err != nil || res.code != "c") {
					t.Fatalf("result %+v, want the code", res)
				}
				if tc.err != "" && (res.err == nil || !strings.Contains(res.err.Error(), tc.err)) {
					t.Fatalf("result %+v, want an error with %q", res, tc.err)
				}
			default:
				if tc.finished {
					t.Fatal("the wait did not end")
				}
			}
		})
	}
}

func TestNextPage(t *testing.T) {
	first, _ := url.Parse("http://127.0.0.1:9090/api/photos?limit=100")
	tests := []struct{ link, want string }{
		{`</api/photos?limit=100&cursor=abc>; rel="next"`, "http://127.0.0.1:9090/api/photos?limit=100&cursor=abc"},
		{`<http://evil.example/api/photos?cursor=abc>; rel="next"`, ""},
		{`</api/other?cursor=abc>; rel="next"`, ""},
		{`</api/photos?cursor=abc>; rel="prev"`, ""},
		{``, ""},
	}
	for _, tc := range tests {
		got := nextPage(first, tc.link)
		if (got == nil && tc.want != "") || (got != nil && got.String() != tc.want) {
			t.Errorf("nextPage(%q) = %v, want %q", tc.link, got, tc.want)
		}
	}
}

// TestFlagsAnywhere: a command's flags come before or after its arguments.
func TestFlagsAnywhere(t *testing.T) {
	for _, args := range [][]string{{"ID", "-o", "f.png"}, {"-o", "f.png", "ID"}, {"-v", "ID", "-o", "f.png"}, {"-o", "f.png", "--", "ID"}} {
		c := &cli{stderr: io.Discard}
		var out string
		rest, err := c.flags("get", args, func(fs *flag.FlagSet) { fs.StringVar(&out, "o", "", "") })
		if err != nil || len(rest) != 1 || rest[0] != "ID" || out != "f.png" {
			t.Errorf("flags(%q) = %q, -o %q, %v", args, rest, out, err)
		}
	}
	// An id may begin with "-": after "--" it is an argument, not a flag.
	c := &cli{stderr: io.Discard}
	var out string
	if rest, err := c.flags("get", []string{"-o", "f.png", "--", "-AbC"}, func(fs *flag.FlagSet) { fs.StringVar(&out, "o", "", "") }); err != nil || len(rest) != 1 || rest[0] != "-AbC" {
		t.Errorf("an id after --: %q, %v", rest, err)
	}
	if err := run(context.Background(), []string{"frobnicate"}, env("HOME", t.TempDir()), nil, io.Discard, io.Discard); err == nil {
		t.Error("an unknown command: no error")
	}
	if err := run(context.Background(), nil, env("HOME", t.TempDir()), nil, io.Discard, io.Discard); err == nil {
		t.Error("no command: no error")
	}
}

// TestIDTokenChecks signs in at a real ImageHost process with the
// authorization code flow, as -loopback does, and hands the tokens to the
// check every sign-in ends with: go-oidc's verification, then the nonce and
// at_hash, which are the caller's to check.
func TestIDTokenChecks(t *testing.T) {
	ih := harness.ImageHost(t, "http://localhost:8080")
	ctx := context.Background()
	c := &cli{opts: options{issuer: ih.URL, clientID: defaultClientID}, stdout: io.Discard, stderr: io.Discard}
	p, err := c.discover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cfg := c.oauthConfig(p)
	cfg.RedirectURL = "http://127.0.0.1:1/callback" // any loopback port: never followed here
	verifier, nonce := oauth2.GenerateVerifier(), oauth2.GenerateVerifier()
	back := harness.MustSignIn(t, harness.NewBrowser(), cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier), oidc.Nonce(nonce)),
		"alice", "wonderland")
	code, err := harness.Code(back)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := cfg.Exchange(c.clientContext(ctx), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	creds, err := c.signedIn(ctx, p, tok, nonce)
	if err != nil || creds.Username != "alice" || creds.RefreshToken == "" {
		t.Fatalf("signedIn = %+v, %v", creds, err)
	}
	if _, err := c.signedIn(ctx, p, tok, "another nonce"); err == nil || !strings.Contains(err.Error(), "nonce") {
		t.Fatalf("an ID token with another sign-in's nonce: %v, want it refused", err)
	}
	if _, err := c.signedIn(ctx, p, tok, ""); err == nil {
		t.Fatal("an ID token with a nonce where none was sent: accepted")
	}
	swapped := *tok
	swapped.AccessToken = tok.AccessToken[:len(tok.AccessToken)-4] + "AAAA"
	if _, err := c.signedIn(ctx, p, swapped.WithExtra(map[string]any{"id_token": tok.Extra("id_token")}), nonce); err == nil {
		t.Fatal("an access token that does not match the ID token's at_hash: accepted")
	}
	other := &cli{opts: options{issuer: ih.URL, clientID: "photoeditorapp"}, stdout: io.Discard, stderr: io.Discard}
	if _, err := other.signedIn(ctx, p, tok, nonce); err == nil {
		t.Fatal("an ID token for another client (aud): accepted")
	}
}

// TestThirdParty: the command is a third party of its own, like
// PhotoEditorApp: it talks to ImageHost over HTTP only, and imports no
// package of this module (its tests may start ImageHost, as a process).
func TestThirdParty(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range pkg.Imports {
		if strings.HasPrefix(imp, "oauthdemo/") {
			t.Errorf("cmd/photos imports %s", imp)
		}
	}
}

// TestDPoPKeyFile: the DPoP key is the user's alone, as the tokens are: a
// 0600 file beside the credentials, refused once others may read it.
func TestDPoPKeyFile(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permissions")
	}
	dir := filepath.Join(t.TempDir(), "imagehost-photos")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := keyFile(credentialsFile(dir))
	key, err := newProofKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := key.save(path); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("%s: %v, %v; want 0600", path, info.Mode().Perm(), err)
	}
	loaded, err := loadKey(path)
	if err != nil || !loaded.private.Equal(key.private) {
		t.Fatalf("the key read back: %v", err)
	}
	os.Chmod(path, 0o644)
	if _, err := loadKey(path); err == nil || !strings.Contains(err.Error(), "can be read by others") {
		t.Fatalf("a key others may read: %v, want it refused", err)
	}
	os.Remove(path)
	if _, err := loadKey(path); err == nil || !strings.Contains(err.Error(), "bound to a DPoP key") {
		t.Fatalf("no key: %v", err)
	}
}
