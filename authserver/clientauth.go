package main

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"oauthdemo/authserver/oauth"
	"oauthdemo/authserver/store"
)

// clientLookup is what finding a client takes of the store: authenticating
// one at the back channel, or checking the client of an authorization request.
type clientLookup interface {
	ClientByID(ctx context.Context, id string) (store.Client, error)
}

// authenticateClient identifies the client of a back-channel request
// (RFC 6749 §2.3). ImageHost accepts:
//   - client_secret_basic: HTTP Basic with the URL-encoded id and secret;
//   - client_secret_post: client_id and client_secret in the body;
//   - none: only client_id, for public clients, which must then prove
//     themselves with PKCE.
//
// An unknown client and a wrong secret get the same answer, and so does a
// secret demo.env published, from beyond this machine (demosecrets.go).
func authenticateClient(r *http.Request, form url.Values, st clientLookup, demo publishedSecrets) (store.Client, *oauth.Error) {
	basicID, basicSecret, hasBasic := r.BasicAuth()
	postID, postSecret := form.Get("client_id"), form.Get("client_secret")
	_, postedSecret := form["client_secret"]
	if hasBasic {
		// RFC 6749 §2.3.1: the id and secret are form-encoded before Basic.
		var err1, err2 error
		basicID, err1 = url.QueryUnescape(basicID)
		basicSecret, err2 = url.QueryUnescape(basicSecret)
		if err1 != nil || err2 != nil {
			return store.Client{}, oauth.InvalidClient(true)
		}
		// RFC 6749 §2.3: "The client MUST NOT use more than one
		// authentication method in each request."
		if postedSecret || (postID != "" && postID != basicID) {
			return store.Client{}, oauth.InvalidRequest("use one client authentication method, not two")
		}
	}
	id, secret := postID, postSecret
	if hasBasic {
		id, secret = basicID, basicSecret
	}
	if id == "" {
		return store.Client{}, oauth.InvalidClient(hasBasic)
	}
	c, err := st.ClientByID(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return store.Client{}, oauth.InvalidClient(hasBasic)
	} else if err != nil {
		return store.Client{}, oauth.ServerError()
	}
	if c.Public() {
		// A public client has nothing to authenticate with; sending a
		// secret means it is confused about what it is.
		if hasBasic || postedSecret {
			return store.Client{}, oauth.InvalidClient(hasBasic)
		}
		return c, nil
	}
	if (!hasBasic && !postedSecret) || !oauth.TokenMatches(secret, c.SecretHash) || demo.refusesClientSecret(r, c.ID, secret) {
		return store.Client{}, oauth.InvalidClient(hasBasic)
	}
	return c, nil
}

// clientRequest reads a back-channel request's form (RFC 6749 §3.2) and
// authenticates the client that sent it.
func clientRequest(r *http.Request, st clientLookup, demo publishedSecrets) (url.Values, store.Client, *oauth.Error) {
	form, e := oauth.ParseForm(r)
	if e != nil {
		return nil, store.Client{}, e
	}
	client, e := authenticateClient(r, form, st, demo)
	return form, client, e
}
