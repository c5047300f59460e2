package main

// Workshop mode's machine-to-machine demonstration: the client credentials
// grant (RFC 6749 §4.4), run with a machine client's credentials, then the
// photos API as that machine sees it: only its own uploads, never a user's.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"strings"

	"github.com/labstack/echo/v4"
	"golang.org/x/oauth2/clientcredentials"

	"oauthdemo/app/flow"
	"oauthdemo/app/imagehost"
)

// staticTokens hands out one fixed access token: a machine has no refresh.
type staticTokens string

func (t staticTokens) AccessToken(context.Context) (string, error)     { return string(t), nil }
func (t staticTokens) Refresh(context.Context, string) (string, error) { return string(t), nil }

// machineAPI is what the demonstration asks of the photos API.
type machineAPI interface {
	List(ctx context.Context, tokens imagehost.Tokens) ([]imagehost.Photo, error)
	Image(ctx context.Context, tokens imagehost.Tokens, id string) ([]byte, string, error)
	Upload(ctx context.Context, tokens imagehost.Tokens, filename string, data io.ReaderAt, size int64, title string) (imagehost.Photo, error)
	Delete(ctx context.Context, tokens imagehost.Tokens, id string) error
}

// handleMachine serves POST /flow/machine.
func handleMachine(p *provider, g connections, api machineAPI, clientID, clientSecret string) echo.HandlerFunc {
	return func(c echo.Context) error {
		if clientID == "" {
			return redirectWithFlash(c, g.cs, "/flow", "No machine client is configured (PHOTOEDITOR_MACHINE_CLIENT_ID and _SECRET; the demo sets them).")
		}
		ctx, _, err := recordedStep(c, g.cs, flow.StepMachine)
		if err != nil {
			return err
		}
		d, err := p.discover(ctx)
		if err != nil {
			return imageHostDown(err)
		}
		cc := clientcredentials.Config{ClientID: clientID, ClientSecret: clientSecret, TokenURL: d.oauth.Endpoint.TokenURL, AuthStyle: d.oauth.Endpoint.AuthStyle}
		tok, err := cc.Token(p.withHTTP(ctx))
		if err != nil {
			return redirectWithFlash(c, g.cs, "/flow", "Client credentials failed: "+err.Error())
		}
		var claims struct {
			Sub   string `json:"sub"`
			Scope string `json:"scope"`
		}
		_, payload, _ := decodeJWT(tok.AccessToken)
		json.Unmarshal([]byte(payload), &claims)
		robot := staticTokens(tok.AccessToken)
		var out []string
		out = append(out, fmt.Sprintf("token for sub=%q (the client itself: no user), scope %q, refresh token: %v", claims.Sub, claims.Scope, tok.RefreshToken != ""))
		robotPNG := robotImage()
		uploaded, err := api.Upload(ctx, robot, "robot.png", bytes.NewReader(robotPNG), int64(len(robotPNG)), "Uploaded by "+clientID)
		if err != nil {
			out = append(out, "upload: "+err.Error())
		}
		list, err := api.List(ctx, robot)
		if err != nil {
			out = append(out, "list: "+err.Error())
		} else {
			out = append(out, fmt.Sprintf("it sees %d photo(s), all its own uploads", len(list)))
		}
		// A user's photo, asked for with the machine's token.
		if conn, err := g.connection(c); err == nil {
			if photos, err := api.List(c.Request().Context(), conn.tokens); err == nil && len(photos) > 0 {
				_, _, err := api.Image(ctx, robot, photos[0].ID)
				switch {
				case errors.Is(err, imagehost.ErrNotFound):
					out = append(out, fmt.Sprintf("asking for %s's photo %s: 404, as if it did not exist", conn.session.Name, photos[0].ID))
				case err != nil:
					out = append(out, "asking for a user's photo: "+err.Error())
				default:
					out = append(out, "asking for a user's photo: ImageHost served it!")
				}
			}
		}
		// Leave nothing behind: the upload goes, and the token with it
		// (RFC 7009), so a run of the demonstration costs ImageHost nothing.
		if uploaded.ID != "" {
			if err := api.Delete(ctx, robot, uploaded.ID); err != nil {
				out = append(out, "removing its upload: "+err.Error())
			} else {
				out = append(out, "it removed its upload again")
			}
		}
		if err := revoke(ctx, p, clientID, clientSecret, tok.AccessToken, "access_token"); err != nil {
			out = append(out, "revoking its token: "+err.Error())
		}
		return redirectWithFlash(c, g.cs, "/flow", "Machine to machine: "+strings.Join(out, "; ")+".")
	}
}

// robotImage is a small generated picture for the machine's upload.
func robotImage() []byte {
	img := image.NewRGBA(image.Rect(0, 0, 48, 48))
	for y := range 48 {
		for x := range 48 {
			c := color.RGBA{90, 110, 130, 255}
			if (x-24)*(x-24)+(y-20)*(y-20) < 100 || (y > 34 && x > 12 && x < 36) {
				c = color.RGBA{200, 220, 240, 255}
			}
			img.Set(x, y, c)
		}
	}
	var buf bytes.Buffer
	png.Encode(&buf, img)
	return buf.Bytes()
}
