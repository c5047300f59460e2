package main

// The transcript (-v): each HTTP exchange the command makes, as it goes,
// with every secret masked, so that it can be shown on a projector or
// pasted into a handout. It is the command line's view of the flow, as the
// flow inspector is PhotoEditorApp's.

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
)

// transcriptBodyBytes is how much of a body the transcript shows.
const transcriptBodyBytes = 4 << 10

// secretParams are the parameters, in forms and in JSON, whose values are
// secrets. The user code is not one: the user reads it off the screen.
var secretParams = map[string]bool{
	"access_token": true, "refresh_token": true, "id_token": true, "device_code": true, "code": true,
	"code_verifier": true, "client_secret": true, "token": true, "password": true,
}

// secretJSON finds the secret members of a JSON body, even one cut short.
var secretJSON = regexp.MustCompile(`"(access_token|refresh_token|id_token|device_code)"(\s*:\s*)"([^"]*)"`)

// transcript is an http.RoundTripper that writes each exchange to w.
type transcript struct {
	next http.RoundTripper
	w    io.Writer

	mu sync.Mutex
	n  int
}

func (t *transcript) RoundTrip(req *http.Request) (*http.Response, error) {
	t.mu.Lock()
	t.n++
	n := t.n
	t.mu.Unlock()

	var out strings.Builder
	fmt.Fprintf(&out, "\n→ #%d %s %s\n", n, req.Method, req.URL.Redacted())
	if v := req.Header.Get("Authorization"); v != "" {
		fmt.Fprintf(&out, "  Authorization: %s\n", maskCredentials(v))
	}
	if v := req.Header.Get("DPoP"); v != "" {
		fmt.Fprintf(&out, "  DPoP: %s\n", showProof(v))
	}
	if v := req.Header.Get("Content-Type"); v != "" {
		fmt.Fprintf(&out, "  Content-Type: %s\n", v)
	}
	if req.Body != nil && req.GetBody != nil {
		// A body the client can send again (a form, a buffer) can be read
		// here without taking it from the request.
		if body, err := req.GetBody(); err == nil {
			shown, _ := io.ReadAll(io.LimitReader(body, transcriptBodyBytes+1))
			body.Close()
			out.WriteString(showBody(req.Header.Get("Content-Type"), shown, req.ContentLength))
		}
	}
	t.write(out.String())

	start := time.Now()
	resp, err := t.next.RoundTrip(req)
	out.Reset()
	if err != nil {
		fmt.Fprintf(&out, "← #%d failed: %v\n", n, err)
		t.write(out.String())
		return nil, err
	}
	fmt.Fprintf(&out, "← #%d %s (%d ms)\n", n, resp.Status, time.Since(start).Milliseconds())
	for _, h := range []string{"Content-Type", "Cache-Control", "WWW-Authenticate", "DPoP-Nonce", "Location", "Link", "Retry-After"} {
		for _, v := range resp.Header.Values(h) {
			fmt.Fprintf(&out, "  %s: %s\n", h, v)
		}
	}
	if textual(resp.Header.Get("Content-Type")) {
		// Read what is shown, then hand the caller the whole body: what
		// was read, followed by the rest.
		shown, _ := io.ReadAll(io.LimitReader(resp.Body, transcriptBodyBytes+1))
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(shown), resp.Body), resp.Body}
		out.WriteString(showBody(resp.Header.Get("Content-Type"), shown, resp.ContentLength))
	} else if resp.ContentLength > 0 {
		fmt.Fprintf(&out, "  (%d bytes of %s, not shown)\n", resp.ContentLength, resp.Header.Get("Content-Type"))
	}
	t.write(out.String())
	return resp, nil
}

func (t *transcript) write(s string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	io.WriteString(t.w, s)
}

// textual reports whether a body of this type is shown: JSON, forms, text.
func textual(contentType string) bool {
	ct, _, _ := mime.ParseMediaType(contentType)
	return ct == "application/json" || ct == "application/x-www-form-urlencoded" || strings.HasPrefix(ct, "text/") ||
		strings.HasSuffix(ct, "+json")
}

// showBody is a body as the transcript shows it, secrets masked.
func showBody(contentType string, body []byte, length int64) string {
	ct, _, _ := mime.ParseMediaType(contentType)
	cut := len(body) > transcriptBodyBytes
	if cut {
		body = body[:transcriptBodyBytes]
	}
	var s string
	switch {
	case ct == "application/x-www-form-urlencoded":
		s = maskForm(string(body))
	case textual(contentType):
		s = maskJSON(string(body))
	case len(body) > 0 || length > 0:
		return fmt.Sprintf("  (%d bytes of %s, not shown)\n", max(length, int64(len(body))), or(ct, "data"))
	default:
		return ""
	}
	if cut {
		s += " …(cut)"
	}
	return "  " + strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n  ") + "\n"
}

// maskForm masks the secret parameters of a form, and shows one
// parameter a line.
func maskForm(raw string) string {
	v, err := url.ParseQuery(raw)
	if err != nil {
		return "(a form that does not parse)"
	}
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var lines []string
	for _, k := range keys {
		for _, val := range v[k] {
			if secretParams[k] {
				val = mask(val)
			}
			lines = append(lines, k+"="+val)
		}
	}
	return strings.Join(lines, "\n")
}

// maskJSON masks the secret members of a JSON body.
func maskJSON(s string) string {
	return secretJSON.ReplaceAllStringFunc(s, func(m string) string {
		p := secretJSON.FindStringSubmatch(m)
		return `"` + p[1] + `"` + p[2] + `"` + mask(p[3]) + `"`
	})
}

// showProof is a DPoP proof as the transcript shows it: its header and
// claims decoded, its signature not at all, so that a proof pasted into a
// handout cannot be sent again. The key in its header is the public one.
func showProof(proof string) string {
	parts := strings.Split(proof, ".")
	if len(parts) != 3 {
		return mask(proof)
	}
	var shown []string
	for _, part := range parts[:2] {
		b, err := base64.RawURLEncoding.DecodeString(part)
		if err != nil {
			return mask(proof)
		}
		shown = append(shown, string(b))
	}
	return strings.Join(shown, " . ") + " . (signature not shown)"
}

// maskCredentials masks the credentials of an Authorization header,
// keeping its scheme.
func maskCredentials(v string) string {
	if scheme, cred, ok := strings.Cut(v, " "); ok {
		return scheme + " " + mask(cred)
	}
	return mask(v)
}

// mask shows enough of a secret to tell two apart, and its length: never
// enough to use it.
func mask(s string) string {
	if len(s) <= 12 {
		return "•••"
	}
	return fmt.Sprintf("%s…(%d characters)", s[:6], len(s))
}
