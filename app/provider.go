package main

// What PhotoEditorApp knows of ImageHost, found through its discovery
// document (OpenID Connect Discovery 1.0) on first use.

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
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
	// keys are the sessions' DPoP keys (dpop.go); nil when DPoP is off.
	keys *dpopKeys

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
	keys *keySet
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
		Revocation string   `json:"revocation_endpoint"`
		JWKS       string   `json:"jwks_uri"`
		EndSession string   `json:"end_session_endpoint"`
		ISS        bool     `json:"authorization_response_iss_parameter_supported"`
		IDTokenAlg []string `json:"id_token_signing_alg_values_supported"`
	}
	if err := op.Claims(&extra); err != nil {
		return nil, fmt.Errorf("read discovery document: %w", err)
	}
	if extra.JWKS == "" {
		return nil, fmt.Errorf("discover %s: no jwks_uri", p.issuer)
	}
	// The keys are fetched with the context of the verification that
	// needs them, never with this request's: it would record every later
	// fetch in the flow of the browser that happened to come first.
	keys := &keySet{url: extra.JWKS, http: p.http, now: p.now}
	// The algorithms ImageHost signs ID tokens with, among those the key
	// set accepts; none listed means RS256, OIDC Core's mandatory one.
	var algs []string
	for _, alg := range extra.IDTokenAlg {
		if slices.Contains(signingAlgs, jose.SignatureAlgorithm(alg)) {
			algs = append(algs, alg)
		}
	}
	// The client authenticates with HTTP Basic, client_secret_basic (RFC
	// 6749 §2.3.1), which every authorization server must support. Left to
	// guess (AuthStyleAutoDetect), x/oauth2 sends a token request that
	// failed once more with the secret in the form, until one has
	// succeeded in this process: a code or refresh token presented twice,
	// which ImageHost takes for a replay and revokes the grant for
	// (RFC 9700 §4.14.2). An instance behind a load balancer that has not
	// yet redeemed anything would do so at its first refused exchange, or
	// at a refresh whose answer a dying ImageHost never sent.
	endpoint := op.Endpoint()
	endpoint.AuthStyle = oauth2.AuthStyleInHeader
	p.d = &discovered{
		oauth: oauth2.Config{
			ClientID: p.clientID, ClientSecret: p.clientSecret, RedirectURL: p.redirectURI,
			Endpoint: endpoint, Scopes: scopes,
		},
		verifier:              oidc.NewVerifier(p.issuer, keys, &oidc.Config{ClientID: p.clientID, Now: p.now, SupportedSigningAlgs: algs}),
		revocationURL:         extra.Revocation,
		endSessionURL:         extra.EndSession,
		issParameterSupported: extra.ISS,
		keys:                  keys,
	}
	return p.d, nil
}
