// Package photos is ImageHost's photos API: the protected resource of the
// OAuth story. It checks access tokens the way an independent resource
// server would (RFC 6750, RFC 9068 §4), either locally against the
// published signing keys or by asking the authorization server (RFC 7662
// introspection), and shares nothing else with the authorization server but
// the database its photos live in.
//
// Ownership follows the token's "sub": a user sees only their photos, a
// client-credentials token (whose sub is the client) only what that client
// uploaded. Another owner's photo is a 404, never a 403, so ids cannot be
// probed.
package photos

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"image"
	_ "image/gif" // registered for image.DecodeConfig
	_ "image/jpeg"
	_ "image/png"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"oauthdemo/authserver/dpop"
	"oauthdemo/authserver/oauth"
	"oauthdemo/authserver/store"
)

// Limits on uploads.
const (
	MaxUploadBytes = 10 << 20 // the whole request body
	maxImageBytes  = 8 << 20
	// maxPixels guards against decompression bombs: a small file that
	// decodes to a huge image. It is no more than what the photos'
	// consumers can decode and edit: 12 megapixels is PhotoEditorApp's
	// limit (app/photoedit.MaxPixels), a phone camera's photo.
	maxPixels = 12_000_000
	maxTitle  = 200
)

// Pages of the photo list: their size when the client does not say, and
// the most a client may ask for.
const (
	defaultPageSize = 50
	maxPageSize     = 100
)

// Photo bytes in memory: what the API holds of photos at once (Memory),
// each owner's share of it, and the longest a request waits for its bytes.
// ImageHost's heap has a soft limit of 44 MiB (serve.go): this leaves room
// for everything else it does. The budget holds two of the largest uploads,
// or two of the largest photos, at once; an owner, one of them.
const (
	PhotoMemory      = 2 * 2 * MaxUploadBytes
	PhotoMemoryShare = PhotoMemory / 2
	PhotoMemoryWait  = 5 * time.Second
)

// Store is what the API needs from storage.
type Store interface {
	CreatePhoto(ctx context.Context, p store.Photo, q store.Quota) error
	ListPhotos(ctx context.Context, owner string, after store.PhotoCursor, limit int) ([]store.Photo, error)
	PhotoByID(ctx context.Context, owner, id string) (store.Photo, error)
	PhotoData(ctx context.Context, owner, id string, max int) ([]byte, error)
	UpdatePhoto(ctx context.Context, p store.Photo, q store.Quota) error
	DeletePhoto(ctx context.Context, owner, id string) error
}

// Token is what the API needs to know about a valid access token.
type Token struct {
	Subject  string // the owner: a user, or a client for client credentials
	ClientID string
	Scope    oauth.Scope
	// JKT is the thumbprint of the DPoP key the token is bound to
	// (cnf.jkt, RFC 9449 §6), or "" for a bearer token.
	JKT string
}

// TokenVerifier decides whether an access token is valid for this API.
type TokenVerifier interface {
	Verify(ctx context.Context, raw string) (Token, *oauth.Error)
}

// API serves the photos endpoints.
type API struct {
	Store  Store
	Tokens TokenVerifier
	// Quota bounds what each owner (a user, or a client for itself) keeps.
	Quota store.Quota
	// Memory bounds the photo bytes the API holds at once.
	Memory *Memory
	// ResourceMetadata is the URL of RFC 9728 metadata, advertised in
	// every WWW-Authenticate challenge.
	ResourceMetadata string
	Now              func() time.Time
	Log              *slog.Logger
	// Refused, if set, is told of requests refused with a valid token
	// (for the owner's activity log).
	Refused func(ctx context.Context, subject, clientID, reason string)
	// DPoP checks the proofs that come with tokens bound to a key
	// (RFC 9449 §7).
	DPoP dpop.Resource
	// Accepted, if set, is told of every request let through, before it
	// is served (for the owner's activity log and the class view). It
	// must not block.
	Accepted func(r *http.Request, tok Token)
}

type tokenKey struct{}

// Require lets a request through only with a valid access token that has
// scope (RFC 6750 §3.1 insufficient_scope otherwise), and, for a token bound
// to a DPoP key, a valid proof of that key (dpop.go).
func (a API) Require(scope string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, scheme, e := oauth.AccessToken(r)
		if e == nil {
			var tok Token
			tok, e = a.Tokens.Verify(r.Context(), raw)
			if e == nil {
				var nonce string
				nonce, e = a.DPoP.Check(r, raw, scheme, tok.JKT)
				if nonce != "" {
					// RFC 9449 §8.2: responses with a DPoP-Nonce "should be
					// uncacheable".
					w.Header().Set(dpop.NonceHeader, nonce)
					w.Header().Set("Cache-Control", "no-store")
				}
			}
			if e == nil && !tok.Scope.Has(scope) {
				e = oauth.Errorf(oauth.CodeInsufficientScope, http.StatusForbidden, "the token lacks the %s scope", scope)
				e.Scope = scope
				if a.Refused != nil {
					a.Refused(r.Context(), tok.Subject, tok.ClientID, fmt.Sprintf("%s %s needs %s; the token has only %q (RFC 6750 insufficient_scope)", r.Method, r.URL.Path, scope, tok.Scope.String()))
				}
			}
			if e == nil {
				if a.Accepted != nil {
					a.Accepted(r, tok)
				}
				next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), tokenKey{}, tok)))
				return
			}
		}
		if e.Status >= 500 {
			a.Log.ErrorContext(r.Context(), "token check failed", "error", e.Code)
		}
		// RFC 9449 §7.2: the challenge of the scheme the client used
		// carries the error.
		e.DPoP = e.DPoP || scheme
		oauth.WriteBearerError(w, e, a.ResourceMetadata, true)
	})
}

func tokenFrom(r *http.Request) Token { return r.Context().Value(tokenKey{}).(Token) }

// photoJSON is a photo as the API shows it.
type photoJSON struct {
	ID          string    `json:"id"`
	Title       string    `json:"title"`
	ContentType string    `json:"content_type"`
	Size        int       `json:"size"`
	URL         string    `json:"url"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

func toJSON(p store.Photo) photoJSON {
	return photoJSON{ID: p.ID, Title: p.Title, ContentType: p.ContentType, Size: p.Size,
		URL: "/api/photos/" + p.ID, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt}
}

// List serves GET /api/photos: the caller's photos, newest first, a page
// at a time. ?limit= sets the page's size (default 50, at most 100); when
// more photos follow, the answer has a Link header (RFC 8288) to the next
// page, whose cursor parameter is opaque to the client.
func (a API) List() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		limit := defaultPageSize
		if s := q.Get("limit"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 {
				oauth.WriteError(w, oauth.InvalidRequest("limit must be a positive number"))
				return
			}
			limit = min(n, maxPageSize)
		}
		var after store.PhotoCursor
		if s := q.Get("cursor"); s != "" {
			var ok bool
			if after, ok = decodeCursor(s); !ok {
				oauth.WriteError(w, oauth.InvalidRequest("the cursor is malformed; send back the one the Link header gave"))
				return
			}
		}
		// One more than the page holds tells whether another page follows.
		list, err := a.Store.ListPhotos(r.Context(), tokenFrom(r).Subject, after, limit+1)
		if err != nil {
			a.serverError(w, r, "list photos", err)
			return
		}
		if len(list) > limit {
			list = list[:limit]
			next := url.Values{"limit": {strconv.Itoa(limit)}, "cursor": {encodeCursor(list[limit-1])}}
			w.Header().Set("Link", "<"+r.URL.Path+"?"+next.Encode()+`>; rel="next"`)
		}
		out := make([]photoJSON, 0, len(list))
		for _, p := range list {
			out = append(out, toJSON(p))
		}
		oauth.WriteJSON(w, http.StatusOK, out)
	})
}

// encodeCursor names the place after p in a listing. Clients only pass it
// back; a forged one can only page through the caller's own photos.
func encodeCursor(p store.Photo) string {
	return base64.RawURLEncoding.EncodeToString([]byte(p.CreatedAt.UTC().Format(time.RFC3339Nano) + " " + p.ID))
}

// decodeCursor is the inverse of encodeCursor.
func decodeCursor(s string) (store.PhotoCursor, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return store.PhotoCursor{}, false
	}
	at, id, ok := strings.Cut(string(b), " ")
	t, err := time.Parse(time.RFC3339Nano, at)
	if !ok || err != nil || id == "" {
		return store.PhotoCursor{}, false
	}
	return store.PhotoCursor{CreatedAt: t, ID: id}, true
}

// Get serves GET /api/photos/{id}: the image bytes.
func (a API) Get() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, release, ok := a.read(w, r)
		if !ok {
			return
		}
		// Held until the last byte is written: a slow reader keeps them,
		// for at most the server's write timeout.
		defer release()
		w.Header().Set("Content-Type", p.ContentType)
		w.Header().Set("Cache-Control", "private, no-store")
		w.Header().Set("Content-Disposition", "inline")
		http.ServeContent(w, r, "", p.UpdatedAt, bytes.NewReader(p.Data))
	})
}

// read loads the caller's photo named in the path with its bytes, holding
// them in Memory first: the photo's size comes from the store before its
// bytes do. The caller calls release once it is done with them.
func (a API) read(w http.ResponseWriter, r *http.Request) (store.Photo, func(), bool) {
	owner := tokenFrom(r).Subject
	// A photo replaced by a larger one between its size and its bytes is
	// looked up again, a few times.
	for range 3 {
		p, ok := a.load(w, r)
		if !ok {
			return p, nil, false
		}
		release, err := a.Memory.Hold(r.Context(), owner, readCost(p.Size))
		if err != nil {
			a.busy(w, r, err)
			return p, nil, false
		}
		if p.Data, err = a.Store.PhotoData(r.Context(), owner, p.ID, p.Size); err == nil {
			return p, release, true
		}
		release()
		if !errors.Is(err, store.ErrNotFound) {
			a.serverError(w, r, "read photo", err)
			return p, nil, false
		}
	}
	a.busy(w, r, ErrBusy)
	return store.Photo{}, nil, false
}

// readCost is what reading a photo of size bytes holds: the bytes, and the
// copy the database driver reads them into first.
func readCost(size int) int64 { return 2 * int64(size) }

// uploadCost is what an upload holds at most: its body (a request without
// a length may be up to MaxUploadBytes), read into memory, and the copy the
// database driver makes to store it.
func uploadCost(r *http.Request) int64 {
	n := r.ContentLength
	if n < 0 || n > MaxUploadBytes {
		n = MaxUploadBytes
	}
	return 2 * n
}

// busy answers a request whose bytes Memory could not give in time: 503
// and when to come back. A request that is gone gets no answer.
func (a API) busy(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return
	}
	if !errors.Is(err, ErrBusy) {
		a.serverError(w, r, "hold photo memory", err)
		return
	}
	w.Header().Set("Retry-After", "2")
	oauth.WriteError(w, oauth.Errorf(oauth.CodeTemporarilyUnavailable, http.StatusServiceUnavailable,
		"ImageHost is busy with other photos; try again in a moment"))
}

// Upload serves POST /api/photos: multipart/form-data with the image in the
// part "file" and an optional "title".
func (a API) Upload() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		release, err := a.Memory.Hold(r.Context(), tokenFrom(r).Subject, uploadCost(r))
		if err != nil {
			a.busy(w, r, err)
			return
		}
		defer release()
		data, contentType, title, e := readUpload(r)
		if e != nil {
			oauth.WriteError(w, e)
			return
		}
		now := a.Now()
		p := store.Photo{ID: oauth.NewID(), Owner: tokenFrom(r).Subject, Title: title, ContentType: contentType,
			Data: data, Size: len(data), CreatedAt: now, UpdatedAt: now}
		if err := a.Store.CreatePhoto(r.Context(), p, a.Quota); errors.Is(err, store.ErrQuotaExceeded) {
			oauth.WriteError(w, a.quotaExceeded())
			return
		} else if err != nil {
			a.serverError(w, r, "create photo", err)
			return
		}
		w.Header().Set("Location", "/api/photos/"+p.ID)
		oauth.WriteJSON(w, http.StatusCreated, toJSON(p))
	})
}

// Replace serves PUT /api/photos/{id}: new bytes (and optionally a new
// title) for an existing photo, e.g. after editing it.
func (a API) Replace() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := a.load(w, r) // without its old bytes: they are not needed
		if !ok {
			return
		}
		release, err := a.Memory.Hold(r.Context(), p.Owner, uploadCost(r))
		if err != nil {
			a.busy(w, r, err)
			return
		}
		defer release()
		data, contentType, title, e := readUpload(r)
		if e != nil {
			oauth.WriteError(w, e)
			return
		}
		if r.MultipartForm != nil && len(r.MultipartForm.Value["title"]) > 0 {
			p.Title = title
		}
		p.Data, p.ContentType, p.Size, p.UpdatedAt = data, contentType, len(data), a.Now()
		if err := a.Store.UpdatePhoto(r.Context(), p, a.Quota); errors.Is(err, store.ErrQuotaExceeded) {
			oauth.WriteError(w, a.quotaExceeded())
			return
		} else if err != nil {
			a.serverError(w, r, "update photo", err)
			return
		}
		oauth.WriteJSON(w, http.StatusOK, toJSON(p))
	})
}

// Delete serves DELETE /api/photos/{id}.
func (a API) Delete() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := a.Store.DeletePhoto(r.Context(), tokenFrom(r).Subject, r.PathValue("id"))
		if errors.Is(err, store.ErrNotFound) {
			notFound(w)
			return
		} else if err != nil {
			a.serverError(w, r, "delete photo", err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// load finds the caller's photo named in the path, without its bytes.
func (a API) load(w http.ResponseWriter, r *http.Request) (store.Photo, bool) {
	p, err := a.Store.PhotoByID(r.Context(), tokenFrom(r).Subject, r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		notFound(w)
		return p, false
	} else if err != nil {
		a.serverError(w, r, "load photo", err)
		return p, false
	}
	return p, true
}

// quotaExceeded is the answer to a write past the owner's quota: 403, as
// for any request the server understood and will not carry out.
func (a API) quotaExceeded() *oauth.Error {
	size := fmt.Sprintf("%d MB", a.Quota.Bytes>>20)
	if a.Quota.Bytes < 1<<20 {
		size = fmt.Sprintf("%d bytes", a.Quota.Bytes)
	}
	return oauth.Errorf("quota_exceeded", http.StatusForbidden,
		"ImageHost keeps at most %d photos and %s of photos for each owner; delete some first", a.Quota.Photos, size)
}

func notFound(w http.ResponseWriter) {
	oauth.WriteError(w, oauth.Errorf("not_found", http.StatusNotFound, "no such photo"))
}

func (a API) serverError(w http.ResponseWriter, r *http.Request, what string, err error) {
	a.Log.ErrorContext(r.Context(), what, "err", err)
	oauth.WriteError(w, oauth.ServerError())
}

// readUpload reads and checks an uploaded image: its size, that it really
// is a PNG, JPEG or GIF (by decoding its header, not by trusting the
// client's Content-Type), that its dimensions are sane, and that a JPEG
// takes no more passes to decode than an encoder would write (maxScans).
func readUpload(r *http.Request) (data []byte, contentType, title string, e *oauth.Error) {
	if err := r.ParseMultipartForm(1 << 20); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, "", "", oauth.Errorf(oauth.CodeInvalidRequest, http.StatusRequestEntityTooLarge, "the upload is larger than 10 MB")
		}
		return nil, "", "", oauth.InvalidRequest("the body must be multipart/form-data with the image in a part named file")
	}
	// A file part over 1 MB went to a temporary file. net/http removes
	// those of the request it handed in, but Require handed on a copy
	// (WithContext), whose files would stay on disk for good.
	defer r.MultipartForm.RemoveAll()
	f, hdr, err := r.FormFile("file")
	if err != nil {
		return nil, "", "", oauth.InvalidRequest("the body has no part named file")
	}
	defer f.Close()
	if hdr.Size > maxImageBytes {
		return nil, "", "", oauth.Errorf(oauth.CodeInvalidRequest, http.StatusRequestEntityTooLarge, "the image is larger than 8 MB")
	}
	// The part's size is known: one buffer of it, not one that grows.
	data = make([]byte, hdr.Size)
	if _, err := io.ReadFull(f, data); err != nil {
		return nil, "", "", oauth.InvalidRequest("the file could not be read")
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, "", "", oauth.Errorf(oauth.CodeInvalidRequest, http.StatusUnsupportedMediaType, "the file is not a PNG, JPEG or GIF image")
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width*cfg.Height > maxPixels {
		return nil, "", "", oauth.InvalidRequest("the image must have at most %d megapixels", maxPixels/1_000_000)
	}
	if format == "jpeg" && jpegScans(data, maxScans) > maxScans {
		return nil, "", "", oauth.InvalidRequest("a JPEG may have at most %d scans", maxScans)
	}
	title = strings.TrimSpace(r.FormValue("title"))
	if title == "" {
		title = strings.TrimSuffix(hdr.Filename, "."+format)
	}
	if !store.Text(title) || len(title) > maxTitle {
		return nil, "", "", oauth.InvalidRequest("the title must be UTF-8 text without NUL, of at most 200 bytes")
	}
	if title == "" {
		title = "Untitled"
	}
	return data, "image/" + format, title, nil
}
