// Package imagehost is PhotoEditorApp's client for ImageHost's photos API:
// a few typed calls over HTTP with a bearer token (RFC 6750), or a token
// bound to a DPoP key (RFC 9449 §7).
//
// When the API answers 401 invalid_token, the client asks its Tokens for a
// fresh access token (which refreshes it) and retries the call once: this is
// the "token expired, refresh, retry" branch of the OAuth story.
package imagehost

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Tokens hands out access tokens for the current user.
type Tokens interface {
	// AccessToken returns a valid access token, refreshing first if the
	// current one has expired.
	AccessToken(ctx context.Context) (string, error)
	// Refresh is called when the API refused the token rejected; it returns a newer
	// token, refreshing only if nobody replaced rejected in the meantime.
	Refresh(ctx context.Context, rejected string) (string, error)
}

// BoundTokens are Tokens whose access tokens may be bound to a key (DPoP,
// RFC 9449). The client sends such a token with the DPoP scheme, and the
// request with the context Prove returns, from which the HTTP client's
// transport signs the request's proof (app/dpop.Transport).
type BoundTokens interface {
	Tokens
	// Prove returns ctx prepared for a request with the token AccessToken
	// or Refresh returned last, and whether that token is bound.
	Prove(ctx context.Context) (context.Context, bool)
}

// Photo is a photo as the API lists it.
type Photo struct {
	ID          string    `json:"id"`
	Title       string    `json:"title"`
	ContentType string    `json:"content_type"`
	Size        int       `json:"size"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// Error is an error answer of the API.
type Error struct {
	Status      int
	Code        string // RFC 6750 or API error code
	Description string
}

func (e *Error) Error() string {
	return fmt.Sprintf("imagehost: %d %s: %s", e.Status, e.Code, e.Description)
}

// ErrNotFound is returned for a photo that does not exist (or is not the
// user's), and for an id that cannot be one (IsPhotoID).
var ErrNotFound = errors.New("imagehost: no such photo")

// Client calls the photos API at BaseURL (e.g. http://127.0.0.1:9090/api/photos).
type Client struct {
	BaseURL string
	HTTP    *http.Client
}

// Listing bounds: the client asks for pages of pageSize photos, the most
// ImageHost gives, and follows at most maxPages of them.
const (
	pageSize = 100
	maxPages = 10
	maxPage  = 1 << 20 // bytes of one page's JSON
)

// List returns the user's photos, newest first, following the API's pages
// (a Link header with rel="next", RFC 8288) up to maxPages of them.
func (c Client) List(ctx context.Context, tokens Tokens) ([]Photo, error) {
	next := c.BaseURL + "?limit=" + strconv.Itoa(pageSize)
	out := []Photo{}
	for range maxPages {
		var page []Photo
		resp, err := c.do(ctx, tokens, func() (*http.Request, error) {
			return http.NewRequestWithContext(ctx, http.MethodGet, next, nil)
		})
		if err != nil {
			return nil, err
		}
		err = json.NewDecoder(io.LimitReader(resp.Body, maxPage)).Decode(&page)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("imagehost: decode photo list: %w", err)
		}
		out = append(out, page...)
		if next, err = c.nextPage(resp); err != nil || next == "" {
			return out, err
		}
	}
	return out, nil
}

// nextPage is the URL of the page after resp's, or "" if it was the last.
// The client sends its bearer token with every page, so it follows only a
// link to the same endpoint: the link comes from a response, and a token
// must never go to another server (RFC 6750 §5.3).
func (c Client) nextPage(resp *http.Response) (string, error) {
	for _, link := range strings.Split(resp.Header.Get("Link"), ",") {
		target, params, ok := strings.Cut(strings.TrimSpace(link), ">")
		if !ok || !strings.HasPrefix(target, "<") || !hasParam(params, "rel", "next") {
			continue
		}
		u, err := resp.Request.URL.Parse(target[1:])
		base, _ := url.Parse(c.BaseURL)
		if err != nil || base == nil || u.Scheme != base.Scheme || u.Host != base.Host || u.Path != base.Path {
			return "", fmt.Errorf("imagehost: the next page is at %q, not at the photos API", target[1:])
		}
		return u.String(), nil
	}
	return "", nil
}

// hasParam reports whether a link's parameters (";rel=next; ...") give
// name the value want, among others ("rel" may list several).
func hasParam(params, name, want string) bool {
	for _, p := range strings.Split(params, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(k, name) && slices.Contains(strings.Fields(strings.Trim(v, `"`)), want) {
			return true
		}
	}
	return false
}

// MaxImageBytes is the largest photo ImageHost keeps, and so the most the
// client reads of one.
const MaxImageBytes = 8 << 20

// ErrTooLarge is returned for a photo larger than MaxImageBytes.
var ErrTooLarge = errors.New("imagehost: photo larger than expected")

// OpenImage returns a photo's bytes as a stream, and its content type; the
// caller closes it. A photo that says it is larger than MaxImageBytes is
// ErrTooLarge, and a stream that runs past it ends with ErrTooLarge.
func (c Client) OpenImage(ctx context.Context, tokens Tokens, id string) (io.ReadCloser, string, error) {
	u, err := c.photoURL(id)
	if err != nil {
		return nil, "", err
	}
	resp, err := c.do(ctx, tokens, func() (*http.Request, error) {
		return http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	})
	if err != nil {
		return nil, "", err
	}
	if resp.ContentLength > MaxImageBytes {
		resp.Body.Close()
		return nil, "", fmt.Errorf("%w: %d bytes", ErrTooLarge, resp.ContentLength)
	}
	return LimitBody(resp.Body, MaxImageBytes, ErrTooLarge), resp.Header.Get("Content-Type"), nil
}

// Image returns a photo's bytes and content type, at most MaxImageBytes.
func (c Client) Image(ctx context.Context, tokens Tokens, id string) ([]byte, string, error) {
	body, contentType, err := c.OpenImage(ctx, tokens, id)
	if err != nil {
		return nil, "", err
	}
	defer body.Close()
	data, err := io.ReadAll(body)
	if err != nil {
		return nil, "", fmt.Errorf("imagehost: read image: %w", err)
	}
	return data, contentType, nil
}

// LimitBody returns body, ended with tooLarge once more than max bytes came
// through it: a cut is an error, never a silently shorter body.
func LimitBody(body io.ReadCloser, max int64, tooLarge error) io.ReadCloser {
	return &limitedBody{ReadCloser: body, left: max, tooLarge: tooLarge}
}

type limitedBody struct {
	io.ReadCloser
	left     int64
	tooLarge error
}

func (l *limitedBody) Read(p []byte) (int, error) {
	if l.left < 0 {
		return 0, l.tooLarge
	}
	// Read one byte more than allowed, to tell "exactly left" from "more".
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.ReadCloser.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		return n + int(l.left), l.tooLarge
	}
	return n, err
}

// Upload adds a photo: size bytes of data, sent as they are read, never
// held whole in memory (a file the app spooled an upload to, say). data is
// read from its start at each attempt: a request refused for an expired
// token is sent again.
func (c Client) Upload(ctx context.Context, tokens Tokens, filename string, data io.ReaderAt, size int64, title string) (Photo, error) {
	return c.send(ctx, tokens, http.MethodPost, c.BaseURL, filename, data, size, title)
}

// Replace stores new bytes for a photo, keeping its title; data is read as
// Upload reads it.
func (c Client) Replace(ctx context.Context, tokens Tokens, id, filename string, data io.ReaderAt, size int64) (Photo, error) {
	u, err := c.photoURL(id)
	if err != nil {
		return Photo{}, err
	}
	return c.send(ctx, tokens, http.MethodPut, u, filename, data, size, "")
}

// Delete deletes a photo.
func (c Client) Delete(ctx context.Context, tokens Tokens, id string) error {
	u, err := c.photoURL(id)
	if err != nil {
		return err
	}
	resp, err := c.do(ctx, tokens, func() (*http.Request, error) {
		return http.NewRequestWithContext(ctx, http.MethodDelete, u, nil)
	})
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// IsPhotoID reports whether id has the form of the ids ImageHost gives its
// photos: 128 random bits in base64url without padding, 22 characters of
// A-Z, a-z, 0-9, "-" and "_". The client builds a URL of no other: an id
// comes from a page's address, which anyone can write, and a URL built
// from "x?a=b", "..", a control character or 3,500 characters would reach
// another path of the API, fail to build, or carry a DPoP proof too long
// for ImageHost.
func IsPhotoID(id string) bool {
	if len(id) != photoIDLength {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// photoIDLength is the length of a photo id: 16 bytes in base64url.
const photoIDLength = 22

// photoURL is the API's URL of the photo id, or ErrNotFound for an id that
// ImageHost never gives (IsPhotoID): no request is made for it.
func (c Client) photoURL(id string) (string, error) {
	if !IsPhotoID(id) {
		return "", ErrNotFound
	}
	return c.BaseURL + "/" + id, nil
}

func (c Client) send(ctx context.Context, tokens Tokens, method, u, filename string, data io.ReaderAt, size int64, title string) (Photo, error) {
	var p Photo
	head, tail, contentType, err := multipartFrame(filename, title)
	if err != nil {
		return p, fmt.Errorf("imagehost: build upload: %w", err)
	}
	// The body is the form's frame around the photo's bytes, read from
	// data as the request goes out; its length is known, so ImageHost
	// knows what the upload will cost before reading it.
	body := func() io.ReadCloser {
		return io.NopCloser(io.MultiReader(bytes.NewReader(head), io.NewSectionReader(data, 0, size), bytes.NewReader(tail)))
	}
	resp, err := c.do(ctx, tokens, func() (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, method, u, body())
		if err != nil {
			return nil, err
		}
		req.ContentLength = int64(len(head)) + size + int64(len(tail))
		req.GetBody = func() (io.ReadCloser, error) { return body(), nil }
		req.Header.Set("Content-Type", contentType)
		return req, nil
	})
	if err != nil {
		return p, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&p); err != nil {
		return p, fmt.Errorf("imagehost: decode photo: %w", err)
	}
	return p, nil
}

// multipartFrame is a multipart/form-data body with an optional "title" and
// the photo in the part "file", without the photo's bytes: what comes
// before them, what comes after, and the body's content type.
func multipartFrame(filename, title string) (head, tail []byte, contentType string, err error) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if title != "" {
		if err := mw.WriteField("title", title); err != nil {
			return nil, nil, "", err
		}
	}
	if _, err := mw.CreateFormFile("file", filename); err != nil {
		return nil, nil, "", err
	}
	n := buf.Len()
	if err := mw.Close(); err != nil { // writes the closing boundary
		return nil, nil, "", err
	}
	return buf.Bytes()[:n], buf.Bytes()[n:], mw.FormDataContentType(), nil
}

// do sends the request built by build with the access token: as a bearer
// token, or, bound to a key, with the DPoP scheme (RFC 9449 §7.1). On 401
// invalid_token it gets a refreshed token and sends a new request once.
func (c Client) do(ctx context.Context, tokens Tokens, build func() (*http.Request, error)) (*http.Response, error) {
	token, err := tokens.AccessToken(ctx)
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		req, err := build()
		if err != nil {
			return nil, fmt.Errorf("imagehost: build request: %w", err)
		}
		scheme := "Bearer"
		if bound, ok := tokens.(BoundTokens); ok {
			if ctx, isBound := bound.Prove(req.Context()); isBound {
				req, scheme = req.WithContext(ctx), "DPoP"
			}
		}
		req.Header.Set("Authorization", scheme+" "+token)
		resp, err := c.HTTP.Do(req)
		if err != nil {
			return nil, fmt.Errorf("imagehost: %s %s: %w", req.Method, req.URL.Path, err)
		}
		if resp.StatusCode < 300 {
			return resp, nil
		}
		apiErr := readError(resp)
		// RFC 6750 §3.1: invalid_token means "expired, revoked, malformed, or
		// invalid for other reasons"; a fresh token may cure the first two.
		if apiErr.Status == http.StatusUnauthorized && apiErr.Code == "invalid_token" && attempt == 0 {
			if token, err = tokens.Refresh(ctx, token); err != nil {
				return nil, err
			}
			continue
		}
		if apiErr.Status == http.StatusNotFound {
			return nil, ErrNotFound
		}
		return nil, apiErr
	}
}

// readError reads the API's error from the WWW-Authenticate header (RFC
// 6750 §3) or the JSON body, and closes the body.
func readError(resp *http.Response) *Error {
	defer resp.Body.Close()
	e := &Error{Status: resp.StatusCode}
	var body struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&body) == nil {
		e.Code, e.Description = body.Error, body.Description
	}
	if e.Code == "" {
		e.Code = AuthParam(resp.Header.Get("WWW-Authenticate"), "error")
	}
	return e
}

// AuthParam extracts one auth-param of a Bearer or DPoP WWW-Authenticate
// challenge (RFC 6750 §3, RFC 9449 §7.1), e.g. "error".
func AuthParam(h, name string) string {
	for _, part := range strings.Split(h, ",") {
		part = strings.TrimSpace(part)
		part = strings.TrimPrefix(strings.TrimPrefix(part, "Bearer"), "DPoP")
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if ok && strings.TrimSpace(k) == name {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}
