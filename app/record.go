package main

// Workshop mode's recording of the flow's front channel. Connect and the
// callback know nothing of it: each is wrapped, on its route, by a
// middleware that writes down the request as it came and what the app
// answered. The back channel is recorded by the HTTP client's transport
// (flow.Transport), for requests whose context carries the flow id.

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"oauthdemo/app/flow"
)

// frontChannel is how the inspector names what passes through the browser.
const frontChannel = "front channel (browser)"

// flowContext marks the request's context with the browser's flow id, so
// the back-channel calls it makes are recorded (as API calls unless a
// handler says otherwise).
func flowContext(cs cookieSessions) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if id := cs.get(c).flowID(); id != "" {
				ctx := flow.WithStep(flow.WithID(c.Request().Context(), id), flow.StepAPI)
				c.SetRequest(c.Request().WithContext(ctx))
			}
			return next(c)
		}
	}
}

// recordedStep gives the browser a flow id, if it has none yet, and
// returns the request's context marked for recording at step: a workshop
// button's back-channel requests are recorded under it.
func recordedStep(c echo.Context, cs cookieSessions, step flow.Step) (context.Context, string, error) {
	bs := cs.get(c)
	flowID := bs.ensureFlowID()
	if err := cs.save(c, bs); err != nil {
		return nil, "", err
	}
	return flow.WithStep(flow.WithID(c.Request().Context(), flowID), step), flowID, nil
}

// recordConnect records steps 1 and 2 as the browser sees them: its POST
// to Connect, and the redirect to ImageHost's authorization endpoint that
// Connect answered with. A browser that connects gets a flow id first.
func recordConnect(rec *flow.Recorder, cs cookieSessions, baseURL string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			bs := cs.get(c)
			flowID := bs.ensureFlowID()
			if err := cs.save(c, bs); err != nil {
				return err
			}
			if err := next(c); err != nil {
				return err
			}
			authURL := c.Response().Header().Get(echo.HeaderLocation)
			ctx := c.Request().Context()
			rec.Add(ctx, flowID, flow.Exchange{Step: flow.StepConnect, Channel: frontChannel,
				Request:  flow.Message{Method: http.MethodPost, URL: baseURL + "/connect", Params: []flow.KV{{Name: "_csrf", Value: csrfToken(c)}}},
				Response: flow.Message{Status: c.Response().Status, Headers: []flow.KV{{Name: "Location", Value: authURL}}},
				Note:     "The app made a new state, nonce and PKCE verifier, and keeps them in your encrypted session cookie."})
			if u, err := url.Parse(authURL); err == nil {
				query := u.RawQuery
				u.RawQuery = ""
				rec.Add(ctx, flowID, flow.Exchange{Step: flow.StepAuthorize, Channel: frontChannel,
					Request: flow.Message{Method: http.MethodGet, URL: u.String(), Params: flow.ParamsOf(query)},
					Note:    "Your browser carries this request to ImageHost. The PKCE code_verifier stays with the app: only its SHA-256, the code_challenge, travels."})
			}
			return nil
		}
	}
}

// recordCallback records steps 4-5: the callback as it arrived, before the
// code exchange it causes, and once answered, what the app made of it.
func recordCallback(rec *flow.Recorder, cs cookieSessions, baseURL string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			bs := cs.get(c)
			flowID := bs.flowID()
			_, inProgress := bs.pendingLogin()
			ctx := c.Request().Context()
			ex := rec.Add(ctx, flowID, flow.Exchange{Step: flow.StepCallback, Channel: frontChannel,
				Request: flow.Message{Method: http.MethodGet, URL: baseURL + "/callback", Params: flow.ParamsOf(c.Request().URL.RawQuery)}})
			err := next(c)
			ex.Response, ex.Note = callbackOutcome(c, err, requestChecks(c), inProgress)
			rec.Replace(ctx, flowID, ex)
			return err
		}
	}
}

// callbackOutcome is the answer to a callback, and a sentence on it.
func callbackOutcome(c echo.Context, err error, chk checks, inProgress bool) (flow.Message, string) {
	var pe *pageError
	switch {
	case errors.As(err, &pe):
		return flow.Message{Status: pe.status}, "Refused: " + pe.message
	case err != nil:
		return flow.Message{Status: http.StatusInternalServerError}, "The app failed."
	}
	resp := flow.Message{Status: c.Response().Status, Headers: []flow.KV{{Name: "Location", Value: c.Response().Header().Get(echo.HeaderLocation)}}}
	if resp.Headers[0].Value != "/photos" {
		return resp, "A workshop demonstration's own login: what the app did with its code is in the exchanges marked !."
	}
	note := "state matched, iss is ImageHost, the code was redeemed, and the ID token's signature, iss, aud, expiry and nonce checked out."
	var skipped []string // in the order the callback meets them
	if !chk.state && !inProgress {
		skipped = append(skipped, "the state check (no login was in progress)")
	}
	if !chk.iss {
		skipped = append(skipped, "the iss check")
	}
	if !chk.state && inProgress {
		skipped = append(skipped, "the state check")
	}
	if !chk.nonce {
		skipped = append(skipped, "the nonce check")
	}
	if len(skipped) > 0 {
		note = "LAB MODE, skipped: " + strings.Join(skipped, ", ") + ". " + note
	}
	return resp, note
}
