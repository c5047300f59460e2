package imagehost

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// fixedTokens hands out one token.
type fixedTokens string

func (t fixedTokens) AccessToken(context.Context) (string, error)     { return string(t), nil }
func (t fixedTokens) Refresh(context.Context, string) (string, error) { return string(t), nil }

// endless is a body that never ends.
type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}

// Photo ids of ImageHost's form (IsPhotoID), for the photos the fake APIs
// serve.
const (
	declared  = "declared-AAAAAAAAAAAAA"
	exact     = "exact-AAAAAAAAAAAAAAAA"
	endlessID = "endless-AAAAAAAAAAAAAA"
)

// TestOddPhotoIDsAreNotSent: an id ImageHost never gives is ErrNotFound,
// and no request goes out for it, whatever the call: neither one that
// would reach another path of the API, nor one that could not be sent, nor
// one whose URL would make a DPoP proof longer than ImageHost takes.
func TestOddPhotoIDsAreNotSent(t *testing.T) {
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.Header().Set("Content-Type", "image/png")
		io.WriteString(w, "\x89PNG")
	}))
	defer srv.Close()
	c := Client{BaseURL: srv.URL + "/api/photos", HTTP: srv.Client()}
	ctx := context.Background()
	for _, id := range []string{"", "x?a=b", "..", "%2e%2e", "a/b", "\x00", "A\nB", strings.Repeat("A", 3500),
		"AAAAAAAAAAAAAAAAAAAAA", "AAAAAAAAAAAAAAAAAAAAAAA", "AAAAAAAAAAAAAAAAAAAA+/", "AAAAAAAAAAAAAAAAAAAAA=", "AAAAAAAAAAAAAAAAAAAAA\u00e9"} {
		_, _, errImage := c.Image(ctx, fixedTokens("t"), id)
		_, errReplace := c.Replace(ctx, fixedTokens("t"), id, "a.png", strings.NewReader("x"), 1)
		errDelete := c.Delete(ctx, fixedTokens("t"), id)
		for call, err := range map[string]error{"Image": errImage, "Replace": errReplace, "Delete": errDelete} {
			if !errors.Is(err, ErrNotFound) {
				t.Errorf("%s(%q): %v, want ErrNotFound", call, id, err)
			}
		}
	}
	if n := requests.Load(); n != 0 {
		t.Fatalf("%d requests reached the API for ids it never gives", n)
	}
	if _, _, err := c.Image(ctx, fixedTokens("t"), "-Az09_-Az09_-Az09_-Az0"); err != nil || requests.Load() != 1 {
		t.Fatalf("an id of ImageHost's form: %v after %d requests", err, requests.Load())
	}
}

// TestImagesAreBounded: an API that serves more than a photo can be is cut
// off, whether it says so up front or not.
func TestImagesAreBounded(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		switch r.URL.Path {
		case "/api/photos/" + declared:
			w.Header().Set("Content-Length", strconv.Itoa(MaxImageBytes+1))
			io.CopyN(w, endless{}, MaxImageBytes+1)
		case "/api/photos/" + exact:
			io.CopyN(w, endless{}, MaxImageBytes)
		default: // chunked, and endless
			io.Copy(w, endless{})
		}
	}))
	defer srv.Close()
	c := Client{BaseURL: srv.URL + "/api/photos", HTTP: srv.Client()}
	ctx := context.Background()
	for _, id := range []string{declared, endlessID} {
		data, _, err := c.Image(ctx, fixedTokens("t"), id)
		if !errors.Is(err, ErrTooLarge) || len(data) > MaxImageBytes {
			t.Errorf("%s: %d bytes, %v; want ErrTooLarge", id, len(data), err)
		}
	}
	body, _, err := c.OpenImage(ctx, fixedTokens("t"), endlessID)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, body)
	body.Close()
	if !errors.Is(err, ErrTooLarge) || n > MaxImageBytes {
		t.Errorf("streaming an endless photo: %d bytes, %v", n, err)
	}
	if data, _, err := c.Image(ctx, fixedTokens("t"), exact); err != nil || len(data) != MaxImageBytes {
		t.Errorf("a photo of exactly MaxImageBytes: %d bytes, %v", len(data), err)
	}
}

// TestListFollowsPages: the list is read page by page through the Link
// header, never from another server, and never endlessly.
func TestListFollowsPages(t *testing.T) {
	var elsewhere atomic.Int64
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
		io.WriteString(w, "[]")
	}))
	defer other.Close()
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if r.Header.Get("Authorization") != "Bearer t" {
			t.Errorf("a page asked for without the token")
		}
		page := r.URL.Query().Get("cursor")
		switch r.URL.Path + "/" + page {
		case "/api/photos/":
			w.Header().Set("Link", `</api/photos?limit=100&cursor=2>; rel="next"`)
			io.WriteString(w, `[{"id":"a"},{"id":"b"}]`)
		case "/api/photos/2":
			w.Header().Set("Link", `<http://`+r.Host+`/api/photos?cursor=3>; rel="prev next"`)
			io.WriteString(w, `[{"id":"c"}]`)
		case "/api/photos/3":
			io.WriteString(w, `[{"id":"d"}]`)
		case "/loop/":
			w.Header().Set("Link", `</loop>; rel=next`)
			io.WriteString(w, `[{"id":"again"}]`)
		case "/away/":
			w.Header().Set("Link", `<`+other.URL+`/away>; rel="next"`)
			io.WriteString(w, `[{"id":"x"}]`)
		}
	}))
	defer srv.Close()
	ctx := context.Background()
	list, err := Client{BaseURL: srv.URL + "/api/photos", HTTP: srv.Client()}.List(ctx, fixedTokens("t"))
	var ids []string
	for _, p := range list {
		ids = append(ids, p.ID)
	}
	if err != nil || strings.Join(ids, ",") != "a,b,c,d" {
		t.Fatalf("List over three pages: %v, %v", ids, err)
	}
	requests.Store(0)
	list, err = Client{BaseURL: srv.URL + "/loop", HTTP: srv.Client()}.List(ctx, fixedTokens("t"))
	if n := requests.Load(); err != nil || n != maxPages || len(list) != maxPages {
		t.Fatalf("a next link to itself: %d requests, %d photos, %v; want %d of each", n, len(list), err, maxPages)
	}
	if _, err = (Client{BaseURL: srv.URL + "/away", HTTP: srv.Client()}).List(ctx, fixedTokens("t")); err == nil || elsewhere.Load() != 0 {
		t.Fatalf("a next link to another server: %v, %d requests there", err, elsewhere.Load())
	}
}

// rotatingTokens hands out "old" until asked to refresh, then "new".
type rotatingTokens struct{ refreshed atomic.Bool }

func (t *rotatingTokens) AccessToken(context.Context) (string, error) {
	if t.refreshed.Load() {
		return "new", nil
	}
	return "old", nil
}

func (t *rotatingTokens) Refresh(context.Context, string) (string, error) {
	t.refreshed.Store(true)
	return "new", nil
}

// TestUploadsStreamAndRetry: an upload goes out with its length declared,
// its photo read from the io.ReaderAt it was given, and the whole of it is
// sent again after ImageHost refuses an expired token.
func TestUploadsStreamAndRetry(t *testing.T) {
	photo := []byte(strings.Repeat("0123456789", 100_000)) // 1 MB
	var attempts atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		attempts.Add(1)
		if r.ContentLength <= int64(len(photo)) {
			t.Errorf("Content-Length %d: the length is not declared, or lacks the form around the photo", r.ContentLength)
		}
		f, hdr, err := r.FormFile("file")
		if err != nil {
			t.Errorf("attempt %d: %v", attempts.Load(), err)
			return
		}
		got, _ := io.ReadAll(f)
		if string(got) != string(photo) || hdr.Filename != "big.png" || r.FormValue("title") != "Big" {
			t.Errorf("attempt %d: %d bytes of %q titled %q", attempts.Load(), len(got), hdr.Filename, r.FormValue("title"))
		}
		if r.Header.Get("Authorization") == "Bearer old" {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"id":"p1","title":"Big"}`)
	}))
	defer srv.Close()
	c := Client{BaseURL: srv.URL + "/api/photos", HTTP: srv.Client()}
	p, err := c.Upload(context.Background(), &rotatingTokens{}, "big.png", strings.NewReader(string(photo)), int64(len(photo)), "Big")
	if err != nil || p.ID != "p1" || attempts.Load() != 2 {
		t.Fatalf("Upload: %+v, %v after %d attempts; want p1 after a refresh and a second attempt", p, err, attempts.Load())
	}
}
