package flow

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sort"
	"strings"
	"time"
)

// Transport records every request made with a flow id in its context, and
// the response, into Recorder. Other requests pass through untouched.
type Transport struct {
	Base     http.RoundTripper
	Recorder *Recorder
}

// recordedHeaders are the headers worth showing; the rest is noise.
var recordedHeaders = []string{"Authorization", "DPoP", "DPoP-Nonce", "Content-Type", "Accept", "Cache-Control", "Pragma",
	"Www-Authenticate", "Location", "Link", "X-Request-Id", "Content-Length"}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	id, step := FromContext(req.Context())
	if id == "" || t.Recorder == nil {
		return t.Base.RoundTrip(req)
	}
	ex := Exchange{Step: step, Channel: "back channel (server to server)", Time: t.Recorder.now()}
	ex.Request = Message{Method: req.Method, URL: withoutQuery(req), Params: ParamsOf(req.URL.RawQuery), Headers: pick(req.Header)}
	if req.Body != nil && req.GetBody != nil {
		if body, err := req.GetBody(); err == nil {
			b, _ := io.ReadAll(io.LimitReader(body, maxBody+1))
			body.Close()
			ex.Request.Body = recordedBody(b)
			if ct, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type")); ct == "application/x-www-form-urlencoded" && len(b) <= maxBody {
				ex.Request.Params = append(ex.Request.Params, ParamsOf(string(b))...)
			}
		}
	}
	start := time.Now()
	resp, err := t.Base.RoundTrip(req)
	ex.Duration = time.Since(start)
	if err != nil {
		ex.Note = "no answer: " + err.Error()
		t.Recorder.Add(req.Context(), id, ex)
		return nil, err
	}
	ex.Response = Message{Status: resp.StatusCode, Headers: pick(resp.Header)}
	if resp.StatusCode >= 400 && resp.Header.Get("DPoP-Nonce") != "" {
		ex.Note = "ImageHost asks for its nonce in the DPoP proof (RFC 9449 §8, §9, use_dpop_nonce): the app sends the request again, with a new proof that carries it."
	}
	ct := resp.Header.Get("Content-Type")
	if strings.HasPrefix(ct, "image/") {
		ex.Response.Body = "(" + ct + " image)"
	} else {
		// Record the start of the body, reading no more of it than that:
		// the caller gets the same bytes, the part read here followed by
		// the rest, still unread, however long it is.
		head, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
		if err != nil {
			resp.Body.Close()
			ex.Note = "the answer broke off: " + err.Error()
			t.Recorder.Add(req.Context(), id, ex)
			return nil, err
		}
		resp.Body = readCloser{io.MultiReader(bytes.NewReader(head), resp.Body), resp.Body}
		ex.Response.Body = recordedBody(head)
	}
	t.Recorder.Add(req.Context(), id, ex)
	return resp, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

// recordedBody is what the recorder keeps of a body whose first bytes (at
// most maxBody+1 of them) are b: all of it, or maxBody and a mark.
func recordedBody(b []byte) string {
	if len(b) > maxBody {
		return strings.ToValidUTF8(string(b[:maxBody]), "") + fmt.Sprintf("\n… (cut: only the first %d KiB are recorded)", maxBody>>10)
	}
	return indentJSON(string(b))
}

func withoutQuery(req *http.Request) string {
	u := *req.URL
	u.RawQuery = ""
	return u.String()
}

// pick returns the interesting headers, sorted.
func pick(h http.Header) []KV {
	var out []KV
	for _, name := range recordedHeaders {
		for _, v := range h.Values(name) {
			out = append(out, KV{name, v})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
