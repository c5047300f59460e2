package flow

import (
	"bytes"
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
var recordedHeaders = []string{"Authorization", "Content-Type", "Accept", "Cache-Control", "Pragma",
	"Www-Authenticate", "Location", "X-Request-Id", "Content-Length"}

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
			b, _ := io.ReadAll(io.LimitReader(body, maxBody))
			body.Close()
			ex.Request.Body = string(b)
			if ct, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type")); ct == "application/x-www-form-urlencoded" {
				ex.Request.Params = append(ex.Request.Params, ParamsOf(string(b))...)
			}
		}
	}
	start := time.Now()
	resp, err := t.Base.RoundTrip(req)
	ex.Duration = time.Since(start)
	if err != nil {
		ex.Note = "no answer: " + err.Error()
		t.Recorder.Add(id, ex)
		return nil, err
	}
	ex.Response = Message{Status: resp.StatusCode, Headers: pick(resp.Header)}
	ct := resp.Header.Get("Content-Type")
	if strings.HasPrefix(ct, "image/") {
		ex.Response.Body = "(" + ct + " image)"
	} else {
		// ImageHost's JSON answers are small: read the whole body, give
		// the caller an identical one, and record at most maxBody of it.
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		resp.Body = io.NopCloser(bytes.NewReader(b))
		if len(b) > maxBody {
			ex.Response.Body = string(b[:maxBody]) + "…"
		} else {
			ex.Response.Body = indentJSON(string(b))
		}
	}
	t.Recorder.Add(id, ex)
	return resp, nil
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
