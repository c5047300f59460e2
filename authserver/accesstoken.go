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
	store    store.Store
	now      func() time.Time
	activity *activityLog
	log      *slog.Logger
}

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
