package main

// The implicit grant's response: RFC 6749 §4.2.2, for lab mode only. The
// authorization endpoint answers with the access token itself, in the
// fragment of the redirect, where the browser, its history and every script
// of the page the browser lands on can read it. No code is redeemed, so the
// client never authenticates, no PKCE verifier or nonce ties the token to
// the request, and there is no refresh token. RFC 9700 §2.1.2:
//
//	"The implicit grant (response type "token") and other response types
//	causing the authorization server to issue access tokens in the
//	authorization response are vulnerable to access token leakage and
//	access token replay ... In order to avoid these issues, clients SHOULD
//	NOT use the implicit grant (response type "token") or other response
//	types issuing access tokens in the authorization response, unless
//	access token injection in the authorization response is prevented and
//	the aforementioned token leakage vectors are mitigated."
//
// OAuth 2.1 removed it. ImageHost refuses it (authorize.go, with
// /docs/dropped-grants#implicit), except in lab mode, while the lab's switch
// "Refusing the implicit grant" is off, for the lab's legacy client alone
// (lab_client.go): PhotoEditorApp's lab page connects that way, so that a
// workshop sees what goes wrong.

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"oauthdemo/authserver/oauth"
	"oauthdemo/authserver/store"
)

const (
	// responseTypeToken asks for the implicit grant (RFC 6749 §4.2.1).
	responseTypeToken = "token"
	// grantTypeImplicit is the implicit grant's name among a client's
	// grant types (RFC 7591 §2).
	grantTypeImplicit = "implicit"
)

// implicitRefused is the answer to response_type=token, unless lab mode
// switched the implicit grant on.
func implicitRefused() *oauth.Error {
	e := oauth.Errorf(oauth.CodeUnsupportedResponseType, 400,
		"ImageHost supports only response_type=code: OAuth 2.1 removed the implicit grant, which leaks tokens in URLs")
	e.URI = "/docs/dropped-grants#implicit"
	return e
}

// answersInFragment reports whether ImageHost answers client's
// authorization requests in the redirect URI's fragment: a client registered
// for the implicit grant, which only the lab's legacy client is. It may use
// no code grant, so each of its requests that got this far asked for
// response_type=token; and RFC 6749 §4.2.2.1 sends its errors, too, in the
// fragment.
func answersInFragment(client store.Client) bool {
	return slices.Contains(client.GrantTypes, grantTypeImplicit)
}

// readImplicitParams reads the rest of a response_type=token request, once
// lab mode allows one. Scope, nonce and prompt are read as for a code; PKCE
// has nothing to bind, since no code is redeemed.
func readImplicitParams(req *store.AuthRequest, client store.Client, params url.Values) *oauth.Error {
	// The token response type's answer is in the fragment (OAuth 2.0
	// Multiple Response Type Encoding Practices §2.1): in a query it would
	// reach the client's server, its logs and any proxy on the way.
	if rm := params.Get("response_mode"); rm != "" && rm != "fragment" {
		return oauth.InvalidRequest("response_type=token answers in the fragment only")
	}
	// RFC 6749 §4.2.2.1, unauthorized_client: "The client is not
	// authorized to request an access token using this method."
	if !answersInFragment(client) {
		return oauth.Errorf(oauth.CodeUnauthorizedClient, 400, "this application may not use the implicit grant")
	}
	if e := readScope(req, client, params); e != nil {
		return e
	}
	return readSignInParams(req, params)
}

// issueToken ends the request with an access token in the redirect URI's
// fragment (RFC 6749 §4.2.2).
func (a authorizer) issueToken(w http.ResponseWriter, r *http.Request, req store.AuthRequest, client store.Client, who signedIn) {
	// The switch may have been turned back on while the user signed in.
	if !a.policy().implicit {
		a.finishWithError(w, r, req, client, implicitRefused())
		return
	}
	if !a.end(w, r, req) {
		return
	}
	ctx := r.Context()
	now := a.now()
	grantID := oauth.NewID()
	// A bearer token, bound to no DPoP key: a proof is a header of a
	// request the client makes itself (RFC 9449 §4.1), and the implicit
	// grant has none, the token coming back in a redirect of the browser.
	// Only the token endpoint binds a token (token_dpop.go).
	at, err := a.mint.accessToken(now, client, who.user.ID, req.Scope, grantID, who.session.AuthTime, "")
	if err != nil {
		internalError(w, r, a.log, "mint access token", err)
		return
	}
	// A grant, as for a redeemed code, so that the token can be revoked
	// like any other: Revoke access on the account page, the end of this
	// login session (a grant without offline_access ends with it).
	// RFC 6749 §4.2.2: "The authorization server MUST NOT issue a refresh
	// token."
	g := store.Grant{ID: grantID, ClientID: client.ID, UserID: who.user.ID, Scope: req.Scope,
		SessionID: who.session.ID, AuthTime: who.session.AuthTime, CreatedAt: now, FlowRef: flowRef(req.State)}
	if err := a.store.CreateGrant(ctx, g, nil); err != nil {
		internalError(w, r, a.log, "create grant", err)
		return
	}
	a.log.WarnContext(ctx, "access token issued in a redirect (implicit grant, lab mode)", "client_id", client.ID, "user_id", who.user.ID, "scope", req.Scope)
	a.activity.record(ctx, who.user.ID, client.ID, flowRef(req.State), "access token issued in the redirect (implicit grant, lab mode)",
		fmt.Sprintf("for scope %q, in the fragment of %s: no code, no client authentication, no refresh token; "+
			"your browser, its history and every script of that page hold the token (RFC 9700 §2.1.2)", req.Scope, req.RedirectURI))
	// RFC 6749 §4.2.2: access_token, token_type, expires_in, scope, and
	// state as it came.
	oauth.RedirectWithFragment(w, r, req.RedirectURI, url.Values{
		"access_token": {at.raw},
		"token_type":   {"Bearer"},
		"expires_in":   {strconv.Itoa(at.expiresIn(now))},
		"scope":        {req.Scope},
	}, req.State, a.issuer)
}
