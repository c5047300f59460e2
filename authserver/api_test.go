package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"

	"oauthdemo/authserver/oauth"
	"oauthdemo/authserver/signing"
)

func parseTestAccessToken(ts *testServer, raw string) (oauth.AccessTokenClaims, *oauth.Error) {
	return oauth.ParseAccessToken(raw, ts.keys, ts.URL, ts.cfg.resource(), ts.clock.now())
}

func pngBytes(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 4, 3))
	img.Set(1, 1, color.RGBA{255, 0, 0, 255})
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// overPixelCap is a small PNG of 4001×3000 pixels, just over the cap.
func overPixelCap(t *testing.T) []byte {
	t.Helper()
	img := image.NewPaletted(image.Rect(0, 0, 4001, 3000), color.Palette{color.Black})
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// scanBomb is a progressive greyscale JPEG of 4000×3000 pixels made of n
// AC scans of a few bytes each: every scan is one end-of-band run over all
// the image's blocks, which a decoder still walks block by block. 2,000
// scans are 56 KB, and seconds of a core to decode.
func scanBomb(n int) []byte {
	w, h := 4000, 3000
	var b bytes.Buffer
	segment := func(marker byte, body ...byte) {
		b.Write([]byte{0xff, marker, byte((len(body) + 2) >> 8), byte(len(body) + 2)})
		b.Write(body)
	}
	b.Write([]byte{0xff, 0xd8})
	segment(0xdb, append([]byte{0}, bytes.Repeat([]byte{1}, 64)...)...)          // DQT: table 0, all ones
	segment(0xc2, 8, byte(h>>8), byte(h), byte(w>>8), byte(w), 1, 1, 0x11, 0)    // SOF2: one component
	segment(0xc4, append([]byte{0x10, 1}, append(make([]byte, 15), 0xe0)...)...) // DHT: one 1-bit code, an EOB run
	// 187,500 blocks: six codes, each a 0 bit (the symbol) and 14 one bits
	// (a run of 32,767 blocks), padded with ones to whole bytes, each 0xFF
	// byte followed by a stuffed 0x00.
	bits := strings.Repeat("0"+strings.Repeat("1", 14), 6)
	bits += strings.Repeat("1", (8-len(bits)%8)%8)
	var scan []byte
	for i := 0; i < len(bits); i += 8 {
		v, _ := strconv.ParseUint(bits[i:i+8], 2, 8)
		if scan = append(scan, byte(v)); v == 0xff {
			scan = append(scan, 0)
		}
	}
	for range n {
		segment(0xda, 1, 1, 0x00, 1, 63, 0) // SOS: component 1, AC table 0, coefficients 1-63
		b.Write(scan)
	}
	b.Write([]byte{0xff, 0xd9})
	return b.Bytes()
}

// userToken runs the code flow as user and returns the access token.
func (ts *testServer) userToken(t *testing.T, user, pw string, scopes ...string) *oauth2.Token {
	t.Helper()
	c := newStandardClient(t, ts, appID, appSecret, appRedirect, append([]string{"openid"}, scopes...)...)
	tok, _ := c.login(t, ts.browser(), user, pw)
	return tok
}

// apiCall sends a request with a bearer token and returns the response.
func apiCall(t *testing.T, method, u, token string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(method, u, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func bearerClient(token string) *http.Client {
	return oauth2.NewClient(context.Background(), oauth2.StaticTokenSource(&oauth2.Token{AccessToken: token}))
}

func TestPhotosAPIOwnership(t *testing.T) {
	ts := newTestServer(t)
	alice := ts.userToken(t, "alice", "wonderland", "photos.read", "photos.write").AccessToken
	bob := ts.userToken(t, "bob", "builder", "photos.read", "photos.write").AccessToken

	resp := upload(t, bearerClient(bob), ts.URL+"/api/photos", "tools.png", pngBytes(t), "")
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("bob's upload: %s", body(t, resp))
	}
	var bobsPhoto struct{ ID, Title, ContentType string }
	json.NewDecoder(resp.Body).Decode(&bobsPhoto)
	resp.Body.Close()
	if bobsPhoto.Title != "tools" {
		t.Fatalf("title defaults to the file name: got %q", bobsPhoto.Title)
	}

	var list []map[string]any
	getJSON(t, bearerClient(alice), ts.URL+"/api/photos", &list)
	if len(list) != 0 {
		t.Fatalf("alice sees %d photos, want none of bob's", len(list))
	}
	for _, method := range []string{"GET", "DELETE"} {
		resp := apiCall(t, method, ts.URL+"/api/photos/"+bobsPhoto.ID, alice)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("%s bob's photo as alice: %s, want 404", method, resp.Status)
		}
	}
	resp = apiCall(t, "GET", ts.URL+"/api/photos/"+bobsPhoto.ID, bob)
	got := body(t, resp)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/png" || got != string(pngBytes(t)) {
		t.Fatalf("bob's own photo: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	resp = apiCall(t, "DELETE", ts.URL+"/api/photos/"+bobsPhoto.ID, bob)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %s", resp.Status)
	}
	resp = apiCall(t, "GET", ts.URL+"/api/photos/"+bobsPhoto.ID, bob)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("deleted photo: %s", resp.Status)
	}
}

func TestPhotosAPIUploads(t *testing.T) {
	ts := newTestServer(t)
	client := bearerClient(ts.userToken(t, "alice", "wonderland", "photos.read", "photos.write").AccessToken)
	tests := []struct {
		name   string
		file   string
		data   []byte
		status int
	}{
		{"png", "a.png", pngBytes(t), http.StatusCreated},
		{"text pretending to be png", "evil.png", []byte("<script>alert(1)</script>"), http.StatusUnsupportedMediaType},
		{"png header then garbage", "broken.png", append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{0}, 40)...), http.StatusUnsupportedMediaType},
		{"empty file", "empty.png", nil, http.StatusUnsupportedMediaType},
		{"too large", "big.png", bytes.Repeat([]byte{1}, 11<<20), http.StatusRequestEntityTooLarge},
		// A decompression bomb: a small file with more pixels than the
		// photos' consumers can decode (PhotoEditorApp: 12 megapixels).
		{"over 12 megapixels", "bomb.png", overPixelCap(t), http.StatusBadRequest},
		// A scan bomb: a small JPEG that takes seconds of a core to decode.
		{"a JPEG of 2,000 scans", "scans.jpg", scanBomb(2000), http.StatusBadRequest},
		{"a JPEG of 10 scans", "progressive.jpg", scanBomb(10), http.StatusCreated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := upload(t, client, ts.URL+"/api/photos", tc.file, tc.data, "")
			b := body(t, resp)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, b)
			}
		})
	}
	// Not multipart at all.
	req, _ := http.NewRequest("POST", ts.URL+"/api/photos", strings.NewReader("{}"))
	req.Header.Set("Content-Type", "application/json")
	resp, _ := client.Do(req)
	if b := body(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(b, "invalid_request") {
		t.Fatalf("JSON body: %d %s", resp.StatusCode, b)
	}
}

func TestPhotosAPIReplace(t *testing.T) {
	ts := newTestServer(t)
	client := bearerClient(ts.userToken(t, "alice", "wonderland", "photos.read", "photos.write").AccessToken)
	resp := upload(t, client, ts.URL+"/api/photos", "a.png", pngBytes(t), "Original")
	var p struct{ ID string }
	json.NewDecoder(resp.Body).Decode(&p)
	resp.Body.Close()

	img := image.NewGray(image.Rect(0, 0, 2, 2))
	var buf bytes.Buffer
	png.Encode(&buf, img)
	var mbuf bytes.Buffer
	mw := newMultipart(&mbuf, "file", "edited.png", buf.Bytes())
	req, _ := http.NewRequest("PUT", ts.URL+"/api/photos/"+p.ID, &mbuf)
	req.Header.Set("Content-Type", mw)
	resp, _ = client.Do(req)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("replace: %s", body(t, resp))
	}
	resp.Body.Close()
	resp, _ = client.Get(ts.URL + "/api/photos/" + p.ID)
	if got := body(t, resp); got != buf.String() {
		t.Fatal("replaced bytes not served")
	}
	var list []struct{ Title string }
	getJSON(t, client, ts.URL+"/api/photos", &list)
	if list[0].Title != "Original" {
		t.Fatalf("title changed without a title field: %q", list[0].Title)
	}
}

func TestPhotosAPIBearerErrors(t *testing.T) {
	ts := newTestServer(t)
	tok := ts.userToken(t, "alice", "wonderland", "photos.read")
	good := tok.AccessToken
	rawID, _ := tok.Extra("id_token").(string)

	parts := strings.Split(good, ".")
	header, _ := base64.RawURLEncoding.DecodeString(parts[0])
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	enc := base64.RawURLEncoding.EncodeToString

	// alg none: the oldest trick.
	noneHeader := strings.Replace(string(header), `"alg":"ES256"`, `"alg":"none"`, 1)
	algNone := enc([]byte(noneHeader)) + "." + parts[1] + "."
	// Altered payload: alice's signature on bob's identity.
	altered := parts[0] + "." + enc(bytes.Replace(payload, []byte("sub-alice"), []byte("sub-bob"), 1)) + "." + parts[2]
	// HS256 "signed" with the public key, as if it were a shared secret.
	pub, _, _ := ts.keys.PublicKey(ts.keys.ActiveKeyID(signing.ES256))
	der, _ := x509.MarshalPKIXPublicKey(pub)
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	hsSigner, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: jose.JSONWebKey{Key: pemKey, KeyID: ts.keys.ActiveKeyID(signing.ES256)}},
		(&jose.SignerOptions{}).WithType("at+jwt"))
	var claims map[string]any
	json.Unmarshal(payload, &claims)
	hs256, err := jwt.Signed(hsSigner).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	// Correctly signed by ImageHost, but for another audience.
	claims["aud"] = "https://other.example/api"
	wrongAud, _ := ts.keys.Sign(signing.ES256, "at+jwt", claims)
	// Correctly signed, right audience, but by another issuer name.
	claims["aud"], claims["iss"] = ts.cfg.resource(), "https://evil.example"
	wrongIss, _ := ts.keys.Sign(signing.ES256, "at+jwt", claims)
	// An access token's claims with the ID token's type header.
	claims["iss"] = ts.URL
	wrongTyp, _ := ts.keys.Sign(signing.ES256, "JWT", claims)

	tests := []struct {
		name   string
		header string
		status int
		code   string
	}{
		{"no token", "", 401, ""},
		{"not bearer", "Basic YWxpY2U6d29uZGVybGFuZA==", 400, "invalid_request"},
		{"garbage", "Bearer garbage", 401, "invalid_token"},
		{"alg none", "Bearer " + algNone, 401, "invalid_token"},
		{"altered payload", "Bearer " + altered, 401, "invalid_token"},
		{"HS256 with the public key", "Bearer " + hs256, 401, "invalid_token"},
		{"wrong audience", "Bearer " + wrongAud, 401, "invalid_token"},
		{"wrong issuer", "Bearer " + wrongIss, 401, "invalid_token"},
		{"wrong typ", "Bearer " + wrongTyp, 401, "invalid_token"},
		{"ID token instead of access token", "Bearer " + rawID, 401, "invalid_token"},
		{"valid", "Bearer " + good, 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", ts.URL+"/api/photos", nil)
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b := body(t, resp)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, b)
			}
			wa := resp.Header.Get("WWW-Authenticate")
			if tc.status == 401 {
				if !strings.HasPrefix(wa, "Bearer ") || !strings.Contains(wa, `resource_metadata="`+ts.URL+`/.well-known/oauth-protected-resource"`) {
					t.Fatalf("WWW-Authenticate = %q", wa)
				}
				if tc.code == "" && strings.Contains(wa, "error=") {
					t.Fatalf("a request without a token must get no error code (RFC 6750 §3.1): %q", wa)
				}
			}
			if tc.code != "" && !strings.Contains(wa+b, `"`+tc.code+`"`) {
				t.Fatalf("want error %q; header %q body %s", tc.code, wa, b)
			}
		})
	}

	t.Run("expired", func(t *testing.T) {
		ts.clock.advance(ts.cfg.AccessTokenTTL + time.Second)
		defer ts.clock.advance(-ts.cfg.AccessTokenTTL - time.Second)
		resp := apiCall(t, "GET", ts.URL+"/api/photos", good)
		resp.Body.Close()
		if resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "expired") {
			t.Fatalf("expired token: %s %q", resp.Status, resp.Header.Get("WWW-Authenticate"))
		}
	})
	t.Run("insufficient scope", func(t *testing.T) {
		resp := upload(t, bearerClient(good), ts.URL+"/api/photos", "a.png", pngBytes(t), "")
		resp.Body.Close()
		wa := resp.Header.Get("WWW-Authenticate")
		if resp.StatusCode != 403 || !strings.Contains(wa, `error="insufficient_scope"`) || !strings.Contains(wa, `scope="photos.write"`) {
			t.Fatalf("write with a read token: %s %q", resp.Status, wa)
		}
	})
	t.Run("token in the query string", func(t *testing.T) {
		resp := apiCall(t, "GET", ts.URL+"/api/photos?access_token="+good, "")
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Fatalf("query token: %s, want 400", resp.Status)
		}
	})
}

func TestPhotosAPIWithIntrospection(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.APITokenCheck = "introspect" })
	c := newStandardClient(t, ts, appID, appSecret, appRedirect, "openid", "offline_access", "photos.read")
	tok, _ := c.login(t, ts.browser(), "alice", "wonderland")
	resp := apiCall(t, "GET", ts.URL+"/api/photos", tok.AccessToken)
	if resp.StatusCode != 200 {
		t.Fatalf("valid token through introspection: %s", body(t, resp))
	}
	resp.Body.Close()
	// Introspection sees revocation at once; a local JWT check could not.
	postBasic(t, ts.URL+"/revoke", appID, appSecret, map[string][]string{"token": {tok.RefreshToken}}).Body.Close()
	resp = apiCall(t, "GET", ts.URL+"/api/photos", tok.AccessToken)
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("token of a revoked grant: %s, want 401", resp.Status)
	}
}

// TestPhotosAPIQuota: a burst of uploads, released together, stops at the
// owner's quota, each refusal a clear JSON error; the bytes quota holds for
// edits too.
func TestPhotosAPIQuota(t *testing.T) {
	const quota = 5
	png1 := pngBytes(t)
	ts := newTestServer(t, func(c *Config) { c.MaxPhotosPerOwner, c.MaxBytesPerOwner = quota, int64(quota*len(png1)) })
	client := bearerClient(mintRobotToken(t, ts))
	const n = 24
	var wg sync.WaitGroup
	start := make(chan struct{})
	status := make([]int, n)
	bodies := make([]string, n)
	for i := range n {
		var buf bytes.Buffer
		ct := newMultipart(&buf, "file", "a.png", png1)
		wg.Go(func() {
			<-start
			req, _ := http.NewRequest("POST", ts.URL+"/api/photos", &buf)
			req.Header.Set("Content-Type", ct)
			resp, err := client.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			status[i], bodies[i] = resp.StatusCode, string(b)
		})
	}
	close(start)
	wg.Wait()
	created := 0
	for i, s := range status {
		switch {
		case s == http.StatusCreated:
			created++
		case s != http.StatusForbidden || !strings.Contains(bodies[i], `"error":"quota_exceeded"`) || !strings.Contains(bodies[i], "at most 5 photos"):
			t.Fatalf("upload %d past the quota: %d %s", i, s, bodies[i])
		}
	}
	var list []struct{ ID string }
	getJSON(t, client, ts.URL+"/api/photos", &list)
	if created != quota || len(list) != quota {
		t.Fatalf("%d of %d concurrent uploads succeeded and %d photos are kept, want %d", created, n, len(list), quota)
	}
	// The byte quota is full too: an edit that makes a photo larger is refused.
	var buf bytes.Buffer
	ct := newMultipart(&buf, "file", "b.png", largerPNG(t))
	req, _ := http.NewRequest("PUT", ts.URL+"/api/photos/"+list[0].ID, &buf)
	req.Header.Set("Content-Type", ct)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if b := body(t, resp); resp.StatusCode != http.StatusForbidden || !strings.Contains(b, "quota_exceeded") {
		t.Fatalf("a larger edit past the byte quota: %d %s", resp.StatusCode, b)
	}
}

// largerPNG is a valid PNG a little larger than pngBytes.
func largerPNG(t *testing.T) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 40, 30))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 7)
	}
	var buf bytes.Buffer
	png.Encode(&buf, img)
	return buf.Bytes()
}

// TestPhotosAPIPages: the list comes a page at a time, newest first, with a
// Link to the next page; limits are checked.
func TestPhotosAPIPages(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.MaxPhotosPerOwner = 2 * maxPageSizeForTest })
	client := bearerClient(mintRobotToken(t, ts))
	var want []string
	for i := range 7 {
		resp := upload(t, client, ts.URL+"/api/photos", "a.png", pngBytes(t), fmt.Sprint("photo ", i))
		var p struct{ ID string }
		json.NewDecoder(resp.Body).Decode(&p)
		resp.Body.Close()
		want = append([]string{p.ID}, want...) // newest first
		ts.clock.advance(time.Second)
	}
	var got []string
	next := ts.URL + "/api/photos?limit=3"
	for pages := 0; next != ""; pages++ {
		if pages == 3 {
			t.Fatal("the pages do not end")
		}
		resp, err := client.Get(next)
		if err != nil {
			t.Fatal(err)
		}
		var page []struct{ ID string }
		json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if len(page) > 3 {
			t.Fatalf("a page of %d photos, limit 3", len(page))
		}
		for _, p := range page {
			got = append(got, p.ID)
		}
		next = ""
		if link := resp.Header.Get("Link"); link != "" {
			target, rel, _ := strings.Cut(link, ">; ")
			if rel != `rel="next"` || !strings.HasPrefix(target, "</api/photos?") {
				t.Fatalf("Link: %q", link)
			}
			next = ts.URL + strings.TrimPrefix(target, "<")
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("paged through %v, want %v", got, want)
	}
	resp := apiCall(t, "GET", ts.URL+"/api/photos", mintRobotToken(t, ts))
	if b := body(t, resp); resp.Header.Get("Link") != "" || strings.Count(b, `"id"`) != 7 {
		t.Fatalf("the default page (50) should hold all 7, with no Link: %q", resp.Header.Get("Link"))
	}
	for _, q := range []string{"limit=0", "limit=-1", "limit=ten", "cursor=not-a-cursor", "cursor=" + "eA"} {
		resp := apiCall(t, "GET", ts.URL+"/api/photos?"+q, mintRobotToken(t, ts))
		if b := body(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(b, "invalid_request") {
			t.Fatalf("?%s: %d %s", q, resp.StatusCode, b)
		}
	}
	// Asking for more than the most gives the most.
	for range maxPageSizeForTest - 7 + 1 {
		upload(t, client, ts.URL+"/api/photos", "a.png", pngBytes(t), "more").Body.Close()
	}
	resp = apiCall(t, "GET", ts.URL+"/api/photos?limit=100000", mintRobotToken(t, ts))
	if b := body(t, resp); strings.Count(b, `"id"`) != maxPageSizeForTest || resp.Header.Get("Link") == "" {
		t.Fatalf("limit=100000 gave %d photos, want %d and a Link", strings.Count(b, `"id"`), maxPageSizeForTest)
	}
}

// maxPageSizeForTest is the photos API's largest page.
const maxPageSizeForTest = 100
