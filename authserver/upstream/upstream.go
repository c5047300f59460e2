// Package upstream is ImageHost as a client of another OpenID provider: a
// company's sign-in service ("Corporate SSO") that ImageHost's users may
// sign in through instead of typing an ImageHost password. ImageHost is a
// confidential client of it and runs the authorization code flow as
// PhotoEditorApp runs it against ImageHost (OpenID Connect Core §3.1, with
// PKCE S256, RFC 7636, and the iss parameter, RFC 9207).
//
// A Provider finds the upstream's endpoints through its discovery document
// on first use, builds the authorization request the browser is sent to,
// and redeems the code the browser brings back: it exchanges the code
// with ImageHost's client secret and the PKCE verifier, verifies the ID
// token with go-oidc (signature against the upstream's published keys,
// iss, aud, exp) and then its nonce, which go-oidc leaves to the caller.
// What the browser and the session have to do with it (state, cookies,
// accounts) is the caller's: authserver's upstream_*.go files.
//
// Every request to the upstream goes through outbound's client, which
// follows no redirect and uses no proxy, with a time limit; every answer is
// read up to MaxAnswerBytes; and at most MaxInFlight redemptions run at
// once per upstream, the others waiting up to MaxWait.
package upstream

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"oauthdemo/authserver/outbound"
)

// The bounds of talking to an upstream provider (SECURITY.md lists them).
const (
	// RequestTimeout ends each request to the upstream, its answer
	// included.
	RequestTimeout = 5 * time.Second
	// MaxAnswerBytes bounds every answer read from the upstream: its
	// discovery document, its keys, its token response. Each is a few
	// kilobytes.
	MaxAnswerBytes = 1 << 20
	// MaxInFlight redemptions (a code exchange and the key fetch it may
	// need) run at once per upstream; MaxWait is how long another waits
	// for one of them to end before it is told ErrBusy.
	MaxInFlight = 8
	MaxWait     = 3 * time.Second
	// RetryDiscoveryAfter is how long a failed discovery is remembered:
	// requests in the meantime fail at once instead of each asking an
	// upstream that is down.
	RetryDiscoveryAfter = 10 * time.Second
	// MaxSubjectLength is OpenID Connect Core §2's bound on "sub": "It
	// MUST NOT exceed 255 ASCII [RFC20] characters in length."
	MaxSubjectLength = 255
)

// Scopes are what ImageHost asks the upstream for: a sign-in (openid), a
// name to suggest for a new account (profile), and an address to keep on
// it if the upstream verified it (email).
var Scopes = []string{oidc.ScopeOpenID, "profile", "email"}

// Config is one upstream provider, as the operator configures it.
type Config struct {
	Name         string // in URLs and settings: lower-case letters, digits and hyphens
	DisplayName  string // on the login page: "Continue with <DisplayName>"
	Issuer       string // its issuer identifier, exactly as its discovery document says it
	ClientID     string // ImageHost's client_id there
	ClientSecret string // and its secret
}

// namePattern is what a Config's Name may be: it appears in a URL path and
// in variable names.
var namePattern = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)

// Validate reports the first setting of c that cannot work.
func (c Config) Validate() error {
	if !namePattern.MatchString(c.Name) {
		return fmt.Errorf("upstream name %q: use 1 to 32 lower-case letters, digits and hyphens, starting with a letter", c.Name)
	}
	u, err := url.Parse(c.Issuer)
	switch {
	case c.Issuer == "":
		return fmt.Errorf("upstream %s: no issuer", c.Name)
	case err != nil || !u.IsAbs() || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(c.Issuer, "/"):
		// OpenID Connect Core §1.2: an Issuer Identifier "is a
		// case-sensitive URL using the https scheme that contains scheme,
		// host, and optionally, port number and path components and no
		// query or fragment components".
		return fmt.Errorf("upstream %s: issuer %q must be an absolute URL without a query, fragment or trailing slash", c.Name, c.Issuer)
	case u.Scheme != "https" && !(u.Scheme == "http" && loopbackHost(u.Hostname())):
		// Plain HTTP only on this machine, as for the demo's Corporate
		// SSO: anywhere else the code and the client secret would cross
		// the network readable.
		return fmt.Errorf("upstream %s: issuer %q must use https (http only on loopback)", c.Name, c.Issuer)
	case c.ClientID == "":
		return fmt.Errorf("upstream %s: no client_id", c.Name)
	case len(c.ClientSecret) < 16:
		return fmt.Errorf("upstream %s: the client secret must be at least 16 characters", c.Name)
	case utf8.RuneCountInString(c.DisplayName) > 40:
		return fmt.Errorf("upstream %s: the display name must be at most 40 characters", c.Name)
	}
	return nil
}

func loopbackHost(host string) bool {
	return host == "localhost" || host == "::1" || strings.HasPrefix(host, "127.")
}

// Errors of a Provider besides Refused.
var (
	// ErrUnavailable: the upstream could not be reached, or answered
	// nothing usable (its discovery document, a 5xx, a timeout).
	ErrUnavailable = errors.New("upstream: the provider is unavailable")
	// ErrBusy: MaxInFlight redemptions were running for MaxWait.
	ErrBusy = errors.New("upstream: too many sign-ins at once")
)

// Refused is an answer from the upstream that a rule says to refuse: a
// wrong issuer, a code it would not exchange, an ID token that does not
// verify, a nonce that does not match. Reason is written here and safe to
// show and log; it holds nothing the upstream chose except its error code.
type Refused struct{ Reason string }

// Error says what was refused and why.
func (e *Refused) Error() string { return "upstream: refused: " + e.Reason }

func refused(format string, args ...any) error { return &Refused{Reason: fmt.Sprintf(format, args...)} }

// Provider is one upstream OpenID provider, discovered on first use.
type Provider struct {
	Config
	redirectURI string
	http        *http.Client
	now         func() time.Time
	slots       chan struct{} // MaxInFlight redemptions
	// keysContext is the context the upstream's key set fetches keys with.
	// The fetch outlives the request that needed it (go-oidc shares one
	// fetch among all who wait), so it carries only the HTTP client.
	keysContext context.Context

	mu       sync.Mutex
	d        *discovered
	failedAt time.Time
}

// discovered is what the upstream's discovery document says.
type discovered struct {
	oauth    oauth2.Config
	verifier *oidc.IDTokenVerifier
	// RFC 9207 §3: authorization_response_iss_parameter_supported.
	issParameter bool
	algs         []string // the ID token algorithms accepted
}

// New returns the Provider for c, redirecting the browser back to
// redirectURI. Its requests go only where policy allows.
func New(c Config, redirectURI string, policy outbound.Policy, now func() time.Time) *Provider {
	client := policy.Client(RequestTimeout)
	client.Transport = boundedTransport{base: client.Transport, max: MaxAnswerBytes}
	if c.DisplayName == "" {
		c.DisplayName = c.Name
	}
	return &Provider{Config: c, redirectURI: redirectURI, http: client, now: now, slots: make(chan struct{}, MaxInFlight),
		keysContext: oidc.ClientContext(context.Background(), client)}
}

// RedirectURI is where the upstream sends the browser back.
func (p *Provider) RedirectURI() string { return p.redirectURI }

// withHTTP makes go-oidc and x/oauth2 use the provider's HTTP client.
func (p *Provider) withHTTP(ctx context.Context) context.Context {
	return oidc.ClientContext(context.WithValue(ctx, oauth2.HTTPClient, p.http), p.http)
}

// discover reads the upstream's discovery document once it succeeds, and
// keeps it. One discovery runs at a time; after a failure, requests fail
// at once for RetryDiscoveryAfter.
func (p *Provider) discover(ctx context.Context) (*discovered, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.d != nil {
		return p.d, nil
	}
	if !p.failedAt.IsZero() && p.now().Sub(p.failedAt) < RetryDiscoveryAfter {
		return nil, ErrUnavailable
	}
	d, err := p.fetchDiscovery(ctx)
	if err != nil {
		p.failedAt = p.now()
		return nil, fmt.Errorf("%w: %s: %v", ErrUnavailable, p.Issuer, err)
	}
	p.d = d
	return d, nil
}

func (p *Provider) fetchDiscovery(ctx context.Context) (*discovered, error) {
	// go-oidc checks that the document names exactly the issuer we asked
	// about (OpenID Connect Discovery §4.3): "The issuer value returned
	// MUST be identical to the Issuer URL that was used as the prefix to
	// /.well-known/openid-configuration to retrieve the configuration
	// information."
	op, err := oidc.NewProvider(p.withHTTP(ctx), p.Issuer)
	if err != nil {
		return nil, err
	}
	var md struct {
		JWKS        string   `json:"jwks_uri"`
		ISS         bool     `json:"authorization_response_iss_parameter_supported"`
		IDTokenAlgs []string `json:"id_token_signing_alg_values_supported"`
		AuthMethods []string `json:"token_endpoint_auth_methods_supported"`
	}
	if err := op.Claims(&md); err != nil {
		return nil, err
	}
	endpoint := op.Endpoint()
	// The endpoints get the code, the client secret and the keys' trust:
	// https only, as the issuer; plain http only on this machine, for an
	// issuer on this machine.
	for what, u := range map[string]string{"authorization_endpoint": endpoint.AuthURL, "token_endpoint": endpoint.TokenURL, "jwks_uri": md.JWKS} {
		if err := p.checkEndpoint(u); err != nil {
			return nil, fmt.Errorf("%s %q: %w", what, truncate(u, 200), err)
		}
	}
	// How ImageHost authenticates at the token endpoint: HTTP Basic, which
	// RFC 6749 §2.3.1 says every server MUST support and the metadata's
	// default is (RFC 8414 §2), unless the upstream lists only the form.
	switch {
	case len(md.AuthMethods) == 0 || slices.Contains(md.AuthMethods, "client_secret_basic"):
		endpoint.AuthStyle = oauth2.AuthStyleInHeader
	case slices.Contains(md.AuthMethods, "client_secret_post"):
		endpoint.AuthStyle = oauth2.AuthStyleInParams
	default:
		return nil, fmt.Errorf("the token endpoint takes neither client_secret_basic nor client_secret_post: %v", md.AuthMethods)
	}
	// The algorithms the ID token may be signed with: those the upstream
	// lists that go-oidc verifies; none listed means RS256, the one OpenID
	// Connect Core §15.1 makes every provider support. Never "none".
	var algs []string
	for _, alg := range md.IDTokenAlgs {
		if slices.Contains(signingAlgs, alg) {
			algs = append(algs, alg)
		}
	}
	if len(algs) == 0 {
		algs = []string{oidc.RS256}
	}
	keys := oidc.NewRemoteKeySet(p.keysContext, md.JWKS)
	return &discovered{
		oauth: oauth2.Config{ClientID: p.ClientID, ClientSecret: p.ClientSecret, RedirectURL: p.redirectURI,
			Endpoint: endpoint, Scopes: Scopes},
		verifier:     oidc.NewVerifier(p.Issuer, keys, &oidc.Config{ClientID: p.ClientID, Now: p.now, SupportedSigningAlgs: algs}),
		issParameter: md.ISS,
		algs:         algs,
	}, nil
}

// checkEndpoint accepts an https URL, or an http one on loopback when the
// issuer is on loopback itself.
func (p *Provider) checkEndpoint(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case raw == "":
		return errors.New("missing")
	case err != nil || !u.IsAbs() || u.Host == "" || u.User != nil || u.Fragment != "":
		return errors.New("not an absolute URL")
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && loopbackHost(u.Hostname()) && strings.HasPrefix(p.Issuer, "http:"):
		return nil
	}
	return errors.New("must use https")
}

// signingAlgs are the asymmetric algorithms go-oidc verifies.
var signingAlgs = []string{oidc.RS256, oidc.RS384, oidc.RS512, oidc.ES256, oidc.ES384, oidc.ES512, oidc.PS256, oidc.PS384, oidc.PS512, oidc.EdDSA}

// AuthorizationURL is the upstream's authorization endpoint with an
// authorization request for ImageHost (OpenID Connect Core §3.1.2.1):
// response_type=code, ImageHost's client_id and redirect URI, the scopes,
// state, nonce and the PKCE challenge of verifier (S256). extra adds
// parameters such as prompt and max_age.
func (p *Provider) AuthorizationURL(ctx context.Context, state, nonce, verifier string, extra url.Values) (string, error) {
	d, err := p.discover(ctx)
	if err != nil {
		return "", err
	}
	opts := []oauth2.AuthCodeOption{oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)}
	for k, vs := range extra {
		opts = append(opts, oauth2.SetAuthURLParam(k, vs[0]))
	}
	return d.oauth.AuthCodeURL(state, opts...), nil
}

// CheckIssuer applies RFC 9207 §2.4 to the iss parameter of an
// authorization response: "Clients that support this specification MUST
// extract the value of the iss parameter from authorization responses
// they receive if the parameter is present. Clients MUST then decode the
// value ... and compare the result to the issuer identifier of the
// authorization server where the authorization request was sent to." and
// "If the value does not match the expected issuer identifier, clients MUST
// reject the authorization response", and "Clients MUST reject
// authorization responses without the iss parameter from authorization
// servers that do support the parameter according to the client's
// configuration": here, the upstream's metadata. This defeats mix-up: an
// answer from one provider replayed at another's redirect URI. It returns
// whether iss was there to compare.
func (p *Provider) CheckIssuer(ctx context.Context, iss string) (bool, error) {
	d, err := p.discover(ctx)
	if err != nil {
		return false, err
	}
	switch {
	case iss == "" && d.issParameter:
		return false, refused("%s says it sends iss with its answers (RFC 9207), and this one had none", p.DisplayName)
	case iss == "":
		return false, nil
	case iss != p.Issuer:
		return true, refused("the answer names the issuer %q, not %s's %q (RFC 9207 §2.4: a mix-up)", truncate(iss, 200), p.DisplayName, p.Issuer)
	}
	return true, nil
}

// Identity is who the upstream says the user is, from its verified ID
// token, and how ImageHost found out: what the activity log tells.
type Identity struct {
	Issuer, Subject string
	// PreferredUsername, Name and a verified Email: suggestions for a
	// new account, never keys to an existing one.
	PreferredUsername string
	Name              string
	Email             string // empty unless email_verified was true
	EmailClaimed      string // the email claim, verified or not: for the log only
	AMR               []string
	AuthTime          time.Time // zero when the ID token had no auth_time
	SignedWith        string    // the ID token's algorithm and key id
}

// Redeem exchanges an authorization code at the upstream's token endpoint
// with ImageHost's client secret and the PKCE verifier (RFC 6749 §4.1.3,
// RFC 7636 §4.5), verifies the ID token of the answer and its nonce (OpenID
// Connect Core §3.1.3.7), and returns the identity it names. A rule the
// answer breaks is a *Refused; an upstream that does not answer is
// ErrUnavailable; too many redemptions at once, ErrBusy.
func (p *Provider) Redeem(ctx context.Context, code, verifier, nonce string) (Identity, error) {
	release, err := p.acquire(ctx)
	if err != nil {
		return Identity{}, err
	}
	defer release()
	d, err := p.discover(ctx)
	if err != nil {
		return Identity{}, err
	}
	tok, err := d.oauth.Exchange(p.withHTTP(ctx), code, oauth2.VerifierOption(verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode >= 400 && re.Response.StatusCode < 500 {
			// RFC 6749 §5.2: the upstream's refusal, by its error code.
			return Identity{}, refused("%s would not exchange the code: %s", p.DisplayName, truncate(re.ErrorCode, 64))
		}
		return Identity{}, fmt.Errorf("%w: token endpoint: %v", ErrUnavailable, err)
	}
	// OpenID Connect Core §3.1.3.3: the token response "MUST" include
	// id_token for an authentication request.
	rawID, _ := tok.Extra("id_token").(string)
	if rawID == "" {
		return Identity{}, refused("%s's token response had no ID token", p.DisplayName)
	}
	// OpenID Connect Core §3.1.3.7: the signature against the upstream's
	// keys, with an algorithm it announced (never "none"); iss exactly the
	// upstream's; aud containing ImageHost's client_id; exp in the future.
	// go-oidc does all of these ...
	idt, err := d.verifier.Verify(ctx, rawID)
	if err != nil {
		return Identity{}, refused("%s's ID token did not verify: %s", p.DisplayName, verifyReason(err))
	}
	// ... and leaves the nonce to us (§3.1.3.7 step 11): "If a nonce value
	// was sent in the Authentication Request, a nonce Claim MUST be present
	// and its value checked to verify that it is the same value as the one
	// that was sent in the Authentication Request." Compared in constant
	// time.
	if !equal(idt.Nonce, nonce) {
		if idt.Nonce == "" {
			return Identity{}, refused("%s's ID token has no nonce, but ImageHost sent one", p.DisplayName)
		}
		return Identity{}, refused("%s's ID token carries another sign-in's nonce (an ID token replayed or injected)", p.DisplayName)
	}
	var c struct {
		AZP               string   `json:"azp"`
		PreferredUsername string   `json:"preferred_username"`
		Name              string   `json:"name"`
		Email             string   `json:"email"`
		EmailVerified     any      `json:"email_verified"`
		AMR               []string `json:"amr"`
		AuthTime          *float64 `json:"auth_time"`
	}
	if err := idt.Claims(&c); err != nil {
		return Identity{}, refused("%s's ID token has malformed claims", p.DisplayName)
	}
	// §3.1.3.7 steps 4 and 5: "If the ID Token contains multiple
	// audiences, the Client SHOULD verify that an azp Claim is present",
	// and "If an azp (authorized party) Claim is present, the Client SHOULD
	// verify that its client_id is the Claim Value."
	if (len(idt.Audience) > 1 || c.AZP != "") && c.AZP != p.ClientID {
		return Identity{}, refused("%s's ID token was issued to %q, not to ImageHost", p.DisplayName, truncate(c.AZP, 64))
	}
	if idt.Subject == "" || len(idt.Subject) > MaxSubjectLength || !printableASCII(idt.Subject) {
		return Identity{}, refused("%s's ID token has no usable sub (OpenID Connect Core §2: at most 255 ASCII characters)", p.DisplayName)
	}
	id := Identity{Issuer: idt.Issuer, Subject: idt.Subject, PreferredUsername: claimText(c.PreferredUsername, 64),
		Name: claimText(c.Name, 100), AMR: amrValues(c.AMR), SignedWith: signedWith(rawID, d.algs)}
	if len(c.Email) <= 254 {
		id.EmailClaimed = claimText(c.Email, 254)
		// An address the upstream did not verify is anyone's to claim: it
		// is kept nowhere. (A verified one is not a key to an account
		// either: ImageHost links by iss and sub only.) One that is not
		// text is no address (RFC 5321 §4.1.2 allows no control character
		// in a mailbox); cleaned, it would be another address, which the
		// upstream did not verify: it is not kept either.
		if verified, _ := c.EmailVerified.(bool); verified && id.EmailClaimed == c.Email {
			id.Email = c.Email
		}
	}
	if c.AuthTime != nil && *c.AuthTime > 0 {
		id.AuthTime = time.Unix(int64(*c.AuthTime), 0).UTC()
	}
	return id, nil
}

// acquire takes one of the MaxInFlight slots, waiting at most MaxWait.
func (p *Provider) acquire(ctx context.Context) (release func(), err error) {
	release = func() { <-p.slots }
	select {
	case p.slots <- struct{}{}:
		return release, nil
	default:
	}
	t := time.NewTimer(MaxWait)
	defer t.Stop()
	select {
	case p.slots <- struct{}{}:
		return release, nil
	case <-t.C:
		return nil, ErrBusy
	case <-ctx.Done():
		return nil, ErrBusy
	}
}

// verifyReason says in a few words why go-oidc refused an ID token.
func verifyReason(err error) string {
	msg := err.Error()
	var expired *oidc.TokenExpiredError
	switch {
	case errors.As(err, &expired):
		return "it has expired"
	case strings.Contains(msg, "signature"):
		return "its signature does not match the provider's published keys"
	case strings.Contains(msg, "different provider"):
		return "another issuer signed it"
	case strings.Contains(msg, "audience"):
		return "it was issued to another client"
	case strings.Contains(msg, "malformed"):
		return "it is not a JWT signed with an algorithm the provider announced"
	}
	return "it failed go-oidc's checks"
}

// signedWith names the algorithm and key of a verified ID token.
func signedWith(raw string, algs []string) string {
	sigAlgs := make([]jose.SignatureAlgorithm, len(algs))
	for i, a := range algs {
		sigAlgs[i] = jose.SignatureAlgorithm(a)
	}
	jws, err := jose.ParseSigned(raw, sigAlgs)
	if err != nil || len(jws.Signatures) != 1 {
		return ""
	}
	h := jws.Signatures[0].Header
	return fmt.Sprintf("%s, key %s", h.Algorithm, truncate(h.KeyID, 64))
}

// amrValuePattern is what an amr value from the upstream may look like to
// be passed on: RFC 8176's registered values are short lower-case words.
var amrValuePattern = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,32}$`)

// amrValues keeps at most 8 of the upstream's amr values that look like
// amr values.
func amrValues(in []string) []string {
	var out []string
	for _, v := range in {
		if amrValuePattern.MatchString(v) && !slices.Contains(out, v) && len(out) < 8 {
			out = append(out, v)
		}
	}
	return out
}

// equal compares in constant time.
func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// claimText is a claim's value as text ImageHost can keep and show: valid
// UTF-8 with no control character, cut to at most n bytes. An upstream's
// name or preferred_username may hold anything a JSON string can, a NUL
// (\u0000) among them, which PostgreSQL's text cannot hold: kept as it
// was, it would fail every sign-in of that user with a 500. The sub is
// not cleaned but checked (it is a key), and refused if it is not ASCII.
func claimText(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, strings.ToValidUTF8(s, ""))
	return truncate(s, n)
}

// truncate cuts s to at most n bytes, on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// boundedTransport ends every answer past max bytes with an error. go-oidc
// reads discovery documents and keys whole, and x/oauth2 the token
// response, so the bound sits in the transport, under all of them.
type boundedTransport struct {
	base http.RoundTripper
	max  int64
}

// errAnswerTooLarge ends an answer that went past the bound.
var errAnswerTooLarge = errors.New("upstream: the answer is larger than any provider sends")

// RoundTrip sends req, and bounds the answer's body.
func (t boundedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.ContentLength > t.max {
		resp.Body.Close()
		return nil, fmt.Errorf("%s %s: %w (%d bytes)", req.Method, req.URL.Path, errAnswerTooLarge, resp.ContentLength)
	}
	resp.Body = &limitedBody{r: resp.Body, left: t.max}
	return resp, nil
}

// limitedBody reads at most left bytes, then fails.
type limitedBody struct {
	r    io.ReadCloser
	left int64
}

// Read reads on while the bound allows.
func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// One more byte tells a body of exactly the bound from a longer one.
		var one [1]byte
		n, err := b.r.Read(one[:])
		if n > 0 {
			return 0, errAnswerTooLarge
		}
		if err == nil {
			err = io.EOF
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	return n, err
}

// Close closes the body.
func (b *limitedBody) Close() error { return b.r.Close() }
