package main

// The commands that use ImageHost's photos API: list, upload and get. Each
// sends the access token as a bearer token (RFC 6750), refreshing it first
// when it has expired, and once more when the API refuses it; a rotated
// refresh token is written back to the credentials file at once.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/oauth2"
)

// photo is a photo as the API lists it.
type photo struct {
	ID          string    `json:"id"`
	Title       string    `json:"title"`
	ContentType string    `json:"content_type"`
	Size        int       `json:"size"`
	CreatedAt   time.Time `json:"created_at"`
}

// session is a signed-in user's access to the API, for one command.
type session struct {
	c     *cli
	creds credentials
	key   *proofKey // the DPoP key the tokens are bound to; nil for bearer tokens
}

// session loads the credentials of the issuer the command was given.
func (c *cli) session() (*session, error) {
	creds, err := loadCredentials(c.credentials)
	if err != nil {
		return nil, err
	}
	if creds.Issuer != c.opts.issuer || creds.ClientID != c.opts.clientID {
		return nil, fmt.Errorf("signed in to %s as %s, not to %s as %s: run photos logout, then photos login", creds.Issuer, creds.ClientID,
			c.opts.issuer, c.opts.clientID)
	}
	s := &session{c: c, creds: creds}
	if creds.bound() {
		if s.key, err = loadKey(keyFile(c.credentials)); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// accessToken returns a valid access token: the stored one, or, once that
// has expired (or force is set), a new one from the refresh token
// (RFC 6749 §6). ImageHost rotates refresh tokens, so the new one is saved
// before anything else happens: the old one is spent, and presenting it
// again would make ImageHost revoke the whole grant as a reuse.
func (s *session) accessToken(ctx context.Context, force bool) (string, error) {
	tok := s.creds.token()
	if tok.Valid() && !force {
		return tok.AccessToken, nil
	}
	if tok.RefreshToken == "" {
		return "", errors.New("the access token has expired and there is no refresh token: run photos login")
	}
	p, err := s.c.discover(ctx)
	if err != nil {
		return "", err
	}
	tok.Expiry = time.Unix(1, 0) // expired, so that the source refreshes
	// With DPoP, the refresh proves the key the refresh token is bound to
	// (RFC 9449 §5), and the new access token is bound to it too.
	next, err := s.c.oauthConfig(p).TokenSource(withProofKey(s.c.clientContext(ctx), s.key), tok).Token()
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.ErrorCode == "invalid_grant" {
		return "", fmt.Errorf("ImageHost no longer accepts this sign-in (%s): run photos login", describe(err))
	} else if err != nil {
		return "", fmt.Errorf("refresh: %w", describe(err))
	}
	s.creds = s.creds.withToken(next)
	if err := s.creds.save(s.c.credentials); err != nil {
		return "", err
	}
	return next.AccessToken, nil
}

// do sends the request that build makes, with the access token: as a
// bearer token, or bound to the key, with the DPoP scheme and a proof
// (RFC 9449 §7.1). A 401 gets one more try with a refreshed token: the
// stored one may have been refused before its expiry (a clock off, a key
// rotated).
func (s *session) do(ctx context.Context, build func() (*http.Request, error)) (*http.Response, error) {
	client := s.c.httpClient()
	send := func(refresh bool) (*http.Response, error) {
		token, err := s.accessToken(ctx, refresh)
		if err != nil {
			return nil, err
		}
		req, err := build()
		if err != nil {
			return nil, err
		}
		req = req.WithContext(withProofKey(ctx, s.key))
		scheme := "Bearer"
		if s.key != nil {
			scheme = "DPoP"
		}
		req.Header.Set("Authorization", scheme+" "+token)
		return client.Do(req)
	}
	resp, err := send(false)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	resp.Body.Close()
	return send(true)
}

// apiError reads the API's error: RFC 6750 §3's WWW-Authenticate, or an
// RFC 6749 §5.2 style JSON body.
func apiError(resp *http.Response) error {
	defer resp.Body.Close()
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	json.NewDecoder(io.LimitReader(resp.Body, maxJSONBytes)).Decode(&e)
	if e.Error == "" {
		return fmt.Errorf("the photos API answered %s", resp.Status)
	}
	return fmt.Errorf("the photos API answered %s: %s: %s", resp.Status, e.Error, e.Description)
}

// list serves "photos list": every page of the list, following the Link
// header (RFC 8288) only within the list itself.
func (c *cli) list(ctx context.Context, args []string) error {
	if rest, err := c.flags("list", args, nil); err != nil {
		return err
	} else if len(rest) > 0 {
		return fmt.Errorf("list takes no arguments, got %q", rest)
	}
	s, err := c.session()
	if err != nil {
		return err
	}
	first, err := url.Parse(c.apiBase() + "/photos?limit=100")
	if err != nil {
		return fmt.Errorf("photos API URL: %w", err)
	}
	var all []photo
	for next, pages := first, 0; next != nil; pages++ {
		if pages == maxListPages {
			fmt.Fprintf(c.stderr, "(only the first %d pages are shown)\n", maxListPages)
			break
		}
		resp, err := s.do(ctx, func() (*http.Request, error) { return http.NewRequest(http.MethodGet, next.String(), nil) })
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return apiError(resp)
		}
		var page []photo
		err = json.NewDecoder(io.LimitReader(resp.Body, maxJSONBytes)).Decode(&page)
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("the photo list: %w", err)
		}
		all = append(all, page...)
		next = nextPage(first, resp.Header.Get("Link"))
	}
	if len(all) == 0 {
		fmt.Fprintln(c.stdout, "No photos yet: photos upload FILE adds one.")
		return nil
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTITLE\tTYPE\tSIZE\tADDED")
	for _, p := range all {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", p.ID, oneLine(p.Title), p.ContentType, p.Size, p.CreatedAt.Local().Format("2006-01-02 15:04"))
	}
	return tw.Flush()
}

// nextPage is the Link header's rel="next" URL, if it stays on the list
// (same scheme, host and path as first): a header that pointed elsewhere
// would take the access token with it.
func nextPage(first *url.URL, link string) *url.URL {
	for _, part := range strings.Split(link, ",") {
		target, params, ok := strings.Cut(strings.TrimSpace(part), ";")
		if !ok || !strings.Contains(strings.ReplaceAll(params, " ", ""), `rel="next"`) {
			continue
		}
		ref, err := url.Parse(strings.Trim(strings.TrimSpace(target), "<>"))
		if err != nil {
			return nil
		}
		u := first.ResolveReference(ref)
		if u.Scheme != first.Scheme || u.Host != first.Host || u.Path != first.Path {
			return nil
		}
		return u
	}
	return nil
}

// oneLine keeps a title on its line of the table.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// upload serves "photos upload [-title TITLE] FILE".
func (c *cli) upload(ctx context.Context, args []string) error {
	var title string
	rest, err := c.flags("upload", args, func(fs *flag.FlagSet) {
		fs.StringVar(&title, "title", "", "the photo's title (default: the file's name)")
	})
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return errors.New("usage: photos upload [-title TITLE] FILE")
	}
	data, err := readUpload(rest[0])
	if err != nil {
		return err
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	part, err := mw.CreateFormFile("file", filepath.Base(rest[0]))
	if err != nil {
		return err
	}
	part.Write(data)
	if title != "" {
		mw.WriteField("title", title)
	}
	if err := mw.Close(); err != nil {
		return err
	}
	s, err := c.session()
	if err != nil {
		return err
	}
	resp, err := s.do(ctx, func() (*http.Request, error) {
		req, err := http.NewRequest(http.MethodPost, c.apiBase()+"/photos", bytes.NewReader(body.Bytes()))
		if err == nil {
			req.Header.Set("Content-Type", mw.FormDataContentType())
		}
		return req, err
	})
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusCreated {
		return apiError(resp)
	}
	defer resp.Body.Close()
	var p photo
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxJSONBytes)).Decode(&p); err != nil {
		return fmt.Errorf("the upload's answer: %w", err)
	}
	fmt.Fprintf(c.stdout, "Uploaded %s: %q, %d bytes of %s\n", p.ID, oneLine(p.Title), p.Size, p.ContentType)
	return nil
}

// readUpload reads the file to upload, refusing one larger than ImageHost
// takes before sending it.
func readUpload(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	const limit = 8 << 20 // ImageHost's limit on an image
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if len(data) > limit {
		return nil, fmt.Errorf("%s is larger than the 8 MB ImageHost takes", path)
	}
	return data, nil
}

// get serves "photos get ID -o FILE".
func (c *cli) get(ctx context.Context, args []string) error {
	var out string
	rest, err := c.flags("get", args, func(fs *flag.FlagSet) {
		fs.StringVar(&out, "o", "", "the file to write the photo to (- for standard output)")
	})
	if err != nil {
		return err
	}
	if len(rest) != 1 || out == "" {
		return errors.New("usage: photos get ID -o FILE (or photos get -o FILE -- ID, for an id that begins with -)")
	}
	s, err := c.session()
	if err != nil {
		return err
	}
	// The id is one path segment: "../" in it stays inside the name.
	resp, err := s.do(ctx, func() (*http.Request, error) {
		return http.NewRequest(http.MethodGet, c.apiBase()+"/photos/"+url.PathEscape(rest[0]), nil)
	})
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return apiError(resp)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxPhotoBytes+1))
	if err != nil {
		return err
	}
	if len(data) > maxPhotoBytes {
		return fmt.Errorf("the photo is larger than %d MB: refused", maxPhotoBytes>>20)
	}
	if out == "-" {
		_, err := c.stdout.Write(data)
		return err
	}
	if err := writeFile(out, data); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "Saved %s: %d bytes of %s\n", out, len(data), resp.Header.Get("Content-Type"))
	return nil
}

// writeFile writes data to path, through a file beside it renamed into
// place: an interrupted download leaves no half photo. The file is the
// user's own (0600), as the photo was private at ImageHost.
func writeFile(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
