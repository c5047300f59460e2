package e2e

// Decompression bombs against the editor: a small PNG that decodes to the
// largest image ImageHost accepts, at 16 bits a channel, edited by many
// requests at once. PhotoEditorApp runs as a real process, and its peak
// memory is read from the kernel.

import (
	"bytes"
	"fmt"
	"image"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"oauthdemo/e2e/harness"
)

var hiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)"`)

// formOf returns the hidden fields of a page's forms, the first of each name.
func formOf(page string) url.Values {
	v := url.Values{}
	for _, m := range hiddenInput.FindAllStringSubmatch(page, -1) {
		if !v.Has(m[1]) {
			v.Set(m[1], strings.ReplaceAll(m[2], "&amp;", "&"))
		}
	}
	return v
}

// connectedUser signs user in to PhotoEditorApp through ImageHost, as a
// browser without JavaScript would, and returns the browser and a page of
// the app.
func connectedUser(t *testing.T, app, imageHost *harness.Process, user, pw string) (*http.Client, string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	page := func(resp *http.Response, err error) (*http.Response, string) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	_, home := page(c.Get(app.URL + "/"))
	_, login := page(c.PostForm(app.URL+"/connect", formOf(home)))
	f := formOf(login)
	f.Set("username", user)
	f.Set("password", pw)
	resp, body := page(c.PostForm(imageHost.URL+"/login", f))
	if strings.HasPrefix(resp.Request.URL.Path, "/consent") {
		f = formOf(body)
		f.Set("decision", "allow")
		resp, body = page(c.PostForm(imageHost.URL+"/consent", f))
	}
	if resp.Request.URL.String() != app.URL+"/photos" {
		t.Fatalf("connecting ended at %s", resp.Request.URL)
	}
	return c, body
}

// peakRSS is p's VmHWM, in bytes.
func peakRSS(t *testing.T, p *harness.Process) int64 {
	t.Helper()
	n, err := p.PeakRSS()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestEditBombs(t *testing.T) {
	if testing.Short() {
		t.Skip("memory test")
	}
	const (
		edits    = 20
		maxRSS   = 300 << 20
		answerIn = 10 * time.Second
	)
	imageHost, app := harness.Pair(t)
	browser, page := connectedUser(t, app, imageHost, "alice", "wonderland")
	csrf := formOf(page).Get("_csrf")

	// The largest image ImageHost accepts, 4000×3000, at 16 bits a channel:
	// a small file, 96 MB once decoded. One per edit, so that no edit finds
	// the smaller 8-bit result of another.
	img := image.NewNRGBA64(image.Rect(0, 0, 4000, 3000))
	for i := range img.Pix {
		img.Pix[i] = uint8(i / 8 % 251)
	}
	var bomb bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&bomb, img); err != nil {
		t.Fatal(err)
	}
	img = nil
	t.Logf("the image: %d KB of PNG, 4000×3000 at 16 bits", bomb.Len()>>10)
	ids := regexp.MustCompile(`data-photo-id="([^"]+)"[^>]*>\s*<img src="[^"]*" alt="bomb-`)
	for i := range edits {
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		mw.WriteField("_csrf", csrf)
		mw.WriteField("title", fmt.Sprintf("bomb-%02d", i))
		fw, _ := mw.CreateFormFile("file", "bomb.png")
		fw.Write(bomb.Bytes())
		mw.Close()
		resp, err := browser.Post(app.URL+"/photos", mw.FormDataContentType(), &body)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		page = string(b)
		if !strings.Contains(page, "Uploaded to ImageHost") {
			t.Fatalf("upload %d was refused:\n%s", i, page)
		}
	}
	var photos []string
	for _, m := range ids.FindAllStringSubmatch(page, -1) {
		photos = append(photos, m[1])
	}
	if len(photos) != edits {
		t.Fatalf("%d uploaded photos in the gallery, want %d", len(photos), edits)
	}
	before := peakRSS(t, app)

	// Every edit at once.
	noFollow := *browser
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	var wg sync.WaitGroup
	start := make(chan struct{})
	type answer struct {
		status int
		took   time.Duration
		err    error
	}
	answers := make([]answer, edits)
	for i, id := range photos {
		wg.Go(func() {
			<-start
			began := time.Now()
			resp, err := noFollow.PostForm(app.URL+"/photos/"+id+"/edit", url.Values{"_csrf": {csrf}, "op": {"rotate-right"}})
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				answers[i] = answer{status: resp.StatusCode}
			}
			answers[i].took, answers[i].err = time.Since(began), err
		})
	}
	close(start)
	wg.Wait()

	count := map[int]int{}
	var slowest time.Duration
	for i, a := range answers {
		slowest = max(slowest, a.took)
		switch {
		case a.err != nil:
			t.Errorf("edit %d: no answer after %v: %v", i, a.took.Round(time.Millisecond), a.err)
		case a.status != http.StatusSeeOther && a.status != http.StatusServiceUnavailable && a.status != http.StatusRequestEntityTooLarge:
			t.Errorf("edit %d answered %d: want done (303), busy (503) or too large (413)", i, a.status)
		case a.took > answerIn:
			t.Errorf("edit %d answered after %v, more than %v", i, a.took.Round(time.Millisecond), answerIn)
		}
		count[a.status]++
	}
	peak := peakRSS(t, app)
	t.Logf("%d edits at once: %d done, %d busy, %d too large, the slowest answered in %v; the app's peak RSS %d MiB (%d MiB before)",
		edits, count[http.StatusSeeOther], count[http.StatusServiceUnavailable], count[http.StatusRequestEntityTooLarge],
		slowest.Round(time.Millisecond), peak>>20, before>>20)
	if peak > maxRSS {
		t.Fatalf("the app's peak RSS was %d MiB, over %d MiB", peak>>20, maxRSS>>20)
	}
	if count[http.StatusSeeOther] == 0 {
		t.Fatal("no edit was done: the largest accepted image must be editable")
	}

	// A busy answer is a page that says so, not an error page.
	resp, err := browser.PostForm(app.URL+"/photos/"+photos[0]+"/edit", url.Values{"_csrf": {csrf}, "op": {"grayscale"}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), "saved to ImageHost") {
		t.Fatalf("an edit on its own, afterwards: %d\n%s", resp.StatusCode, b)
	}
}
