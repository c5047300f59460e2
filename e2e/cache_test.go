package e2e

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"oauthdemo/e2e/harness"
)

// TestLogOutLeavesNoPhotoInTheCache: the next person at a shared browser,
// after Log out, opens the address of a photo the gallery showed (from the
// history, say). The browser must ask the app, which no longer knows them,
// instead of showing the photo from its cache.
func TestLogOutLeavesNoPhotoInTheCache(t *testing.T) {
	_, app := harness.Pair(t)
	b := newBrowser(t)
	b.do("connect", chromedp.Navigate(app.URL+"/"), chromedp.WaitVisible(chromedp.CSS("#connect")),
		chromedp.Click(chromedp.CSS("#connect")), chromedp.WaitVisible(chromedp.CSS("#username")))
	b.signIn("alice", "wonderland")
	b.do("allow", chromedp.WaitVisible(chromedp.CSS("button[value=allow]")), chromedp.Click(chromedp.CSS("button[value=allow]")),
		chromedp.WaitVisible(chromedp.CSS(".gallery .photo img")))
	// Every photo of the gallery loaded (into the cache, if it may keep it).
	get(b, "the gallery's photos", chromedp.Poll[bool](
		`[...document.querySelectorAll('.gallery img')].every(img => img.complete && img.naturalWidth > 0)`))
	src := get(b, "a photo's address", chromedp.Evaluate[string](`document.querySelector('.gallery img').src`))

	b.do("log out", chromedp.Click(chromedp.CSS("#logout")), chromedp.WaitVisible(chromedp.CSS("#connect")))
	b.do("the photo's address after Log out", chromedp.Navigate(src))
	if kind := get(b, "what the page is", chromedp.Evaluate[string]("document.contentType")); strings.HasPrefix(kind, "image/") {
		t.Fatalf("after Log out, %s showed the photo (%s) from the browser's cache", src, kind)
	}
	if loc := b.location(); loc != app.URL+"/" {
		t.Fatalf("after Log out, %s led to %s, want the home page", src, loc)
	}
}
