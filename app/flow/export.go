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
		if ex.Note != "" {
			fmt.Fprintf(&b, "%s\n\n", ex.Note)
		}
		fmt.Fprintf(&b, "```http\n%s %s\n", ex.Request.Method, ex.Request.URL)
		for _, kv := range ex.Request.Headers {
			fmt.Fprintf(&b, "%s: %s\n", kv.Name, kv.Value)
		}
		for _, kv := range ex.Request.Params {
			fmt.Fprintf(&b, "  %s = %s\n", kv.Name, kv.Value)
		}
		b.WriteString("```\n")
		if ex.Response.Status != 0 {
			fmt.Fprintf(&b, "\n```http\n%d %s\n", ex.Response.Status, http.StatusText(ex.Response.Status))
			for _, kv := range ex.Response.Headers {
				fmt.Fprintf(&b, "%s: %s\n", kv.Name, kv.Value)
			}
			if ex.Response.Body != "" {
				fmt.Fprintf(&b, "\n%s\n", strings.TrimRight(ex.Response.Body, "\n"))
			}
			b.WriteString("```\n")
		}
	}
	return b.String()
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
				Content: harContent{Size: len(ex.Response.Body), MimeType: headerValue(ex.Response.Headers, "Content-Type"), Text: ex.Response.Body}},
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
