package main

// DPoP (RFC 9449) in PhotoEditorApp, against a real ImageHost: each session
// has a key of its own, kept sealed with its tokens; the tokens are bound
// to it; a token taken from the app is refused without the key; the
// inspector shows each proof decoded and never the private key; a new
// login gets a new key.

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"oauthdemo/app/dpop"
	"oauthdemo/app/flow"
	"oauthdemo/app/tokenstore"
)

// claimsOf decodes a JWT's claims, unverified.
func claimsOf(t *testing.T, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %.20s…", jwt)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// keyOf opens a session's sealed key, as the app does.
func (a *testApp) keyOf(sess tokenstore.Session) *dpop.Key {
	a.t.Helper()
	_, encKey, err := sessionKeys(a.cfg)
	if err != nil {
		a.t.Fatal(err)
	}
	key, err := dpop.NewSealer(encKey).Open(sess.DPoPKey, sess.ID)
	if err != nil {
		a.t.Fatalf("the session's key does not open: %v", err)
	}
	return key
}

// boundTo returns the cnf.jkt of an access token.
func boundTo(t *testing.T, accessToken string) string {
	t.Helper()
	cnf, _ := claimsOf(t, accessToken)["cnf"].(map[string]any)
	jkt, _ := cnf["jkt"].(string)
	return jkt
}

// apiWithBearer calls ImageHost's photos API with token as a bearer token,
// as a thief who took it from the app would, and returns the status.
func (a *testApp) apiWithBearer(token string) int {
	a.t.Helper()
	resp := apiCallWith(a.t, a.imageHost.URL+"/api/photos", "Bearer "+token)
	resp.Body.Close()
	return resp.StatusCode
}

func TestSessionTokensAreBoundToTheSessionsKey(t *testing.T) {
	eachStore(t, func(t *testing.T, configure func(*Config)) {
		a := newTestAppWith(t, configure)
		u := newUser(t)
		if page := a.connect(u, "alice", "wonderland"); !strings.Contains(page, "Sunset over the sea") {
			t.Fatal("no gallery: the API calls with proofs failed")
		}
		sess := a.session(u)
		if !strings.HasPrefix(sess.DPoPKey, "v1.") {
			t.Fatalf("the session keeps no sealed DPoP key: %q", sess.DPoPKey)
		}
		key := a.keyOf(sess)
		if got := boundTo(t, sess.AccessToken); got == "" || got != key.Thumbprint() {
			t.Fatalf("the access token is bound to %q, want the session's key %q", got, key.Thumbprint())
		}
		// Taken from the app's store, the token is useless without the key.
		if s := a.apiWithBearer(sess.AccessToken); s != 401 {
			t.Fatalf("the session's access token as a bearer token: %d, want 401", s)
		}
		// A sealed key opens for its own session only.
		_, encKey, _ := sessionKeys(a.cfg)
		if _, err := dpop.NewSealer(encKey).Open(sess.DPoPKey, "another-session"); err == nil {
			t.Fatal("a session's sealed key opens for another session")
		}

		// A refresh keeps the key, and binds the new access token to it.
		_, page := u.get(a.URL + "/flow")
		u.post(a.URL+"/flow/expire", url.Values{"_csrf": {hidden(page).Get("_csrf")}})
		if _, page := u.get(a.URL + "/photos"); !strings.Contains(page, "Sunset over the sea") {
			t.Fatal("no gallery after the refresh")
		}
		after := a.session(u)
		if after.Refreshes != 1 || after.DPoPKey != sess.DPoPKey || boundTo(t, after.AccessToken) != key.Thumbprint() {
			t.Fatalf("after a refresh: %d refreshes, key kept %v, bound to %q", after.Refreshes, after.DPoPKey == sess.DPoPKey, boundTo(t, after.AccessToken))
		}

		// A new login in the same browser: a new session, and a new key.
		a.connect(u, "alice", "wonderland")
		next := a.session(u)
		if next.ID == sess.ID || a.keyOf(next).Thumbprint() == key.Thumbprint() || boundTo(t, next.AccessToken) != a.keyOf(next).Thumbprint() {
			t.Fatal("a new login kept the old session's key")
		}
	})
}

// TestInspectorShowsProofsNotTheKey: every call to ImageHost is recorded
// with its proof, which the inspector shows decoded; neither the inspector
// (revealed) nor the exports (masked) hold a proof's signature, the sealed
// key or a private key.
func TestInspectorShowsProofsNotTheKey(t *testing.T) {
	a := newTestApp(t)
	u := newUser(t)
	a.connect(u, "alice", "wonderland")
	sess := a.session(u)
	_, page := u.get(a.URL + "/flow?reveal=1")
	for _, want := range []string{"DPoP proof, decoded", "dpop+jwt", `&#34;htm&#34;: &#34;POST&#34;`, `&#34;ath&#34;:`,
		"use_dpop_nonce", a.keyOf(sess).Thumbprint(), flow.SignatureMark} {
		if !strings.Contains(page, want) {
			t.Errorf("the revealed inspector lacks %q", want)
		}
	}
	_, md := u.get(a.URL + "/flow/export.md")
	_, har := u.get(a.URL + "/flow/export.har")
	signed := regexp.MustCompile(`eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+`)
	if !strings.Contains(page, "."+flow.SignatureMark) {
		t.Error("the revealed inspector shows no DPoP header")
	}
	// The exports mask the DPoP header as they mask tokens.
	for what, out := range map[string]string{"inspector": page, "Markdown": md, "HAR": har} {
		for _, jws := range signed.FindAllString(out, -1) {
			header, _ := base64.RawURLEncoding.DecodeString(strings.Split(jws, ".")[0])
			if strings.Contains(string(header), "dpop+jwt") {
				t.Errorf("the %s holds a DPoP proof with its signature: %.60s…", what, jws)
			}
		}
		if strings.Contains(out, sess.DPoPKey) || strings.Contains(out, sess.DPoPKey[3:20]) {
			t.Errorf("the %s shows the sealed key", what)
		}
		if regexp.MustCompile(`\\?"d\\?"\s*:`).MatchString(out) {
			t.Errorf("the %s shows a private key's d", what)
		}
	}
}

// TestDPoPOff: PHOTOEDITOR_DPOP=false, bearer tokens as before.
func TestDPoPOff(t *testing.T) {
	a := newTestAppWith(t, func(c *Config) { c.DPoP = false })
	u := newUser(t)
	if page := a.connect(u, "alice", "wonderland"); !strings.Contains(page, "Sunset over the sea") {
		t.Fatal("no gallery")
	}
	sess := a.session(u)
	if sess.DPoPKey != "" || boundTo(t, sess.AccessToken) != "" {
		t.Fatalf("with DPoP off the session has key %q, token bound to %q", sess.DPoPKey, boundTo(t, sess.AccessToken))
	}
	if s := a.apiWithBearer(sess.AccessToken); s != 200 {
		t.Fatalf("a bearer token: %d", s)
	}
	if cfg, err := parseConfig(nil, func(k string) string {
		return map[string]string{"PHOTOEDITOR_CLIENT_SECRET": "s", "PHOTOEDITOR_DPOP": "false"}[k]
	}, nil); err != nil || cfg.DPoP {
		t.Fatalf("PHOTOEDITOR_DPOP=false: %v, DPoP %v", err, cfg.DPoP)
	}
	if cfg, _ := parseConfig(nil, func(k string) string { return map[string]string{"PHOTOEDITOR_CLIENT_SECRET": "s"}[k] }, nil); !cfg.DPoP {
		t.Fatal("DPoP is not on by default")
	}
}

// TestDPoPAttacksAreRefused presses the three DPoP buttons: ImageHost
// refuses each, with its real answer, and the gallery works after them.
func TestDPoPAttacksAreRefused(t *testing.T) {
	a := newTestApp(t)
	u := newUser(t)
	a.connect(u, "alice", "wonderland")
	for _, tc := range []struct{ attack, want string }{
		{"dpop-no-proof", "ImageHost answered 401 invalid_token (the access token is bound to a DPoP key"},
		{"dpop-other-key", "ImageHost answered 401 invalid_token (the DPoP proof was made with another key"},
		{"dpop-replayed-proof", "the app&#39;s own request: ImageHost answered 200; the same token and proof once more: ImageHost answered 401 invalid_dpop_proof (the DPoP proof was used before"},
	} {
		if page := a.attack(u, tc.attack); !strings.Contains(page, tc.want) {
			t.Fatalf("%s: %q is not on the page:\n%s", tc.attack, tc.want, page)
		}
	}
	if _, page := u.get(a.URL + "/photos"); !strings.Contains(page, "Sunset over the sea") {
		t.Fatal("after the DPoP attacks the gallery no longer works")
	}
}

// TestDPoPAttacksSucceedWithEnforcementOff: in lab mode, with ImageHost's
// DPoP enforcement switched off, the stolen token gets in each way; back on,
// it is refused again.
func TestDPoPAttacksSucceedWithEnforcementOff(t *testing.T) {
	a := newTestAppWith(t, func(c *Config) { c.Lab = true }, "IMAGEHOST_LAB=true")
	u := newUser(t)
	a.connect(u, "alice", "wonderland")
	labFlip(t, u, a.imageHost.URL, "defence", "dpop", false)
	for _, name := range []string{"dpop-no-proof", "dpop-other-key", "dpop-replayed-proof"} {
		if page := a.attack(u, name); !strings.Contains(page, "the attack succeeded") {
			t.Fatalf("%s with ImageHost's DPoP enforcement off:\n%s", name, page)
		}
	}
	labFlip(t, u, a.imageHost.URL, "defence", "dpop", true)
	if page := a.attack(u, "dpop-no-proof"); !strings.Contains(page, "401 invalid_token") {
		t.Fatalf("with DPoP enforcement back on:\n%s", page)
	}
}

// apiCallWith calls u with the Authorization header authorization.
func apiCallWith(t *testing.T, u, authorization string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	req.Header.Set("Authorization", authorization)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// TestRefusedProofKeepsTheSession: when ImageHost refuses the app's DPoP
// proof (invalid_dpop_proof) the user sees an error and stays signed in;
// only a grant that is gone ends the session. Here the proofs are refused
// for the app's clock, minutes off ImageHost's (RFC 9449 §4.3 check 11):
// behind, so the access token still looks good and the photos API refuses
// the proof; ahead, so the token looks expired and the token endpoint
// refuses the refresh's proof. Back on time, the same session goes on.
func TestRefusedProofKeepsTheSession(t *testing.T) {
	a := newTestApp(t, "IMAGEHOST_LOG_LEVEL=info") // info: ImageHost logs each refusal
	u := newUser(t)
	a.connect(u, "alice", "wonderland")
	before := a.session(u)
	for _, skew := range []time.Duration{-3 * time.Minute, time.Hour} {
		a.skew.Store(int64(skew))
		resp, page := u.get(a.URL + "/photos")
		if resp.Request.URL.String() != a.URL+"/photos" || resp.StatusCode != http.StatusBadGateway ||
			!strings.Contains(page, "ImageHost refused the request") || !strings.Contains(page, "still connected") {
			t.Fatalf("the app's clock %v off: /photos ended at %s with %d, want 502 \"ImageHost refused the request\":\n%s",
				skew, resp.Request.URL, resp.StatusCode, page)
		}
		if s := a.session(u); s.RefreshToken != before.RefreshToken || s.AccessToken != before.AccessToken {
			t.Fatalf("the app's clock %v off: the session's tokens changed or are gone", skew)
		}
	}
	if out := a.imageHost.Output(); !strings.Contains(out, `"token request refused" error=invalid_dpop_proof`) {
		t.Fatalf("ImageHost did not refuse the refresh's proof:\n%s", out)
	}
	a.skew.Store(0)
	if resp, page := u.get(a.URL + "/photos"); resp.StatusCode != http.StatusOK || !strings.Contains(page, "Sunset over the sea") {
		t.Fatalf("the clock back on time: /photos %d at %s", resp.StatusCode, resp.Request.URL)
	}
}
