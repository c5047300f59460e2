package main

// Dynamic client registration: RFC 7591, guarded by an initial access token
// (§3) so only people who were given it can register apps, e.g. the
// attendees of a workshop. Whoever holds the token could otherwise register
// without end, and each client registered for client credentials is a photo
// owner with a quota of its own: so the token may have registered at most
// so many clients at a time, there are at most so many clients in all, and
// a registered client expires, deleted with its grants and photos.

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"oauthdemo/authserver/oauth"
	"oauthdemo/authserver/outbound"
	"oauthdemo/authserver/store"
)

// clientMetadata is the part of RFC 7591 §2 that ImageHost understands.
// Other members are ignored, as §2 requires.
type clientMetadata struct {
	RedirectURIs            []string `json:"redirect_uris"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method,omitempty"`
	GrantTypes              []string `json:"grant_types,omitempty"`
	ResponseTypes           []string `json:"response_types,omitempty"`
	ClientName              string   `json:"client_name,omitempty"`
	Scope                   string   `json:"scope,omitempty"`
	PostLogoutRedirectURIs  []string `json:"post_logout_redirect_uris,omitempty"`
	BackchannelLogoutURI    string   `json:"backchannel_logout_uri,omitempty"`
}

// registrationResponse is RFC 7591 §3.2.1's answer.
type registrationResponse struct {
	ClientID              string `json:"client_id"`
	ClientSecret          string `json:"client_secret,omitempty"`
	ClientIDIssuedAt      int64  `json:"client_id_issued_at"`
	ClientSecretExpiresAt *int64 `json:"client_secret_expires_at,omitempty"`
	clientMetadata
}

// clientRegistry is what registration does with storage: add a client,
// within limits.
type clientRegistry interface {
	RegisterClient(ctx context.Context, c store.Client, limit store.RegistrationLimit) error
}

// handleRegister serves POST /register. The initial access token may have
// registered limit.PerRegistrant clients at a time, and there may be
// limit.Total clients in all; each registered client lives for ttl. A
// backchannel_logout_uri must keep to policy, as ImageHost will post to it.
func handleRegister(st clientRegistry, initialAccessToken string, limit store.RegistrationLimit, ttl time.Duration,
	demo publishedSecrets, policy outbound.Policy, now func() time.Time, log *slog.Logger) http.Handler {
	registrant := initialAccessTokenRegistrant(initialAccessToken)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, e := oauth.BearerToken(r)
		if e == nil && (subtle.ConstantTimeCompare([]byte(token), []byte(initialAccessToken)) != 1 || demo.refusesInitialAccessToken(r, token)) {
			e = oauth.Errorf(oauth.CodeInvalidToken, http.StatusUnauthorized, "the initial access token is invalid")
		}
		if e != nil {
			oauth.WriteBearerError(w, e, "", false)
			return
		}
		var md clientMetadata
		body, err := io.ReadAll(r.Body)
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				oauth.WriteError(w, oauth.Errorf(oauth.CodeInvalidClientMetadata, http.StatusRequestEntityTooLarge, "the request body is too large"))
				return
			}
			oauth.WriteError(w, oauth.InvalidRequest("the request body could not be read"))
			return
		}
		if err := json.Unmarshal(body, &md); err != nil {
			oauth.WriteError(w, oauth.Errorf(oauth.CodeInvalidClientMetadata, 400, "the body must be a JSON object of client metadata"))
			return
		}
		client, e := newClientFromMetadata(&md, policy)
		if e != nil {
			oauth.WriteError(w, e)
			return
		}
		secret := ""
		if md.TokenEndpointAuthMethod != "none" {
			secret = oauth.NewToken()
			client.SecretHash = oauth.HashToken(secret)
		}
		client.ID, client.CreatedAt = oauth.NewID(), now()
		client.Registrant, client.ExpiresAt = registrant, client.CreatedAt.Add(ttl)
		err = st.RegisterClient(r.Context(), client, limit)
		switch {
		case errors.Is(err, store.ErrQuotaExceeded):
			log.WarnContext(r.Context(), "registration refused: too many clients", "registrant", registrant)
			// RFC 7591 §3.2.2 names no error for a server that will not
			// register more; access_denied (RFC 6749) says "not you, not now".
			oauth.WriteError(w, oauth.Errorf(oauth.CodeAccessDenied, http.StatusForbidden,
				"ImageHost registers no more clients now: at most %d per initial access token and %d in all; a registered client is deleted %v after its registration",
				limit.PerRegistrant, limit.Total, ttl))
			return
		case err != nil:
			log.ErrorContext(r.Context(), "register client", "err", err)
			oauth.WriteError(w, oauth.ServerError())
			return
		}
		log.InfoContext(r.Context(), "client registered", "client_id", client.ID, "name", client.Name, "expires_at", client.ExpiresAt)
		resp := registrationResponse{ClientID: client.ID, ClientSecret: secret, ClientIDIssuedAt: client.CreatedAt.Unix(), clientMetadata: md}
		if secret != "" {
			// RFC 7591 §3.2.1: "Time at which the client secret will
			// expire": the secret goes with the client.
			expires := client.ExpiresAt.Unix()
			resp.ClientSecretExpiresAt = &expires
		}
		oauth.WriteJSON(w, http.StatusCreated, resp)
	})
}

// initialAccessTokenRegistrant is the store.Client Registrant of clients
// registered with token: a hash, so the token itself is stored nowhere.
func initialAccessTokenRegistrant(token string) string {
	sum := sha256.Sum256([]byte(token))
	return "iat:" + hex.EncodeToString(sum[:8])
}

// newClientFromMetadata validates metadata (filling in RFC 7591 §2's
// defaults) and returns the client it describes, without id or secret. The
// backchannel_logout_uri, which ImageHost itself will call, must keep to
// policy (outbound.Policy.CheckURL).
func newClientFromMetadata(md *clientMetadata, policy outbound.Policy) (store.Client, *oauth.Error) {
	bad := func(format string, args ...any) *oauth.Error {
		return oauth.Errorf(oauth.CodeInvalidClientMetadata, 400, format, args...)
	}
	if md.TokenEndpointAuthMethod == "" {
		md.TokenEndpointAuthMethod = "client_secret_basic"
	}
	if !slices.Contains([]string{"client_secret_basic", "client_secret_post", "none"}, md.TokenEndpointAuthMethod) {
		return store.Client{}, bad("token_endpoint_auth_method must be client_secret_basic, client_secret_post or none")
	}
	if len(md.GrantTypes) == 0 {
		md.GrantTypes = []string{"authorization_code"}
	}
	for _, g := range md.GrantTypes {
		switch g {
		case "authorization_code", "refresh_token", "client_credentials":
		case "implicit", "password":
			return store.Client{}, bad("the %s grant was removed by OAuth 2.1 and is not supported", g)
		default:
			return store.Client{}, bad("unsupported grant type %q", oauth.Truncate(g))
		}
	}
	if len(md.ResponseTypes) == 0 {
		md.ResponseTypes = []string{"code"}
	}
	if len(md.ResponseTypes) != 1 || md.ResponseTypes[0] != "code" {
		return store.Client{}, bad(`response_types must be ["code"]`)
	}
	if md.TokenEndpointAuthMethod == "none" && slices.Contains(md.GrantTypes, "client_credentials") {
		return store.Client{}, bad("a public client (auth method none) cannot use client credentials")
	}
	if slices.Contains(md.GrantTypes, "authorization_code") && len(md.RedirectURIs) == 0 {
		return store.Client{}, oauth.Errorf(oauth.CodeInvalidRedirectURI, 400, "redirect_uris is required for the authorization code grant")
	}
	if len(md.RedirectURIs) > 20 || len(md.PostLogoutRedirectURIs) > 20 {
		return store.Client{}, bad("at most 20 redirect URIs")
	}
	for _, u := range md.RedirectURIs {
		if err := validateRedirectURI(u); err != nil {
			return store.Client{}, oauth.Errorf(oauth.CodeInvalidRedirectURI, 400, "redirect URI %q: %v", oauth.Truncate(u), err)
		}
	}
	for _, u := range md.PostLogoutRedirectURIs {
		if err := validateRedirectURI(u); err != nil {
			return store.Client{}, bad("post_logout_redirect_uri %q: %v", oauth.Truncate(u), err)
		}
	}
	if md.BackchannelLogoutURI != "" {
		if !uriChars(md.BackchannelLogoutURI) {
			return store.Client{}, bad("backchannel_logout_uri %q: %s", oauth.Truncate(md.BackchannelLogoutURI), notURIChars)
		}
		if err := policy.CheckURL(md.BackchannelLogoutURI); err != nil {
			return store.Client{}, bad("backchannel_logout_uri %q: %v", oauth.Truncate(md.BackchannelLogoutURI), err)
		}
	}
	if md.Scope == "" {
		md.Scope = strings.Join(oauth.KnownScopes(), " ")
	}
	scope, ok := oauth.ParseScope(md.Scope)
	if !ok || !scope.SubsetOf(knownScopeSet()) {
		return store.Client{}, bad("scope may only contain %s", strings.Join(oauth.KnownScopes(), ", "))
	}
	md.Scope = scope.String()
	md.ClientName = strings.TrimSpace(md.ClientName)
	if md.ClientName == "" {
		md.ClientName = "Unnamed app"
	}
	if len(md.ClientName) > 100 {
		return store.Client{}, bad("client_name is longer than 100 characters")
	}
	if !store.Text(md.ClientName) { // a NUL, which JSON may carry as \u0000, or bytes from a form that are not UTF-8
		return store.Client{}, bad("client_name must be UTF-8 text without NUL")
	}
	return store.Client{
		Name: md.ClientName, RedirectURIs: md.RedirectURIs, PostLogoutRedirectURIs: md.PostLogoutRedirectURIs,
		GrantTypes: md.GrantTypes, Scope: md.Scope, BackchannelLogoutURI: md.BackchannelLogoutURI,
	}, nil
}

// validateRedirectURI applies RFC 9700 §4.1 and RFC 8252 §7 to a URI a
// client registers: absolute, no fragment (RFC 6749 §3.1.2), and https,
// http on a loopback host (RFC 8252 §7.3), or a private-use scheme
// containing a dot (RFC 8252 §7.1).
func validateRedirectURI(s string) error {
	if !uriChars(s) {
		return errors.New(notURIChars)
	}
	u, err := url.Parse(s)
	switch {
	case err != nil || !u.IsAbs():
		return errors.New("must be an absolute URI")
	case u.Fragment != "" || strings.Contains(s, "#"):
		return errors.New("must not have a fragment")
	case len(s) > 2000:
		return errors.New("is too long")
	case u.Scheme == "https":
		if u.Host == "" {
			return errors.New("has no host")
		}
	case u.Scheme == "http":
		if !isLoopback(u.Hostname()) {
			return fmt.Errorf("http is allowed only for loopback hosts (localhost, 127.0.0.1, [::1])")
		}
	case u.Scheme == "javascript" || u.Scheme == "data" || u.Scheme == "file":
		return fmt.Errorf("the %s scheme is not allowed", u.Scheme)
	case !strings.Contains(u.Scheme, "."):
		return errors.New("a private-use scheme must be a reverse domain name (RFC 8252 §7.1)")
	}
	return nil
}

// notURIChars says why a URI that uriChars refuses is refused.
const notURIChars = "must be ASCII, with no space or control character (RFC 3986 §2.5: others are percent-encoded)"

// uriChars reports whether s holds only the characters a URI is written
// with: visible ASCII. RFC 3986 §1.2.1: "A URI is a sequence of characters
// from a very limited set: the letters of the basic Latin alphabet,
// digits, and a few special characters"; any other character, a space, a
// control character or one beyond ASCII, is percent-encoded (§2.5).
// url.Parse is more lenient: it lets through a NUL and bytes that are not
// UTF-8, which PostgreSQL's text cannot hold.
func uriChars(s string) bool {
	for i := range len(s) {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// knownScopeSet is every scope ImageHost supports, as a set.
func knownScopeSet() oauth.Scope {
	s, _ := oauth.ParseScope(strings.Join(oauth.KnownScopes(), " "))
	return s
}
