package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
)

// uploadForm is the gallery's upload form, with data as the file.
func uploadForm(csrf, filename, title string, data []byte) (*bytes.Buffer, string) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("_csrf", csrf)
	mw.WriteField("title", title)
	fw, _ := mw.CreateFormFile("file", filename)
	fw.Write(data)
	mw.Close()
	return &body, mw.FormDataContentType()
}

// TestImageProxyIsNotCached: a photo the app passes on may be kept by no
// cache, the browser's included, since the next person at the browser
// could open it from there after Log out (e2e TestLogOutLeavesNoPhotoInTheCache
// shows it in Chromium).
func TestImageProxyIsNotCached(t *testing.T) {
	a := newTestApp(t)
	u := newUser(t)
	page := a.connect(u, "alice", "wonderland")
	id := regexp.MustCompile(`data-photo-id="([^"]+)"`).FindStringSubmatch(page)[1]
	resp, _ := u.get(a.URL + "/photos/" + id + "/image")
	if cc := resp.Header.Get("Cache-Control"); resp.StatusCode != http.StatusOK || !strings.Contains(cc, "no-store") {
		t.Fatalf("image proxy: %d, Cache-Control %q; want no-store", resp.StatusCode, cc)
	}
}

// TestEditOfAnEmptyFrame: a GIF whose first frame has no pixels, which
// ImageHost keeps (its screen is 4×4), is refused by the editor with a page
// that says so, for every operation: no 500.
func TestEditOfAnEmptyFrame(t *testing.T) {
	a := newTestApp(t)
	u := newUser(t)
	page := a.connect(u, "bob", "builder")
	gif := []byte("GIF89a\x04\x00\x04\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff" + // screen 4×4, two colours
		"\x2c\x00\x00\x00\x00\x00\x00\x04\x00\x00" + // first frame: 0×4
		"\x02\x01\x2c\x00\x3b")
	body, contentType := uploadForm(hidden(page).Get("_csrf"), "empty.gif", "Empty frame", gif)
	resp, err := u.client.Post(a.URL+"/photos", contentType, body)
	if err != nil {
		t.Fatal(err)
	}
	page = readBody(t, resp)
	id := regexp.MustCompile(`data-photo-id="([^"]+)"[^>]*>\s*<img src="[^"]*" alt="Empty frame"`).FindStringSubmatch(page)
	if id == nil {
		t.Fatalf("the GIF is not in the gallery:\n%s", page)
	}
	for _, op := range []string{"half-size", "rotate-left", "grayscale", "crop-square"} {
		resp, page := u.post(a.URL+"/photos/"+id[1]+"/edit", url.Values{"_csrf": {hidden(page).Get("_csrf")}, "op": {op}})
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, "could not read this image") {
			t.Fatalf("%s of a GIF with an empty first frame: %d\n%.2000s", op, resp.StatusCode, page)
		}
	}
}

// TestUploadsAreSpooledUnderACap: an upload's form is read into a
// temporary file before the CSRF check reads it, under the transfer cap:
// with the cap taken, a burst of uploads is told "busy" within the wait,
// and once it is free the handler finds the photo in a file, which is gone
// when the request is.
func TestUploadsAreSpooledUnderACap(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	caps := newTransfers(16<<20, 200*time.Millisecond)
	e := echo.New()
	e.HTTPErrorHandler = newErrorHandler(newCookieSessions(make([]byte, 32), make([]byte, 32), false), slog.New(slog.DiscardHandler))
	e.Use(spoolUploads(caps))
	spooled := make(chan bool, 1)
	e.POST("/photos", func(c echo.Context) error {
		fh, err := c.FormFile("file")
		if err != nil {
			return err
		}
		f, _ := fh.Open()
		defer f.Close()
		_, inFile := f.(*os.File)
		spooled <- inFile
		return c.NoContent(http.StatusNoContent)
	})
	srv := httptest.NewServer(e)
	defer srv.Close()
	photo := bytes.Repeat([]byte{0x89}, 2<<20)
	post := func() *http.Response {
		body, contentType := uploadForm("x", "big.png", "Big", photo)
		resp, err := http.Post(srv.URL+"/photos", contentType, body)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}

	release, err := caps.hold(context.Background(), 16<<20)
	if err != nil {
		t.Fatal(err)
	}
	results := make(chan *http.Response, 8)
	start := make(chan struct{})
	for range 8 {
		go func() { <-start; results <- post() }()
	}
	close(start)
	for range 8 {
		if resp := <-results; resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("an upload with the cap taken: %s, Retry-After %q; want 503 and when to come back", resp.Status, resp.Header.Get("Retry-After"))
		}
	}
	release()
	if resp := post(); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("an upload with the cap free: %s", resp.Status)
	}
	if !<-spooled {
		t.Fatal("a 2 MB photo was held in memory, not spooled to a file")
	}
	if files, _ := os.ReadDir(tmp); len(files) != 0 {
		t.Fatalf("%d temporary files left after the request, such as %s", len(files), files[0].Name())
	}
}

// TestOddPhotoIDsAreNotFound: a page of a photo whose id ImageHost never
// gives is "Photo not found", and the user stays signed in. Any site can
// send a signed-in browser to such an address with its cookie (SameSite=Lax
// lets a top-level navigation carry it): an id of 3,500 characters made
// the app's DPoP proof longer than ImageHost takes, and the refusal ended
// the session; a control character was a 500; "x?a=b" and ".." reached
// other paths of ImageHost's API.
func TestOddPhotoIDsAreNotFound(t *testing.T) {
	a := newTestApp(t)
	u := newUser(t)
	page := a.connect(u, "alice", "wonderland")
	csrf := hidden(page).Get("_csrf")
	for _, id := range []string{strings.Repeat("A", 3500), "%00", "x%3Fa=b", "%2e%2e", "AAAAAAAAAAAAAAAAAAAAAA%0a"} {
		for _, try := range []struct {
			method, path string
		}{{"GET", "/image"}, {"GET", "/edit"}, {"POST", "/edit"}, {"POST", "/delete"}} {
			var resp *http.Response
			var body string
			if try.method == "GET" {
				resp, body = u.get(a.URL + "/photos/" + id + try.path)
			} else {
				resp, body = u.post(a.URL+"/photos/"+id+try.path, url.Values{"_csrf": {csrf}, "op": {"grayscale"}})
			}
			if resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "Photo not found") {
				t.Errorf("%s /photos/%.20s…%s: %d at %.60s, want 404 Photo not found", try.method, id, try.path, resp.StatusCode, resp.Request.URL)
			}
		}
	}
	resp, page := u.get(a.URL + "/photos")
	if resp.Request.URL.String() != a.URL+"/photos" || resp.StatusCode != http.StatusOK || !strings.Contains(page, "Sunset over the sea") {
		t.Fatalf("after the odd ids, /photos ended at %s with %d: the session is gone", resp.Request.URL, resp.StatusCode)
	}
	if a.session(u).AccessToken == "" {
		t.Fatal("after the odd ids, the session has no tokens")
	}
}
