package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"oauthdemo/e2e/harness"
)

// connect signs user in to PhotoEditorApp at appURL through ImageHost, as a
// browser without JavaScript would: Connect on the app's home page, sign in
// and allow at ImageHost (harness.SignIn), and back to the app, which
// redeems the code and shows its gallery. It returns the gallery page.
func connect(ctx context.Context, browser *http.Client, appURL, user, pw string) (string, error) {
	home, err := harness.Form(ctx, browser, appURL+"/")
	if err != nil {
		return "", err
	}
	noFollow := *browser
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := noFollow.PostForm(appURL+"/connect", home)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	authURL, err := resp.Location()
	if err != nil {
		return "", fmt.Errorf("Connect answered %s, not a redirect to ImageHost", resp.Status)
	}
	callback, err := harness.SignIn(ctx, browser, authURL.String(), user, pw)
	if err != nil {
		return "", err
	}
	resp, err = browser.Get(callback.String())
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	page, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.Request.URL.String() != appURL+"/photos" || resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("connecting ended at %s with %s:\n%.2000s", resp.Request.URL, resp.Status, page)
	}
	return string(page), nil
}
