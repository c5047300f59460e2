package main

// photos logout: revoke the tokens at ImageHost (RFC 7009), then forget
// them. Deleting the file alone would leave a refresh token that works for
// weeks in every copy of it: a backup, a synced folder.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
)

// logout serves "photos logout".
func (c *cli) logout(ctx context.Context, args []string) error {
	if rest, err := c.flags("logout", args, nil); err != nil {
		return err
	} else if len(rest) > 0 {
		return fmt.Errorf("logout takes no arguments, got %q", rest)
	}
	// A file others could read is revoked all the same: its tokens are
	// the ones most in need of it.
	creds, err := readCredentials(c.credentials, false)
	if errors.Is(err, errNotSignedIn) {
		fmt.Fprintln(c.stdout, "Not signed in.")
		return nil
	} else if err != nil {
		return err
	}
	if creds.Issuer != c.opts.issuer {
		return fmt.Errorf("signed in to %s, not %s: run photos -issuer %s logout", creds.Issuer, c.opts.issuer, creds.Issuer)
	}
	p, err := c.discover(ctx)
	if err != nil {
		return err
	}
	if p.metadata.RevocationEndpoint == "" {
		return fmt.Errorf("%s has no revocation endpoint: the tokens cannot be revoked; delete %s to forget them", c.opts.issuer, c.credentials)
	}
	// Tokens bound to the command's DPoP key are revoked with a proof of
	// it: ImageHost takes the revocation of a public client's bound tokens
	// from no one else, so that whoever copied them cannot sign the user
	// out. A key others could read is used all the same, as the file is.
	var key *proofKey
	if creds.bound() {
		if key, err = readKey(keyFile(c.credentials), false); err != nil {
			return err
		}
	}
	// RFC 7009 §2.1: the refresh token first. ImageHost revokes the whole
	// grant with it, access tokens included (RFC 7009 §2.1 lets a server
	// do so); the access token is revoked as well, for servers that do
	// not.
	for _, t := range []struct{ token, hint string }{{creds.RefreshToken, "refresh_token"}, {creds.AccessToken, "access_token"}} {
		if t.token == "" {
			continue
		}
		if err := c.revoke(ctx, p.metadata.RevocationEndpoint, t.token, t.hint, key); err != nil {
			return fmt.Errorf("revoke the %s (the credentials are kept, so you can try again): %w", strings.ReplaceAll(t.hint, "_", " "), err)
		}
	}
	if err := os.Remove(c.credentials); err != nil {
		return fmt.Errorf("the tokens are revoked, but %w", err)
	}
	os.Remove(keyFile(c.credentials)) // their DPoP key, if they had one
	fmt.Fprintf(c.stdout, "Signed out: ImageHost revoked the tokens, and %s is deleted.\n", c.credentials)
	return nil
}

// revoke sends one RFC 7009 revocation request, as the public client it
// is, with a DPoP proof of key if the token is bound to it (nil if not).
func (c *cli) revoke(ctx context.Context, endpoint, token, hint string, key *proofKey) error {
	form := url.Values{"token": {token}, "token_type_hint": {hint}, "client_id": {c.opts.clientID}}
	req, err := http.NewRequestWithContext(withProofKey(ctx, key), http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var refused struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	json.NewDecoder(io.LimitReader(resp.Body, maxJSONBytes)).Decode(&refused)
	// RFC 7009 §2.2: "The authorization server responds with HTTP status
	// code 200 if the token has been revoked successfully or if the client
	// submitted an invalid token."
	if resp.StatusCode != http.StatusOK && refused.Error != "" {
		return fmt.Errorf("ImageHost answered %s: %s: %s", resp.Status, refused.Error, oneLine(refused.Description))
	} else if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("ImageHost answered %s", resp.Status)
	}
	return nil
}
