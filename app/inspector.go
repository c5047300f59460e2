package main

// Workshop mode's flow inspector: the recorded exchanges of this browser's
// flow, the tokens the app holds (decoded), and the sequence diagram with
// the steps that happened highlighted.

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"oauthdemo/app/flow"
	"oauthdemo/app/tokenstore"
	"oauthdemo/views"
)

// revealAllowed: secrets may be shown unmasked only to a local request
// (source.go), from a browser on this machine asking on a loopback address,
// passed on by no proxy.
func revealAllowed(c echo.Context) bool { return isLocal(c) }

// handleInspector serves GET /flow.
func handleInspector(p *provider, g connections, rec *flow.Recorder) echo.HandlerFunc {
	return func(c echo.Context) error {
		bs := g.cs.get(c)
		vm := views.FlowView{Page: basePage(c, g.cs, "Flow inspector"), CanReveal: revealAllowed(c),
			Presenter: c.QueryParam("view") == "presenter", Attacks: attackViews()}
		vm.Revealed = vm.CanReveal && c.QueryParam("reveal") == "1"
		vm.Flashes = bs.flashes()
		show := func(ex flow.Exchange) flow.Exchange {
			if vm.Revealed {
				return ex
			}
			return ex.Masked()
		}
		exchanges := rec.Exchanges(c.Request().Context(), bs.flowID())
		seen := map[flow.Step]string{}
		for _, recorded := range exchanges {
			ex := show(recorded)
			info := flow.Info(ex.Step)
			anchor := fmt.Sprintf("x%d", ex.Seq)
			if _, ok := seen[ex.Step]; !ok {
				seen[ex.Step] = anchor
			}
			xv := views.ExchangeView{Anchor: anchor, Seq: ex.Seq, Step: string(ex.Step),
				Title: info.Title, Explain: info.Explain, Spec: info.Spec, Prevents: info.Prevents, Channel: ex.Channel,
				Time: ex.Time.Format("15:04:05.000"), Duration: ex.Duration.Round(time.Microsecond).String(), Note: ex.Note,
				Request:  messageView(ex.Request),
				Response: messageView(ex.Response)}
			// The state is not secret once used; its hash is how ImageHost's
			// log names this login.
			if state := ex.Request.Param("state"); state != "" && (ex.Step == flow.StepAuthorize || ex.Step == flow.StepCallback) {
				xv.FlowRef = flowRef(state)
				// ImageHost's log of this login, the user's sign-in there
				// (through an upstream provider too) included.
				xv.FlowLink = p.issuer + "/account?flow=" + xv.FlowRef
			}
			if id := ex.Response.Header("X-Request-Id"); id != "" {
				xv.ImageHostLink = p.issuer + "/account#req-" + url.PathEscape(id)
			}
			// The proof decoded, from the recording, which keeps no
			// signature: the masked view shows its header value masked.
			if proof := recorded.Request.Header("DPoP"); proof != "" {
				header, claims, _ := decodeJWT(proof)
				xv.Proof = &views.ProofView{Header: header, Claims: claims}
			}
			vm.Exchanges = append(vm.Exchanges, xv)
		}
		vm.Family = refreshFamily(exchanges)
		vm.Legacy = legacyGrants(exchanges, show)
		if _, ok := seen[flow.StepCallback]; ok {
			seen[flow.StepLogin] = "" // it happened, at ImageHost, where the app cannot see it
		}
		vm.Diagram = diagramRows(seen)
		if conn, err := g.connection(c); err == nil {
			vm.Page.UserName = conn.session.Name
			vm.Tokens = decodedTokens(c, p, conn.session, vm.Revealed)
			vm.RefreshToken, vm.Rotations = flow.Mask(conn.session.RefreshToken), conn.session.Refreshes
			if key, err := p.keys.keyOf(conn.session); err == nil && key != nil {
				vm.DPoPKey = key.Thumbprint()
			}
			if vm.Revealed {
				vm.RefreshToken = conn.session.RefreshToken
			}
		}
		if err := g.cs.save(c, bs); err != nil {
			return err
		}
		return render(c, http.StatusOK, views.Flow(vm))
	}
}

// diagramRows draws the sequence diagram from flow.Steps: each step's
// arrows, marked as happened (and linked to the step's first exchange)
// when seen has the step.
func diagramRows(seen map[flow.Step]string) []views.DiagramRow {
	var rows []views.DiagramRow
	for _, s := range flow.Steps {
		from, to := slices.Index(flow.Lanes, s.From), slices.Index(flow.Lanes, s.To)
		anchor, happened := seen[s.Step]
		for _, label := range s.Arrows {
			rows = append(rows, views.DiagramRow{Label: label, Span: fmt.Sprintf("span-%d-%d", min(from, to), max(from, to)),
				Leftward: to < from, Happened: happened, Anchor: anchor})
			from, to = to, from // the answer goes back
		}
	}
	return rows
}

func messageView(m flow.Message) views.MessageView {
	v := views.MessageView{Method: m.Method, URL: m.URL, Status: m.Status, StatusText: http.StatusText(m.Status), Body: m.Body}
	for _, kv := range m.Params {
		v.Params = append(v.Params, views.Field{Name: kv.Name, Value: kv.Value})
	}
	for _, kv := range m.Headers {
		v.Headers = append(v.Headers, views.Field{Name: kv.Name, Value: kv.Value})
	}
	return v
}

// decodedTokens shows the ID and access tokens: header, claims, and whether
// the signature verifies against ImageHost's published keys.
func decodedTokens(c echo.Context, p *provider, sess tokenstore.Session, reveal bool) []views.TokenView {
	var out []views.TokenView
	d, err := p.discover(c.Request().Context())
	for _, t := range []struct{ name, raw string }{{"ID token", sess.IDToken}, {"access token", sess.AccessToken}} {
		if t.raw == "" {
			continue
		}
		tv := views.TokenView{Name: t.name, Raw: flow.Mask(t.raw)}
		if reveal {
			tv.Raw = t.raw
		}
		header, claims, exp := decodeJWT(t.raw)
		tv.Header, tv.Claims, tv.ExpiresAt = header, claims, exp
		var kid struct {
			KID string `json:"kid"`
			Alg string `json:"alg"`
		}
		json.Unmarshal([]byte(header), &kid)
		switch {
		case err != nil:
			tv.Verified = "Signature not checked: ImageHost's keys are out of reach."
		default:
			if _, verr := d.keys.VerifySignature(c.Request().Context(), t.raw); verr != nil {
				tv.Verified = "Signature does NOT verify against ImageHost's JWKS."
			} else {
				tv.Verified = fmt.Sprintf("Signature verified (%s) with ImageHost's published key kid=%s.", kid.Alg, kid.KID)
			}
		}
		out = append(out, tv)
	}
	return out
}

// decodeJWT pretty-prints a JWT's header and claims, without verifying it.
func decodeJWT(raw string) (header, claims string, exp int64) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return "(not a JWT)", "", 0
	}
	pretty := func(seg string) string {
		b, err := base64.RawURLEncoding.DecodeString(seg)
		if err != nil {
			return "(not base64url)"
		}
		var buf bytes.Buffer
		if json.Indent(&buf, b, "", "  ") != nil {
			return string(b)
		}
		return buf.String()
	}
	header, claims = pretty(parts[0]), pretty(parts[1])
	var c struct {
		Exp int64 `json:"exp"`
	}
	json.Unmarshal([]byte(claims), &c)
	return header, claims, c.Exp
}

// handleExportMarkdown serves GET /flow/export.md: the flow as a transcript.
func handleExportMarkdown(cs cookieSessions, rec *flow.Recorder) echo.HandlerFunc {
	return func(c echo.Context) error {
		md := flow.Markdown(rec.Exchanges(c.Request().Context(), cs.get(c).flowID()))
		c.Response().Header().Set("Content-Disposition", `attachment; filename="oauth-flow.md"`)
		c.Response().Header().Set("Cache-Control", "no-store")
		return c.Blob(http.StatusOK, "text/markdown; charset=utf-8", []byte(md))
	}
}

// handleExportHAR serves GET /flow/export.har: the flow as a HAR 1.2 file.
func handleExportHAR(cs cookieSessions, rec *flow.Recorder) echo.HandlerFunc {
	return func(c echo.Context) error {
		har, err := flow.HAR(rec.Exchanges(c.Request().Context(), cs.get(c).flowID()))
		if err != nil {
			return err
		}
		c.Response().Header().Set("Content-Disposition", `attachment; filename="oauth-flow.har"`)
		c.Response().Header().Set("Cache-Control", "no-store")
		return c.Blob(http.StatusOK, "application/json", har)
	}
}

// connectedOrLab lets a workshop button that acts at ImageHost through only
// for a browser connected to it, or in lab mode (loopback only). Otherwise
// anyone could have the app send requests to ImageHost, and upload there
// as its machine client, as often as they like.
func connectedOrLab(g connections, lab *labSwitches) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if lab != nil {
				return next(c)
			}
			if _, err := g.connection(c); errors.Is(err, errNotConnected) {
				return redirectWithFlash(c, g.cs, "/", "Connect with ImageHost first: the workshop's buttons act at ImageHost for a connected user.")
			} else if err != nil {
				return g.fail(c, err)
			}
			return next(c)
		}
	}
}

// handleExpireNow serves POST /flow/expire: the app forgets that its access
// token is still valid, so the next API call refreshes it. The token itself
// stays valid at ImageHost until its own expiry.
func handleExpireNow(g connections) echo.HandlerFunc {
	return func(c echo.Context) error {
		conn, err := g.connection(c)
		if err != nil {
			return g.fail(c, err)
		}
		err = g.keeper.update(c.Request().Context(), conn.session.ID, func(sess *tokenstore.Session) error {
			sess.Expiry = g.keeper.now().Add(-time.Second)
			return nil
		})
		if err != nil {
			return g.fail(c, err)
		}
		return redirectWithFlash(c, g.cs, "/flow", "The app now treats its access token as expired: the next API call refreshes it (step R).")
	}
}

// handleResetFlow serves POST /flow/reset.
func handleResetFlow(cs cookieSessions, rec *flow.Recorder) echo.HandlerFunc {
	return func(c echo.Context) error {
		rec.Reset(c.Request().Context(), cs.get(c).flowID())
		return redirectWithFlash(c, cs, "/flow", "Recording cleared.")
	}
}

// flowRef is the reference ImageHost's activity log gives a login: the
// first 12 hex digits of SHA-256 of its state.
func flowRef(state string) string {
	sum := sha256.Sum256([]byte(state))
	return hex.EncodeToString(sum[:6])
}

// refreshFamily follows the refresh tokens through the recorded exchanges:
// issued with the code, each rotation, and any reuse ImageHost caught. Only
// short prefixes of the tokens are shown.
func refreshFamily(exchanges []flow.Exchange) []views.FamilyEvent {
	short := func(t string) string {
		if len(t) > 6 {
			return t[:6] + "…"
		}
		return t
	}
	issued := func(ex flow.Exchange) string {
		var body struct {
			RefreshToken string `json:"refresh_token"`
		}
		json.Unmarshal([]byte(ex.Response.Body), &body)
		return body.RefreshToken
	}
	var out []views.FamilyEvent
	for _, ex := range exchanges {
		anchor := fmt.Sprintf("x%d", ex.Seq)
		sent := ex.Request.Param("refresh_token")
		switch {
		case ex.Step == flow.StepRevoke && ex.Request.Param("token_type_hint") != "access_token":
			out = append(out, views.FamilyEvent{Anchor: anchor, What: "revoked by the app (RFC 7009)", Tokens: short(ex.Request.Param("token")), Bad: true})
		case ex.Step == flow.StepToken && issued(ex) != "":
			out = append(out, views.FamilyEvent{Anchor: anchor, What: "issued with the code", Tokens: short(issued(ex))})
		case sent != "" && ex.Response.Status == http.StatusOK && issued(ex) != "":
			out = append(out, views.FamilyEvent{Anchor: anchor, What: "rotated", Tokens: short(sent) + " → " + short(issued(ex))})
		case sent != "" && ex.Response.Status == http.StatusOK:
			out = append(out, views.FamilyEvent{Anchor: anchor, What: "a spent token accepted (lab mode)", Tokens: short(sent), Bad: true})
		case sent != "" && ex.Response.Status != 0:
			out = append(out, views.FamilyEvent{Anchor: anchor, What: fmt.Sprintf("refused (%d): revoked or reused, the family is dead", ex.Response.Status), Tokens: short(sent), Bad: true})
		}
	}
	return out
}
