package main

// DPoP (RFC 9449): the session's tokens bound to a key of its own. Each new
// session gets a new key pair; the code exchange, every refresh and every
// photos API call carry a proof signed with it (app/dpop's transport adds
// them), and ImageHost binds the access token to the key (cnf.jkt). A
// token that leaks, from a log, a backup of the session store or the flow
// inspector, is then worth nothing without the key, which never leaves the
// app's server: the session store keeps it sealed (dpop.Sealer), and the
// inspector shows proofs without their signature and the key's thumbprint
// only.
//
// PHOTOEDITOR_DPOP=false turns it off: the session's tokens are bearer
// tokens, as RFC 6750 has them.

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"golang.org/x/oauth2"

	"oauthdemo/app/dpop"
	"oauthdemo/app/tokenstore"
)

// dpopKeys makes, seals and opens the sessions' DPoP keys. A nil
// *dpopKeys is DPoP turned off: no key, no proof, bearer tokens.
type dpopKeys struct {
	sealer *dpop.Sealer
	log    *slog.Logger
}

// newDPoPKeys returns the sessions' keys, sealed with a key derived from
// secret, the session cookies' encryption key, which every instance of the
// app shares; nil when DPoP is off.
func newDPoPKeys(on bool, secret []byte, log *slog.Logger) *dpopKeys {
	if !on {
		return nil
	}
	return &dpopKeys{sealer: dpop.NewSealer(secret), log: log}
}

// newKey makes the key of a session about to begin: the code exchange is
// made with it, and the session keeps it (bind). Nil when DPoP is off.
func (k *dpopKeys) newKey() (*dpop.Key, error) {
	if k == nil {
		return nil, nil
	}
	return dpop.NewKey()
}

// with returns ctx carrying key, so that the requests made with it carry
// proofs signed with it; with no key, ctx.
func (k *dpopKeys) with(ctx context.Context, key *dpop.Key) context.Context {
	if key == nil {
		return ctx
	}
	return dpop.WithKey(ctx, key)
}

// bind keeps key, sealed, in the session whose tokens ImageHost issued in
// tok, if it bound them to it. RFC 9449 §5: "If the access token response
// contains a different token_type value than DPoP, the access token
// protection provided by DPoP is not given." The app then goes on with
// bearer tokens, and says so in its log.
func (k *dpopKeys) bind(sess *tokenstore.Session, key *dpop.Key, tok *oauth2.Token) error {
	sess.DPoPKey = ""
	if key == nil {
		return nil
	}
	if !strings.EqualFold(tok.Type(), "DPoP") {
		k.log.Warn("ImageHost issued bearer tokens to a DPoP request; the session goes on without its key", "token_type", tok.Type())
		return nil
	}
	sealed, err := k.sealer.Seal(key, sess.ID)
	if err != nil {
		return fmt.Errorf("keep the session's DPoP key: %w", err)
	}
	sess.DPoPKey = sealed
	return nil
}

// keyOf opens the session's key; nil for a session whose tokens are bearer
// tokens, or when DPoP is off.
func (k *dpopKeys) keyOf(sess tokenstore.Session) (*dpop.Key, error) {
	if k == nil || sess.DPoPKey == "" {
		return nil, nil
	}
	key, err := k.sealer.Open(sess.DPoPKey, sess.ID)
	if err != nil {
		return nil, fmt.Errorf("the session's DPoP key: %w", err)
	}
	return key, nil
}

// rebind keeps the session's key after a refresh if ImageHost bound the
// new access token to it, and drops it if not (bind).
func (k *dpopKeys) rebind(sess *tokenstore.Session, tok *oauth2.Token) {
	if sess.DPoPKey != "" && !strings.EqualFold(tok.Type(), "DPoP") {
		if k != nil {
			k.log.Warn("ImageHost refreshed a DPoP session with bearer tokens; the session goes on without its key", "token_type", tok.Type())
		}
		sess.DPoPKey = ""
	}
}
