package main

// The demo's seed data: users, the PhotoEditorApp client, a machine client,
// a client for the expired-token demonstration, and a few photos. The values come from configuration (demo.env for
// `go tool task demo`), or, on a network, are generated (demosecrets.go).
// Users and their photos are seeded on the demo's
// first run only (the database remembers it); the clients are brought in
// line with the configuration on every run, since PhotoEditorApp's settings
// depend on them.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"strings"
	"time"
	"unicode"

	"oauthdemo/authserver/oauth"
	"oauthdemo/authserver/password"
	"oauthdemo/authserver/store"
)

// Client ids of the demo's clients.
const (
	demoAppClientID    = "photoeditorapp"
	demoM2MClientID    = "photo-sync"
	demoExpiryClientID = "photoeditorapp-expiry"
	demoCLIClientID    = "photos-cli"
	// demoSSOClientID is ImageHost's client at the demo's Corporate SSO.
	demoSSOClientID = "imagehost"
)

// demoExpiryTokenTTL is how long the expiry demonstration's tokens live:
// long enough to reach the photos API, short enough that the workshop sees
// ImageHost refuse one a moment later.
const demoExpiryTokenTTL = time.Second

// demoStore is a store the demo can be seeded in: one that remembers it was.
type demoStore interface {
	store.Store
	store.DemoBookkeeping
}

// seedDemo seeds the demo's users on its first run, and brings its clients in
// line with cfg on every run, printing what it did to out.
func seedDemo(ctx context.Context, cfg Config, st demoStore, secrets demoSecrets, out io.Writer) error {
	now := time.Now()
	seededAt, err := st.DemoSeededAt(ctx)
	firstRun := errors.Is(err, store.ErrNotFound)
	if err != nil && !firstRun {
		return err
	}
	fmt.Fprintln(out, "Demo data:")
	switch {
	case secrets.file != "" && len(secrets.fresh) > 0:
		fmt.Fprintf(out, "  ImageHost listens on %s, beyond this machine: demo.env's published secrets are refused.\n"+
			"  These were generated, are shown this once, and are kept in %s.\n", cfg.Addr, secrets.file)
	case secrets.file != "":
		fmt.Fprintf(out, "  Secrets generated for a network address, kept in %s.\n", secrets.file)
	}
	for _, entry := range strings.Split(cfg.DemoUsers, ",") {
		username, pw, ok := strings.Cut(strings.TrimSpace(entry), ":")
		if !ok || username == "" || pw == "" {
			continue
		}
		note, present, err := demoUser(ctx, st, username, pw, firstRun, seededAt, now)
		if err != nil {
			return err
		}
		if !present {
			fmt.Fprintf(out, "  user    %-14s (%s)\n", username, note)
			continue
		}
		if u, err := st.UserByUsername(ctx, username); err != nil {
			return err
		} else if reset, err := resetPublishedPassword(ctx, st, secrets, u, pw); err != nil {
			return err
		} else if reset {
			note += "; its published password replaced"
			secrets.fresh[pw] = true // shown, this once
		}
		fmt.Fprintf(out, "  user    %-14s password %-14s (%s)\n", username, secrets.show(pw), note)
	}
	// Marked only once every user is in: a first run cut short seeds again.
	if firstRun {
		if err := st.MarkDemoSeeded(ctx, now); err != nil {
			return err
		}
	}
	if cfg.DemoSSORedirectURI != "" {
		// This ImageHost plays the demo's Corporate SSO (upstream_login.go):
		// its one client is the other ImageHost, whose users sign in
		// through it. ImageHost asks for a sign-in and a name, nothing else.
		sso := store.Client{ID: demoSSOClientID, Name: "ImageHost", RedirectURIs: []string{cfg.DemoSSORedirectURI},
			GrantTypes: []string{"authorization_code"}, Scope: "openid profile email", CreatedAt: now}
		return seedClient(ctx, st, sso, cfg.DemoSSOClientSecret, secrets.show, out)
	}

	app := store.Client{ID: demoAppClientID, Name: "PhotoEditorApp",
		RedirectURIs:           []string{cfg.DemoAppURL + "/callback"},
		PostLogoutRedirectURIs: []string{cfg.DemoAppURL + "/"},
		BackchannelLogoutURI:   cfg.DemoAppURL + "/backchannel-logout",
		GrantTypes:             []string{"authorization_code", "refresh_token"},
		Scope:                  "openid profile email offline_access photos.read photos.write", CreatedAt: now}
	if err := seedClient(ctx, st, app, cfg.DemoAppClientSecret, secrets.show, out); err != nil {
		return err
	}
	m2m := store.Client{ID: demoM2MClientID, Name: "Photo Sync Robot", GrantTypes: []string{"client_credentials"},
		Scope: "photos.read photos.write", CreatedAt: now}
	if err := seedClient(ctx, st, m2m, cfg.DemoM2MClientSecret, secrets.show, out); err != nil {
		return err
	}
	// PhotoEditorApp's "API call with an expired token": the app cannot
	// make a token expire (ImageHost signs exp = now + lifetime), so this
	// client's tokens live a second, and read photos only: the app gets one,
	// waits out its exp and shows ImageHost's refusal. The client sees only
	// its own photos, and has none.
	expiry := store.Client{ID: demoExpiryClientID, Name: "PhotoEditorApp's expired-token demonstration",
		GrantTypes: []string{"client_credentials"}, Scope: "photos.read", AccessTokenTTL: demoExpiryTokenTTL, CreatedAt: now}
	if err := seedClient(ctx, st, expiry, cfg.DemoExpiryClientSecret, secrets.show, out); err != nil {
		return err
	}
	// The photos command line (cmd/photos) is a native app: a public
	// client, which has no secret to keep and so must prove itself with
	// PKCE. It signs in with the device grant, or in the system browser
	// with a redirect to a loopback port it picks at each sign-in
	// (RFC 8252 §7.3: any port matches these).
	cli := store.Client{ID: demoCLIClientID, Name: "Photos command line", RedirectURIs: []string{"http://127.0.0.1/callback", "http://[::1]/callback"},
		GrantTypes: []string{oauth.GrantTypeDeviceCode, "authorization_code", "refresh_token"},
		Scope:      "openid profile offline_access photos.read photos.write", CreatedAt: now}
	if err := seedPublicClient(ctx, st, cli, out); err != nil {
		return err
	}
	if cfg.InitialAccessToken != "" {
		fmt.Fprintf(out, "  registration initial access token: %s\n", secrets.show(cfg.InitialAccessToken))
	}
	return nil
}

// seedPublicClient creates c, a public client, unless its id exists.
func seedPublicClient(ctx context.Context, st store.Store, c store.Client, out io.Writer) error {
	if _, err := st.ClientByID(ctx, c.ID); errors.Is(err, store.ErrNotFound) {
		if err := st.CreateClient(ctx, c); err != nil {
			return fmt.Errorf("create client %s: %w", c.ID, err)
		}
	} else if err != nil {
		return err
	}
	fmt.Fprintf(out, "  client  %-14s public: no secret, PKCE (device grant, or a loopback redirect)\n", c.ID)
	return nil
}

// demoUser seeds a demo user on the demo's first run and says how the user
// stands, and whether the user is there. On later runs nothing is seeded: a
// user or photo removed since stays removed.
func demoUser(ctx context.Context, st store.Store, username, pw string, firstRun bool, seededAt, now time.Time) (string, bool, error) {
	if firstRun {
		created, err := seedUser(ctx, st, username, pw, now)
		if err != nil || !created {
			return "exists", true, err
		}
		return "created, with photos", true, nil
	}
	if _, err := st.UserByUsername(ctx, username); errors.Is(err, store.ErrNotFound) {
		return "removed after the demo was seeded on " + seededAt.Format(time.DateOnly) + "; not re-created", false, nil
	} else if err != nil {
		return "", false, err
	}
	return "exists", true, nil
}

// seedUser creates the user with a few photos unless the username exists.
func seedUser(ctx context.Context, st store.Store, username, pw string, now time.Time) (bool, error) {
	if _, err := st.UserByUsername(ctx, username); err == nil {
		return false, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return false, err
	}
	name := []rune(username)
	name[0] = unicode.ToUpper(name[0])
	u := store.User{ID: oauth.NewID(), Username: username, PasswordHash: password.Hash(pw),
		Name: string(name), Email: username + "@imagehost.example", CreatedAt: now}
	if err := st.CreateUser(ctx, u); err != nil {
		return false, fmt.Errorf("create user %s: %w", username, err)
	}
	for i, art := range demoArt(username) {
		data, err := art.png()
		if err != nil {
			return false, err
		}
		at := now.Add(time.Duration(i) * time.Second)
		p := store.Photo{ID: oauth.NewID(), Owner: u.ID, Title: art.title, ContentType: "image/png",
			Data: data, Size: len(data), CreatedAt: at, UpdatedAt: at}
		if err := st.CreatePhoto(ctx, p, store.Quota{}); err != nil {
			return false, fmt.Errorf("create photo for %s: %w", username, err)
		}
	}
	return true, nil
}

// seedClient creates c, or updates its secret to the configured one. With
// no configured secret, a new client gets a generated one, printed once.
// show is how a secret appears in the output.
func seedClient(ctx context.Context, st store.Store, c store.Client, secret string, show func(string) string, out io.Writer) error {
	existing, err := st.ClientByID(ctx, c.ID)
	switch {
	case err == nil && secret != "" && !oauth.TokenMatches(secret, existing.SecretHash):
		if err := st.SetClientSecret(ctx, c.ID, oauth.HashToken(secret)); err != nil {
			return err
		}
	case err == nil:
	case errors.Is(err, store.ErrNotFound):
		if secret == "" {
			secret = oauth.NewToken()
		}
		c.SecretHash = oauth.HashToken(secret)
		if err := st.CreateClient(ctx, c); err != nil {
			return fmt.Errorf("create client %s: %w", c.ID, err)
		}
	default:
		return err
	}
	if secret == "" {
		secret = "(set when it was created)"
	} else {
		secret = show(secret)
	}
	fmt.Fprintf(out, "  client  %-14s secret   %s\n", c.ID, secret)
	return nil
}

// art is a generated picture: a function from pixel to colour.
type art struct {
	title string
	paint func(x, y float64) color.RGBA // x, y in [0, 1)
}

func (a art) png() ([]byte, error) {
	const w, h = 320, 240
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetRGBA(x, y, a.paint(float64(x)/w, float64(y)/h))
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("encode %s: %w", a.title, err)
	}
	return buf.Bytes(), nil
}

func mix(a, b color.RGBA, t float64) color.RGBA {
	l := func(p, q uint8) uint8 { return uint8(float64(p) + (float64(q)-float64(p))*t) }
	return color.RGBA{l(a.R, b.R), l(a.G, b.G), l(a.B, b.B), 255}
}

// demoArt returns the pictures a demo user starts with: alice and bob get
// their own, anyone else a sunset.
func demoArt(username string) []art {
	sunset := art{"Sunset over the sea", func(x, y float64) color.RGBA {
		if math.Hypot(x-0.5, (y-0.55)*0.75) < 0.12 && y < 0.6 {
			return color.RGBA{255, 214, 102, 255}
		}
		if y > 0.6 {
			return mix(color.RGBA{38, 70, 120, 255}, color.RGBA{10, 25, 60, 255}, (y-0.6)/0.4)
		}
		return mix(color.RGBA{120, 60, 160, 255}, color.RGBA{250, 140, 70, 255}, y/0.6)
	}}
	switch username {
	case "alice":
		return []art{sunset,
			{"Garden maze", func(x, y float64) color.RGBA {
				if (int(x*16)+int(y*12))%3 == 0 || int(x*16)%4 == 0 {
					return color.RGBA{46, 125, 50, 255}
				}
				return color.RGBA{200, 230, 170, 255}
			}},
			{"Tea party", func(x, y float64) color.RGBA {
				cx, cy := math.Mod(x*6, 1)-0.5, math.Mod(y*4.5, 1)-0.5
				if math.Hypot(cx, cy) < 0.3 {
					return color.RGBA{230, 80, 120, 255}
				}
				if (int(x*12)+int(y*9))%2 == 0 {
					return color.RGBA{255, 255, 255, 255}
				}
				return color.RGBA{120, 180, 230, 255}
			}},
		}
	case "bob":
		return []art{
			{"Blueprint", func(x, y float64) color.RGBA {
				if math.Mod(x*320, 20) < 1 || math.Mod(y*240, 20) < 1 {
					return color.RGBA{180, 210, 255, 255}
				}
				return color.RGBA{20, 60, 140, 255}
			}},
			{"Brick wall", func(x, y float64) color.RGBA {
				row := int(y * 12)
				off := float64(row%2) * 0.5
				if math.Mod(y*12, 1) < 0.1 || math.Mod(x*6+off, 1) < 0.05 {
					return color.RGBA{210, 200, 190, 255}
				}
				return color.RGBA{170, 70, 50, 255}
			}},
		}
	}
	return []art{sunset}
}
