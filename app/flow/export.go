package flow

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Markdown writes the flow as a transcript for handouts. Secrets are masked.
//
// What was recorded came from outside, some of it from whoever crafted a
// link: a callback's query, an error description. None of it may end the
// block it stands in or start Markdown of its own. So each message goes in
// a code fence longer than any run of backticks inside it, each value stays
// on one line (oneLine), and notes, outside the fences, have the
// characters that mean something in Markdown escaped (inlineText).
func Markdown(exchanges []Exchange) string {
	var b strings.Builder
	b.WriteString("# OAuth 2.0 / OpenID Connect flow transcript\n\nRecorded by PhotoEditorApp's workshop mode. Secrets are masked.\n")
	for _, ex := range exchanges {
		ex = ex.Masked()
		info := Info(ex.Step)
		fmt.Fprintf(&b, "\n## %d. Step %s: %s\n\n", ex.Seq, ex.Step, info.Title)
		fmt.Fprintf(&b, "%s (%s, %s).\n\n", info.Explain, ex.Channel, ex.Duration.Round(time.Microsecond))
		if info.Spec != "" {
			fmt.Fprintf(&b, "- Spec: %s\n- Prevents: %s\n\n", info.Spec, info.Prevents)
		}
		if note := inlineText(ex.Note); note != "" {
			fmt.Fprintf(&b, "%s\n\n", note)
		}
		var req strings.Builder
		fmt.Fprintf(&req, "%s %s\n", oneLine(ex.Request.Method), oneLine(ex.Request.URL))
		for _, kv := range ex.Request.Headers {
			fmt.Fprintf(&req, "%s: %s\n", oneLine(kv.Name), oneLine(kv.Value))
		}
		for _, kv := range ex.Request.Params {
			fmt.Fprintf(&req, "  %s = %s\n", oneLine(kv.Name), oneLine(kv.Value))
		}
		fenced(&b, "http", req.String())
		if ex.Response.Status != 0 {
			var resp strings.Builder
			fmt.Fprintf(&resp, "%d %s\n", ex.Response.Status, http.StatusText(ex.Response.Status))
			for _, kv := range ex.Response.Headers {
				fmt.Fprintf(&resp, "%s: %s\n", oneLine(kv.Name), oneLine(kv.Value))
			}
			// A body keeps its lines: inside the fence they are only text.
			if body := strings.TrimRight(ex.Response.Body, "\r\n"); body != "" {
				fmt.Fprintf(&resp, "\n%s\n", body)
			}
			b.WriteString("\n")
			fenced(&b, "http", resp.String())
		}
	}
	return b.String()
}

// fenced writes content, which ends with a line break, as a fenced code
// block. CommonMark §4.5: the closing fence must be "at least as long as
// the opening code fence", so a fence longer than any run of backticks in
// the content cannot be closed from inside it.
func fenced(b *strings.Builder, info, content string) {
	longest, run := 0, 0
	for _, c := range []byte(content) {
		if c == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	fence := strings.Repeat("`", max(3, longest+1))
	b.WriteString(fence + info + "\n" + content + fence + "\n")
}

// oneLine keeps a value on one line: a backslash, a line break or another
// control character becomes an escape, as in a Go string literal.
func oneLine(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteRune(r)
		case r < 0x20, r == 0x7f, r == 0x85, r == 0x2028, r == 0x2029:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// markdownSpecial are the characters that can start inline Markdown or
// HTML: emphasis, code, links and images, autolinks, raw HTML, entities,
// tables, strikethrough.
const markdownSpecial = "\\`*_[]<>!|~&"

// inlineText makes a note one line of plain Markdown text: oneLine, then a
// backslash before each of markdownSpecial (CommonMark §2.4), and before
// whatever would make the line a heading, quote, list or thematic break.
func inlineText(s string) string {
	s = strings.TrimLeft(oneLine(s), " \t")
	var b strings.Builder
	for i, r := range s {
		if strings.ContainsRune(markdownSpecial, r) || (i == 0 && strings.ContainsRune("#>-+=", r)) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	out := b.String()
	// "1. " or "1) " at the start would begin an ordered list.
	if digits := len(out) - len(strings.TrimLeft(out, "0123456789")); digits > 0 && digits < len(out) && (out[digits] == '.' || out[digits] == ')') {
		out = out[:digits] + "\\" + out[digits:]
	}
	return out
}

// HAR types: the parts of HAR 1.2 (the HTTP Archive format browsers' dev
// tools read) that a recorded exchange fills.
type (
	harLog struct {
		Log struct {
			Version string     `json:"version"`
			Creator harCreator `json:"creator"`
			Entries []harEntry `json:"entries"`
		} `json:"log"`
	}
	harCreator struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	}
	harNV struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	}
	harEntry struct {
		StartedDateTime string      `json:"startedDateTime"`
		Time            float64     `json:"time"`
		Request         harRequest  `json:"request"`
		Response        harResponse `json:"response"`
		Cache           struct{}    `json:"cache"`
		Timings         harTimings  `json:"timings"`
		Comment         string      `json:"comment"`
	}
	harRequest struct {
		Method      string       `json:"method"`
		URL         string       `json:"url"`
		HTTPVersion string       `json:"httpVersion"`
		Cookies     []harNV      `json:"cookies"`
		Headers     []harNV      `json:"headers"`
		QueryString []harNV      `json:"queryString"`
		PostData    *harPostData `json:"postData,omitempty"`
		HeadersSize int          `json:"headersSize"`
		BodySize    int          `json:"bodySize"`
	}
	harPostData struct {
		MimeType string `json:"mimeType"`
		Text     string `json:"text"`
	}
	harResponse struct {
		Status      int        `json:"status"`
		StatusText  string     `json:"statusText"`
		HTTPVersion string     `json:"httpVersion"`
		Cookies     []harNV    `json:"cookies"`
		Headers     []harNV    `json:"headers"`
		Content     harContent `json:"content"`
		RedirectURL string     `json:"redirectURL"`
		HeadersSize int        `json:"headersSize"`
		BodySize    int        `json:"bodySize"`
	}
	harContent struct {
		Size     int    `json:"size"`
		MimeType string `json:"mimeType"`
		Text     string `json:"text"`
	}
	harTimings struct {
		Send    float64 `json:"send"`
		Wait    float64 `json:"wait"`
		Receive float64 `json:"receive"`
	}
)

// HAR writes the flow as a HAR 1.2 file. Secrets are masked.
func HAR(exchanges []Exchange) ([]byte, error) {
	var h harLog
	h.Log.Version = "1.2"
	h.Log.Creator = harCreator{"PhotoEditorApp workshop mode", "1"}
	h.Log.Entries = []harEntry{}
	for _, ex := range exchanges {
		ex = ex.Masked()
		nv := func(kvs []KV) []harNV {
			out := []harNV{}
			for _, kv := range kvs {
				out = append(out, harNV{kv.Name, kv.Value})
			}
			return out
		}
		u := ex.Request.URL
		query := []harNV{}
		if ex.Request.Method == http.MethodGet {
			q := url.Values{}
			for _, kv := range ex.Request.Params {
				q.Add(kv.Name, kv.Value)
				query = append(query, harNV{kv.Name, kv.Value})
			}
			if len(q) > 0 {
				u += "?" + q.Encode()
			}
		}
		ms := float64(ex.Duration.Microseconds()) / 1000
		e := harEntry{
			StartedDateTime: ex.Time.UTC().Format(time.RFC3339Nano),
			Time:            ms,
			Request: harRequest{Method: ex.Request.Method, URL: u, HTTPVersion: "HTTP/1.1", Cookies: []harNV{},
				Headers: nv(ex.Request.Headers), QueryString: query, HeadersSize: -1, BodySize: len(ex.Request.Body)},
			Response: harResponse{Status: ex.Response.Status, StatusText: http.StatusText(ex.Response.Status), HTTPVersion: "HTTP/1.1",
				Cookies: []harNV{}, Headers: nv(ex.Response.Headers), HeadersSize: -1, BodySize: len(ex.Response.Body),
				Content:     harContent{Size: len(ex.Response.Body), MimeType: headerValue(ex.Response.Headers, "Content-Type"), Text: ex.Response.Body},
				RedirectURL: headerValue(ex.Response.Headers, "Location")},
			Timings: harTimings{Wait: ms},
			Comment: "step " + string(ex.Step) + ": " + Info(ex.Step).Title,
		}
		if ex.Request.Body != "" {
			e.Request.PostData = &harPostData{MimeType: headerValue(ex.Request.Headers, "Content-Type"), Text: ex.Request.Body}
		}
		h.Log.Entries = append(h.Log.Entries, e)
	}
	return json.MarshalIndent(h, "", "  ")
}

func headerValue(kvs []KV, name string) string {
	for _, kv := range kvs {
		if strings.EqualFold(kv.Name, name) {
			return kv.Value
		}
	}
	return ""
}
