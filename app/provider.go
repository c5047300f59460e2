package main

// What PhotoEditorApp knows of ImageHost, found through its discovery
// document (OpenID Connect Discovery 1.0) on first use.

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"oauthdemo/app/flow"
)

// scopes the app asks for: sign-in (openid, profile), refresh tokens
// (offline_access) and the photos.
var scopes = []string{oidc.ScopeOpenID, "profile", oidc.ScopeOfflineAccess, "photos.read", "photos.write"}

// provider is ImageHost as an OpenID provider, discovered lazily: the app
// starts even when ImageHost is not up yet, and retries on the next request.
type provider struct {
	issuer       string
	clientID     string
	clientSecret string
	redirectURI  string
	http         *http.Client // for every back-channel call to ImageHost
	now          func() time.Time

	mu sync.Mutex
	d  *discovered
}

// discovered is the result of discovery.
type discovered struct {
	oauth         oauth2.Config
	verifier      *oidc.IDTokenVerifier
	revocationURL string
	endSessionURL string
	// RFC 9207 §3: when the server says it sends iss, the client MUST check it.
	issParameterSupported bool
	// keys verifies any JWT ImageHost signed, access tokens included, for
	// the workshop inspector.
	keys *oidc.RemoteKeySet
}

// withHTTP makes go-oidc and x/oauth2 use the app's HTTP client.
func (p *provider) withHTTP(ctx context.Context) context.Context {
	return oidc.ClientContext(context.WithValue(ctx, oauth2.HTTPClient, p.http), p.http)
}

// discover fetches the discovery document once it succeeds, and keeps it.
func (p *provider) discover(ctx context.Context) (*discovered, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.d != nil {
		return p.d, nil
	}
	// go-oidc checks that the document's issuer is exactly the one we
	// asked for (OpenID Connect Discovery §4.3).
	ctx = flow.WithStep(ctx, flow.StepDiscovery)
	op, err := oidc.NewProvider(p.withHTTP(ctx), p.issuer)
	if err != nil {
		return nil, fmt.Errorf("discover %s: %w", p.issuer, err)
	}
	var extra struct {
		Revocation string `json:"revocation_endpoint"`
		JWKS       string `json:"jwks_uri"`
		EndSession string `json:"end_session_endpoint"`
		ISS        bool   `json:"authorization_response_iss_parameter_supported"`
	}
	if err := op.Claims(&extra); err != nil {
		return nil, fmt.Errorf("read discovery document: %w", err)
	}
	p.d = &discovered{
		oauth: oauth2.Config{
			ClientID: p.clientID, ClientSecret: p.clientSecret, RedirectURL: p.redirectURI,
			Endpoint: op.Endpoint(), Scopes: scopes,
		},
		verifier:              op.VerifierContext(p.withHTTP(context.WithoutCancel(ctx)), &oidc.Config{ClientID: p.clientID, Now: p.now}),
		revocationURL:         extra.Revocation,
		endSessionURL:         extra.EndSession,
		issParameterSupported: extra.ISS,
		keys:                  oidc.NewRemoteKeySet(p.withHTTP(context.WithoutCancel(ctx)), extra.JWKS),
	}
	return p.d, nil
}
