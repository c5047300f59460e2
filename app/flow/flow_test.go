package flow

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestMask(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"short", "•••• (5 chars)"},
		{"eyJhbGciOiJFUzI1NiJ9.payload.sig", "eyJhbG…•••• (32 chars)"},
	}
	for _, tc := range tests {
		if got := Mask(tc.in); got != tc.want {
			t.Errorf("Mask(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestMaskedExchange(t *testing.T) {
	ex := Exchange{
		Request: Message{Params: []KV{{"code", "secret-code-123456"}, {"state", "visible-state"}},
			Headers: []KV{{"Authorization", "Basic c2VjcmV0OnNlY3JldA=="}, {"Content-Type", "x"}},
			Body:    "code=secret-code-123456&grant_type=authorization_code"},
		Response: Message{Body: `{"access_token":"eyJhbGciOiJFUzI1NiJ9.abc.def","token_type":"Bearer","expires_in":300}`},
	}
	m := ex.Masked()
	all := fmt.Sprint(m)
	for _, secret := range []string{"secret-code-123456", "c2VjcmV0OnNlY3JldA==", "eyJhbGciOiJFUzI1NiJ9.abc.def"} {
		if strings.Contains(all, secret) {
			t.Errorf("masked exchange still shows %q", secret)
		}
	}
	for _, visible := range []string{"visible-state", "authorization_code", "Bearer", "Basic c2Vjcm…"} {
		if !strings.Contains(all, visible) {
			t.Errorf("masking hid %q, which is not secret", visible)
		}
	}
	if ex.Request.Params[0].Value != "secret-code-123456" {
		t.Fatal("Masked changed the original")
	}
}

func TestRecorderBounds(t *testing.T) {
	r := NewRecorder(time.Now)
	for i := range MaxFlows + 10 {
		r.Add(fmt.Sprint("flow-", i), Exchange{Step: StepConnect})
	}
	if r.Len() != MaxFlows {
		t.Fatalf("%d flows kept, want at most %d", r.Len(), MaxFlows)
	}
	r.Add("busy", Exchange{Step: StepAuthorize})
	for range MaxExchanges + 20 {
		r.Add("busy", Exchange{Step: StepAPI})
	}
	got := r.Exchanges("busy")
	if len(got) != MaxExchanges || got[0].Step != StepAuthorize {
		t.Fatalf("%d exchanges kept, first %q: want %d, with the login step kept over API calls", len(got), got[0].Step, MaxExchanges)
	}
	if r.Exchanges("nobody") != nil {
		t.Fatal("an unknown flow has exchanges")
	}
}

func TestTransportRecords(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		fmt.Fprintf(w, `{"access_token":"tok-%s","token_type":"Bearer"}`, r.PostForm.Get("code"))
	}))
	defer srv.Close()
	rec := NewRecorder(time.Now)
	client := &http.Client{Transport: &Transport{Base: http.DefaultTransport, Recorder: rec}}

	// Not part of a flow: not recorded.
	resp, _ := client.PostForm(srv.URL+"/token", url.Values{"code": {"a"}})
	resp.Body.Close()

	ctx := WithStep(WithID(context.Background(), "f1"), StepToken)
	req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL+"/token", strings.NewReader("code=abc&grant_type=authorization_code"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != `{"access_token":"tok-abc","token_type":"Bearer"}` {
		t.Fatalf("the caller got %q: recording must not change the response", body)
	}
	got := rec.Exchanges("f1")
	if len(got) != 1 {
		t.Fatalf("%d exchanges recorded, want 1", len(got))
	}
	ex := got[0]
	if ex.Step != StepToken || ex.Request.Param("code") != "abc" || ex.Response.Status != 200 || !strings.Contains(ex.Response.Body, "tok-abc") {
		t.Fatalf("recorded %+v", ex)
	}
	if rec.Len() != 1 {
		t.Fatal("the request without a flow was recorded")
	}
	har, err := HAR(got)
	if err != nil || !strings.Contains(string(har), `"version": "1.2"`) || strings.Contains(string(har), "tok-abc") {
		t.Fatalf("HAR: %v\n%s", err, har)
	}
	if md := Markdown(got); !strings.Contains(md, "Step 6-7") || strings.Contains(md, "tok-abc") {
		t.Fatalf("Markdown:\n%s", md)
	}
}
