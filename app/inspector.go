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
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"oauthdemo/app/flow"
	"oauthdemo/app/tokenstore"
	"oauthdemo/views"
)

// diagram is the classic sequence diagram, as rows of arrows between the
// lanes browser (0), app (1) and ImageHost (2).
var diagram = []struct {
	step     flow.Step
	label    string
	from, to int
}{
	{flow.StepConnect, "1 Connect with ImageHost", 0, 1},
	{flow.StepAuthorize, "2 Redirect to /authorize: client_id, redirect_uri, scope, state, nonce, code_challenge", 1, 2},
	{flow.StepLogin, "3 Log in and consent", 0, 2},
	{flow.StepCallback, "4-5 Redirect back: code, state, iss", 2, 1},
	{flow.StepToken, "6 POST /token: code, code_verifier, client secret", 1, 2},
	{flow.StepToken, "7 Access, refresh and ID tokens", 2, 1},
	{flow.StepAPI, "8 GET /api/photos with the bearer token", 1, 2},
	{flow.StepAPI, "9 The photos", 2, 1},
	{flow.StepRefresh, "R Expired: POST /token with the refresh token, new tokens", 1, 2},
}

// revealAllowed: secrets may be shown unmasked only to a browser on this
// machine, asking on a loopback address.
func revealAllowed(c echo.Context) bool { return loopbackRequest(c.Request()) }

// loopbackRequest reports whether a request comes from this machine and
// names it by a loopback name or address. Both matter: a page from another
// site that rebinds its own domain name to 127.0.0.1 (DNS rebinding) sends
// requests from this machine, but with its own domain in Host.
func loopbackRequest(req *http.Request) bool {
	remote, _, err := net.SplitHostPort(req.RemoteAddr)
	return err == nil && isLoopback(remote) && loopbackHost(req.Host)
}

// loopbackHost reports whether a Host header names this machine:
// localhost, an address in 127.0.0.0/8 or [::1], with any port.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	} else if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1] // [::1] without a port
	}
	return isLoopback(strings.ToLower(host))
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// handleInspector serves GET /flow.
func handleInspector(p *provider, g gallery, rec *flow.Recorder) echo.HandlerFunc {
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
		exchanges := rec.Exchanges(bs.flowID())
		seen := map[flow.Step]string{}
		for _, ex := range exchanges {
			ex = show(ex)
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
			}
			if id := headerOf(ex.Response.Headers, "X-Request-Id"); id != "" {
				xv.ImageHostLink = p.issuer + "/account#req-" + url.PathEscape(id)
			}
			vm.Exchanges = append(vm.Exchanges, xv)
		}
		vm.Family = refreshFamily(exchanges)
		if _, ok := seen[flow.StepCallback]; ok {
			seen[flow.StepLogin] = "" // it happened, at ImageHost, where the app cannot see it
		}
		for _, row := range diagram {
			anchor, happened := seen[row.step]
			span := fmt.Sprintf("span-%d-%d", min(row.from, row.to), max(row.from, row.to))
			vm.Diagram = append(vm.Diagram, views.DiagramRow{Label: row.label, Span: span, Leftward: row.to < row.from,
				Happened: happened, Anchor: anchor})
		}
		if conn, err := g.connection(c); err == nil {
			vm.Page.UserName = conn.session.Name
			vm.Tokens = decodedTokens(c, p, conn.session, vm.Revealed)
			vm.RefreshToken, vm.Rotations = flow.Mask(conn.session.RefreshToken), conn.session.Refreshes
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
		md := flow.Markdown(rec.Exchanges(cs.get(c).flowID()))
		c.Response().Header().Set("Content-Disposition", `attachment; filename="oauth-flow.md"`)
		c.Response().Header().Set("Cache-Control", "no-store")
		return c.Blob(http.StatusOK, "text/markdown; charset=utf-8", []byte(md))
	}
}

// handleExportHAR serves GET /flow/export.har: the flow as a HAR 1.2 file.
func handleExportHAR(cs cookieSessions, rec *flow.Recorder) echo.HandlerFunc {
	return func(c echo.Context) error {
		har, err := flow.HAR(rec.Exchanges(cs.get(c).flowID()))
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
func connectedOrLab(g gallery, lab *labSwitches) echo.MiddlewareFunc {
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
func handleExpireNow(g gallery) echo.HandlerFunc {
	return func(c echo.Context) error {
		conn, err := g.connection(c)
		if err != nil {
			return g.fail(c, err)
		}
		mu := g.keeper.lock(conn.session.ID)
		mu.Lock()
		sess, err := g.store.Get(c.Request().Context(), conn.session.ID)
		if err == nil {
			sess.Expiry = g.keeper.now().Add(-time.Second)
			err = g.store.Save(c.Request().Context(), sess)
		}
		mu.Unlock()
		if errors.Is(err, tokenstore.ErrNotFound) {
			return g.fail(c, errNotConnected)
		} else if err != nil {
			return err
		}
		return redirectWithFlash(c, g.cs, "/flow", "The app now treats its access token as expired: the next API call refreshes it (step R).")
	}
}

// handleResetFlow serves POST /flow/reset.
func handleResetFlow(cs cookieSessions, rec *flow.Recorder) echo.HandlerFunc {
	return func(c echo.Context) error {
		rec.Reset(cs.get(c).flowID())
		return redirectWithFlash(c, cs, "/flow", "Recording cleared.")
	}
}

// flowRef is the reference ImageHost's activity log gives a login: the
// first 12 hex digits of SHA-256 of its state.
func flowRef(state string) string {
	sum := sha256.Sum256([]byte(state))
	return hex.EncodeToString(sum[:6])
}

func headerOf(kvs []flow.KV, name string) string {
	for _, kv := range kvs {
		if strings.EqualFold(kv.Name, name) {
			return kv.Value
		}
	}
	return ""
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
