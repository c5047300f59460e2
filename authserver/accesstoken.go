package main

import (
	"context"
	"log/slog"
	"time"

	"oauthdemo/authserver/oauth"
	"oauthdemo/authserver/revocation"
	"oauthdemo/authserver/store"
)

// tokenChecker checks access tokens as only the authorization server can:
// beyond the signature and claims any resource server can check, it asks
// the store, the source of truth, whether the token, its grant, its client
// or its user was revoked. Userinfo and introspection use it.
type tokenChecker struct {
	issuer   string
	keys     oauth.PublicKeys
	store    tokenCheckStore
	now      func() time.Time
	activity *activityLog
	demo     publishedSecrets // good from this machine only
	log      *slog.Logger
}

// tokenCheckStore is what userinfo, introspection and revocation ask of
// storage: the client that asks, the revocations a token may fall under,
// refresh tokens and their grants, the token's user, and what revocation
// records.
type tokenCheckStore interface {
	ClientByID(ctx context.Context, id string) (store.Client, error)
	UserByID(ctx context.Context, id string) (store.User, error)
	RevocationsOf(ctx context.Context, keys []store.RevocationKey) ([]store.Revocation, error)
	RefreshToken(ctx context.Context, tokenHash []byte) (store.RefreshToken, store.Grant, error)
	RevokeGrant(ctx context.Context, id, reason string, now time.Time) error
	RevokeAccessToken(ctx context.Context, jti string, now time.Time) error
}

// check parses raw as an access token of ImageHost's and asks the store
// whether anything it names was revoked.
func (tc tokenChecker) check(ctx context.Context, raw string) (oauth.AccessTokenClaims, *oauth.Error) {
	// The audience is not checked here: ImageHost issued the token and
	// answers for it whichever resource it was meant for.
	c, e := oauth.ParseAccessToken(raw, tc.keys, tc.issuer, "", tc.now())
	if e != nil {
		return c, e
	}
	rs, err := tc.store.RevocationsOf(ctx, revocation.Keys(c))
	if err != nil {
		tc.log.ErrorContext(ctx, "check revocations", "err", err)
		return c, oauth.ServerError()
	}
	if revocation.Revokes(rs, c) {
		return c, oauth.Errorf(oauth.CodeInvalidToken, 401, "the token was revoked")
	}
	return c, nil
}
