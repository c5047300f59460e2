package harness

// Signing in at ImageHost over plain HTTP, as a browser without JavaScript
// would: follow /authorize to the login page, fill in the form, allow on the
// consent page, and stop where ImageHost sends the browser back to the
// client. Tests and loadtest use it; PhotoEditorApp's attack demonstrations
// keep their own copy, since app code must not import test code.

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// The fields of ImageHost's login and consent forms that signing in fills
// in (authserver/pages/pages.templ); the forms' hidden fields, csrf_token
// and request, are sent back as the page gave them.
const (
	fieldUsername = "username"
	fieldPassword = "password"
	fieldDecision = "decision" // "allow" or "deny"
)

// RefusedError is what SignIn returns when ImageHost answers the login form
// with an error: a wrong password (401), too many attempts (429), too busy
// (503).
type RefusedError struct{ Status int }

func (e *RefusedError) Error() string {
	return fmt.Sprintf("harness: ImageHost refused the sign-in: %d %s", e.Status, http.StatusText(e.Status))
}

// hiddenInput matches a hidden field of a form, as templ writes it.
var hiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)"`)

// NewBrowser is a browser for SignIn: an HTTP client with a cookie jar.
func NewBrowser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 30 * time.Second}
}

// AuthorizeURL is an authorization request of the harness's
// PhotoEditorApp client at issuer, for scope, to be answered at
// redirectURI with state, and bound by PKCE (S256) to verifier.
func AuthorizeURL(issuer, redirectURI, scope, state, verifier string) string {
	c := oauth2.Config{ClientID: AppClientID, RedirectURL: redirectURI, Scopes: strings.Fields(scope),
		Endpoint: oauth2.Endpoint{AuthURL: issuer + "/authorize"}}
	return c.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier))
}

// SignIn takes browser, which must have a cookie jar, through an
// authorization request at ImageHost: from authURL it signs in as user with
// password when the login page comes, and allows when the consent page
// comes. It returns where ImageHost then sends the browser, which it does
// not follow: the client's redirect URI with the code (or an error) and
// the state. A browser signed in already, whose consent ImageHost
// remembers, goes there at once.
func SignIn(ctx context.Context, browser *http.Client, authURL, user, password string) (*url.URL, error) {
	if browser.Jar == nil {
		return nil, errors.New("harness: SignIn needs a browser with a cookie jar")
	}
	step := *browser
	step.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	start, err := url.Parse(authURL)
	if err != nil {
		return nil, fmt.Errorf("harness: authorization URL: %w", err)
	}
	next, _, err := visit(ctx, &step, http.MethodGet, authURL, nil)
	// Login and consent, each at most once, or twice when a prompt asks
	// again: a longer walk means ImageHost is going round in circles.
	for range 5 {
		if err != nil {
			return nil, err
		}
		if next == nil {
			return nil, fmt.Errorf("harness: ImageHost answered with no redirect on the way to the client")
		}
		if next.Host != start.Host {
			return next, nil // back to the client
		}
		var form url.Values
		switch next.Path {
		case "/login":
			if form, err = Form(ctx, &step, next.String()); err != nil {
				return nil, err
			}
			form.Set(fieldUsername, user)
			form.Set(fieldPassword, password)
		case "/consent":
			if form, err = Form(ctx, &step, next.String()); err != nil {
				return nil, err
			}
			form.Set(fieldDecision, "allow")
		default:
			return nil, fmt.Errorf("harness: ImageHost sent the browser to %s, not to its login or consent page", next.Redacted())
		}
		action := *next // the form posts back to its own page, without the query
		action.RawQuery = ""
		next, _, err = visit(ctx, &step, http.MethodPost, action.String(), form)
	}
	return nil, fmt.Errorf("harness: signing in did not end after five pages")
}

// visit sends one request and returns where the answer redirects to, if it
// does, and its body. An answer that is neither a redirect nor a page is an
// error; one from the login form a *RefusedError.
func visit(ctx context.Context, c *http.Client, method, target string, form url.Values) (*url.URL, string, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return nil, "", fmt.Errorf("harness: %s %s: %w", method, target, err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("harness: %s %s: %w", method, target, err)
	}
	defer resp.Body.Close()
	page, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, "", fmt.Errorf("harness: %s %s: %w", method, target, err)
	}
	switch {
	case resp.StatusCode == http.StatusSeeOther || resp.StatusCode == http.StatusFound:
		loc, err := resp.Location()
		return loc, string(page), err
	case resp.StatusCode == http.StatusOK:
		return nil, string(page), nil
	case method == http.MethodPost && req.URL.Path == "/login":
		return nil, "", &RefusedError{Status: resp.StatusCode}
	default:
		return nil, "", fmt.Errorf("harness: %s %s: %s", method, req.URL.Path, resp.Status)
	}
}

// Form loads a page in browser and returns its HiddenFields.
func Form(ctx context.Context, browser *http.Client, page string) (url.Values, error) {
	_, body, err := visit(ctx, browser, http.MethodGet, page, nil)
	if err != nil {
		return nil, err
	}
	return HiddenFields(body), nil
}

// HiddenFields returns the hidden fields of a page's forms, the first of
// each name, to be sent back with a form: a CSRF token, a request id.
func HiddenFields(page string) url.Values {
	form := url.Values{}
	for _, m := range hiddenInput.FindAllStringSubmatch(page, -1) {
		if !form.Has(m[1]) {
			form.Set(m[1], html.UnescapeString(m[2]))
		}
	}
	return form
}

// Code returns the authorization code of the callback URL SignIn returned,
// or the error ImageHost sent the client instead.
func Code(callback *url.URL) (string, error) {
	q := callback.Query()
	if e := q.Get("error"); e != "" {
		return "", fmt.Errorf("harness: ImageHost answered %s: %s", e, q.Get("error_description"))
	}
	if q.Get("code") == "" {
		return "", fmt.Errorf("harness: no code in %s", callback.Redacted())
	}
	return q.Get("code"), nil
}

// MustSignIn is SignIn for a test.
func MustSignIn(tb testing.TB, browser *http.Client, authURL, user, password string) *url.URL {
	tb.Helper()
	callback, err := SignIn(tb.Context(), browser, authURL, user, password)
	if err != nil {
		tb.Fatal(err)
	}
	return callback
}
