package main

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
)

// TestDemoExpiryClient: the client of PhotoEditorApp's expired-token
// demonstration gets access tokens that live one second and may only read
// photos, so the demonstration can show a real refusal of a token past its
// exp at once, whatever the demo's other tokens live.
func TestDemoExpiryClient(t *testing.T) {
	base, _, stop := serveDemo(t, "127.0.0.1:0", filepath.Join(t.TempDir(), "data"))
	defer stop()
	secret := publishedDemo["IMAGEHOST_DEMO_EXPIRY_CLIENT_SECRET"]
	resp := postBasic(t, base+"/token", demoExpiryClientID, secret, url.Values{"grant_type": {"client_credentials"}, "scope": {"photos.write"}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("the expiry client asking for photos.write: %s, want 400", resp.Status)
	}
	resp = postBasic(t, base+"/token", demoExpiryClientID, secret, url.Values{"grant_type": {"client_credentials"}})
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
		Scope       string `json:"scope"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("client credentials: %s %v", resp.Status, err)
	}
	parts := strings.Split(tok.AccessToken, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[min(1, len(parts)-1)])
	var claims struct{ Iat, Exp int64 }
	json.Unmarshal(payload, &claims)
	// exp is in whole seconds: expires_in is 1, or 0 for a token minted
	// in the second half of a second.
	if tok.ExpiresIn > 1 || claims.Exp-claims.Iat != 1 || tok.Scope != "photos.read" {
		t.Fatalf("expires_in %d, exp-iat %d, scope %q: want a one-second photos.read token", tok.ExpiresIn, claims.Exp-claims.Iat, tok.Scope)
	}
}
