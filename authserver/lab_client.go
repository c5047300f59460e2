package main

// The lab's legacy client: the one client that may use the implicit and
// password grants, and only while lab mode has them switched on
// (authorize_implicit.go, grant_password.go). It exists only while ImageHost
// runs the demo in lab mode: created at such a start, and removed, with
// whatever was issued to it, at every start. So a database that once served
// the lab holds no such client when the same demo runs without it.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"oauthdemo/authserver/store"
)

// labLegacyClientID is the lab's legacy client. PhotoEditorApp's lab page
// connects with it (PHOTOEDITOR_LAB_LEGACY_CLIENT_ID).
const labLegacyClientID = "legacy-lab"

// labLegacyClient is the lab's legacy client for PhotoEditorApp at appURL.
// It is public: the implicit grant has no client authentication (RFC 6749
// §4.2: the client is not authenticated), and a client that takes the
// user's password needs no secret to show what goes wrong. It reads photos,
// nothing more, and may use neither the code grant nor refresh tokens: every
// authorization request it makes asks for response_type=token.
func labLegacyClient(appURL string, now time.Time) store.Client {
	return store.Client{ID: labLegacyClientID, Name: "PhotoEditorApp, the legacy way (lab)",
		RedirectURIs: []string{appURL + "/lab/legacy/implicit"},
		GrantTypes:   []string{grantTypeImplicit, grantTypePassword},
		Scope:        "photos.read", CreatedAt: now}
}

// keepLabClient removes the lab's legacy client, if an earlier start left
// it, and creates it afresh when cfg runs the demo in lab mode.
func keepLabClient(ctx context.Context, cfg Config, st store.Store, now time.Time, out io.Writer) error {
	switch _, err := st.ClientByID(ctx, labLegacyClientID); {
	case err == nil:
		if err := st.DeleteClient(ctx, labLegacyClientID, now); err != nil {
			return fmt.Errorf("remove the lab client: %w", err)
		}
	case !errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("look up the lab client: %w", err)
	}
	if !cfg.Lab || !cfg.Demo {
		return nil
	}
	if err := st.CreateClient(ctx, labLegacyClient(cfg.DemoAppURL, now)); err != nil {
		return fmt.Errorf("create the lab client: %w", err)
	}
	fmt.Fprintf(out, "  client  %-14s public, lab mode only: the implicit and password grants, once switched on at /lab\n", labLegacyClientID)
	return nil
}
