package imagehost

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
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

// TestImagesAreBounded: an API that serves more than a photo can be is cut
// off, whether it says so up front or not.
func TestImagesAreBounded(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		switch r.URL.Path {
		case "/api/photos/declared":
			w.Header().Set("Content-Length", strconv.Itoa(MaxImageBytes+1))
			io.CopyN(w, endless{}, MaxImageBytes+1)
		case "/api/photos/exact":
			io.CopyN(w, endless{}, MaxImageBytes)
		default: // chunked, and endless
			io.Copy(w, endless{})
		}
	}))
	defer srv.Close()
	c := Client{BaseURL: srv.URL + "/api/photos", HTTP: srv.Client()}
	ctx := context.Background()
	for _, id := range []string{"declared", "endless"} {
		data, _, err := c.Image(ctx, fixedTokens("t"), id)
		if !errors.Is(err, ErrTooLarge) || len(data) > MaxImageBytes {
			t.Errorf("%s: %d bytes, %v; want ErrTooLarge", id, len(data), err)
		}
	}
	body, _, err := c.OpenImage(ctx, fixedTokens("t"), "endless")
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, body)
	body.Close()
	if !errors.Is(err, ErrTooLarge) || n > MaxImageBytes {
		t.Errorf("streaming an endless photo: %d bytes, %v", n, err)
	}
	if data, _, err := c.Image(ctx, fixedTokens("t"), "exact"); err != nil || len(data) != MaxImageBytes {
		t.Errorf("a photo of exactly MaxImageBytes: %d bytes, %v", len(data), err)
	}
}
