package harness

// A workshop's room over plain HTTP, as a browser without JavaScript would
// go through it: an attendee joins with the code, registers an app in the
// developer console; the teacher reads the class view's data. Tests and
// loadtest's room mode use these.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Join creates an account at ImageHost (issuer) with the join code, as an
// attendee would on its join page, and leaves browser, which must have a
// cookie jar, signed in as the new user.
func Join(ctx context.Context, browser *http.Client, issuer, code, username, password string) error {
	form, err := Form(ctx, browser, issuer+"/join")
	if err != nil {
		return err
	}
	form.Set("join_code", code)
	form.Set("username", username)
	form.Set("password", password)
	return postForm(ctx, browser, issuer+"/join", form, "/developer")
}

// Login signs browser in at ImageHost's own login page, with no
// authorization request: for its account pages and the class view.
func Login(ctx context.Context, browser *http.Client, issuer, username, password string) error {
	form, err := Form(ctx, browser, issuer+"/login")
	if err != nil {
		return err
	}
	form.Set(fieldUsername, username)
	form.Set(fieldPassword, password)
	return postForm(ctx, browser, issuer+"/login", form, "/account")
}

// postForm posts form and expects to be sent to wantPath.
func postForm(ctx context.Context, browser *http.Client, target string, form url.Values, wantPath string) error {
	step := *browser
	step.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	next, page, err := visit(ctx, &step, http.MethodPost, target, form)
	if err != nil {
		return err
	}
	if next == nil || next.Path != wantPath {
		return fmt.Errorf("harness: %s answered %v, not a redirect to %s:\n%.1000s", target, next, wantPath, alertOf(page))
	}
	return nil
}

// alertOf is the error a page of ImageHost's shows, if any, or the page.
func alertOf(page string) string {
	if _, msg, ok := strings.Cut(page, `role="alert">`); ok {
		msg, _, _ = strings.Cut(msg, "<")
		return msg
	}
	return page
}

// ConsoleApp is an app to register in the developer console.
type ConsoleApp struct {
	Name         string
	RedirectURIs []string
	// AccessTokenTTL is the lifetime of its access tokens; 0 is the
	// server's default.
	AccessTokenTTL time.Duration
	// Starter ticks "Also register the starter program's redirect URI".
	Starter bool
}

// The client_id and secret the console shows once (authserver/pages).
var (
	newClientID = regexp.MustCompile(`id="new-client-id">([^<]+)<`)
	newSecret   = regexp.MustCompile(`id="client-secret">([^<]+)<`)
)

// RegisterApp registers app in the developer console as browser's signed-in
// user and returns its client_id and secret.
func RegisterApp(ctx context.Context, browser *http.Client, issuer string, app ConsoleApp) (clientID, secret string, err error) {
	form, err := Form(ctx, browser, issuer+"/developer")
	if err != nil {
		return "", "", err
	}
	form.Set("name", app.Name)
	form.Set("redirect_uris", strings.Join(app.RedirectURIs, "\n"))
	if app.AccessTokenTTL > 0 {
		form.Set("access_token_ttl", strconv.Itoa(int(app.AccessTokenTTL/time.Second)))
	}
	if app.Starter {
		form.Set("starter", "on")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, issuer+"/developer/clients", strings.NewReader(form.Encode()))
	if err != nil {
		return "", "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := browser.Do(req)
	if err != nil {
		return "", "", fmt.Errorf("harness: register an app: %w", err)
	}
	defer resp.Body.Close()
	page, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", "", err
	}
	id, sec := newClientID.FindSubmatch(page), newSecret.FindSubmatch(page)
	if resp.StatusCode != http.StatusCreated || id == nil || sec == nil {
		return "", "", fmt.Errorf("harness: register an app: %s: %.500s", resp.Status, alertOf(string(page)))
	}
	return string(id[1]), string(sec[1]), nil
}

// Class is the part of the class view's data (/class/data) the tests read.
type Class struct {
	Attendees []struct {
		Username string `json:"username"`
		Disabled bool   `json:"disabled"`
		Cells    []struct {
			Milestone string    `json:"milestone"`
			Done      bool      `json:"done"`
			First     time.Time `json:"first"`
			Count     int       `json:"count"`
			Refusal   string    `json:"refusal"`
		} `json:"cells"`
	} `json:"attendees"`
	Refusals []struct {
		Refusal string `json:"refusal"`
		Count   int    `json:"count"`
	} `json:"refusals"`
}

// Reached returns when username reached milestone, as the class view shows
// it, and whether they did.
func (c Class) Reached(username, milestone string) (time.Time, bool) {
	for _, a := range c.Attendees {
		if a.Username != username {
			continue
		}
		for _, cell := range a.Cells {
			if cell.Milestone == milestone {
				return cell.First, cell.Done
			}
		}
	}
	return time.Time{}, false
}

// ReadClass reads the class view's data as browser's signed-in user, who
// must be an admin.
func ReadClass(ctx context.Context, browser *http.Client, issuer string) (Class, error) {
	var c Class
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, issuer+"/class/data", nil)
	if err != nil {
		return c, err
	}
	resp, err := browser.Do(req)
	if err != nil {
		return c, fmt.Errorf("harness: class data: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return c, fmt.Errorf("harness: class data: %s", resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(&c); err != nil {
		return c, fmt.Errorf("harness: class data: %w", err)
	}
	return c, nil
}
