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
	for _, visible := range []string{"visible-state", "authorization_code", "Bearer", "Basic ••••"} {
		if !strings.Contains(all, visible) {
			t.Errorf("masking hid %q, which is not secret", visible)
		}
	}
	if ex.Request.Params[0].Value != "secret-code-123456" {
		t.Fatal("Masked changed the original")
	}
}

// TestClientCredentialsAreNeverRecorded: what the recorder keeps, which
// Reveal shows unmasked, holds none of the app's own credentials; the
// attendee's tokens and codes are kept for Reveal.
func TestClientCredentialsAreNeverRecorded(t *testing.T) {
	r := NewRecorder(time.Now)
	basic := "cGhvdG9lZGl0b3JhcHA6dGhlLWFwcHMtc2VjcmV0"
	ctx := context.Background()
	seq := r.Add(ctx, "f", Exchange{Step: StepToken, Request: Message{
		Headers: []KV{{"Authorization", "Basic " + basic}, {"DPoP", "eyJ0eXAiOiJkcG9wK2p3dCJ9.proof.sig"}},
		Params:  []KV{{"client_secret", "the-apps-secret"}, {"code", "the-users-code-123"}, {"client_assertion", "eyJhbGciOi.assertion.sig"}},
		Body:    "client_assertion=eyJhbGciOi.assertion.sig&client_secret=the-apps-secret&code=the-users-code-123"}}).Seq
	ex := r.Exchanges(ctx, "f")[0]
	if ex.Seq != seq {
		t.Fatalf("the exchange is numbered %d, Add said %d", ex.Seq, seq)
	}
	ex.Request.Params = append(ex.Request.Params, KV{"client_secret", "added-later-secret"})
	r.Replace(ctx, "f", ex)
	kept := fmt.Sprint(r.Exchanges(ctx, "f"))
	for _, credential := range []string{basic, "the-apps-secret", "assertion.sig", "proof.sig", "added-later-secret"} {
		if strings.Contains(kept, credential) {
			t.Errorf("the recorder keeps the client credential %q", credential)
		}
	}
	if !strings.Contains(kept, "the-users-code-123") || !strings.Contains(kept, "Basic ") {
		t.Error("the recorder lost what Reveal may show")
	}
	// The DPoP proof keeps its header and claims, for the inspector to
	// show decoded; only its signature goes.
	if !strings.Contains(kept, "eyJ0eXAiOiJkcG9wK2p3dCJ9.proof."+SignatureMark) {
		t.Errorf("the recorder does not keep the proof's header and claims: %s", kept)
	}
}

// TestCopiesOfSecretsAreMasked: a code travels in a Location header and in
// the body of the redirect too; masked, no copy of it is left.
func TestCopiesOfSecretsAreMasked(t *testing.T) {
	code := "the-attackers-code-0123456789"
	ex := Exchange{Step: StepAttack, Note: "ImageHost redirected to http://localhost:8080/callback?code=" + code,
		Request: Message{Method: "POST", URL: "http://127.0.0.1:9090/consent"},
		Response: Message{Status: 303, Headers: []KV{{"Location", "http://localhost:8080/callback?code=" + code + "&state=s&iss=x"}},
			Body: `<a href="http://localhost:8080/callback?code=` + code + `&amp;state=s">See Other</a>.`}}
	har, _ := HAR([]Exchange{ex})
	for what, out := range map[string]string{"masked": fmt.Sprint(ex.Masked()), "Markdown": Markdown([]Exchange{ex}), "HAR": string(har)} {
		if strings.Contains(out, code) {
			t.Errorf("the %s exchange still shows the code", what)
		}
		if !strings.Contains(out, "state=s") {
			t.Errorf("the %s exchange lost the Location's other parameters", what)
		}
	}
	if !strings.Contains(string(har), `"redirectURL": "http://localhost:8080/callback?code=the-at`) {
		t.Errorf("the HAR entry's redirectURL is not the masked Location:\n%s", har)
	}
}

// TestPasswordsAreMaskedWhole: a masked token keeps a short prefix, which
// tells nothing of it; a password's mask keeps none of it, wherever it is
// (the form the app received, the token request it sent on), in the
// inspector and in the exports.
func TestPasswordsAreMaskedWhole(t *testing.T) {
	const pw = "correct horse battery"
	typed := Exchange{Step: StepConnect, Request: Message{Method: "POST", URL: "http://localhost:8080/lab/legacy/password",
		Params: []KV{{"password", pw}, {"username", "alice"}}}}
	sent := Exchange{Step: StepToken, Request: Message{Method: "POST", URL: "http://127.0.0.1:9090/token",
		Params: ParamsOf("grant_type=password&username=alice&password=" + url.QueryEscape(pw)),
		Body:   "grant_type=password&username=alice&password=" + url.QueryEscape(pw)}}
	har, _ := HAR([]Exchange{typed, sent})
	for what, out := range map[string]string{"masked": fmt.Sprint(typed.Masked(), sent.Masked()), "Markdown": Markdown([]Exchange{typed, sent}), "HAR": string(har)} {
		if strings.Contains(out, pw[:6]) || strings.Contains(out, url.QueryEscape(pw)[:6]) {
			t.Errorf("the %s exchanges show the start of the password:\n%s", what, out)
		}
		if !strings.Contains(out, "•••• (21 chars)") || !strings.Contains(out, "alice") {
			t.Errorf("the %s exchanges lost the password's length or the username:\n%s", what, out)
		}
	}
	if unmasked := fmt.Sprint(typed, sent); !strings.Contains(unmasked, pw) {
		t.Error("the recording itself lost the password, which Reveal shows")
	}
}

// endless is a body that never ends.
type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}

// TestTransportRecordsBoundedBodies: the recorder reads no more of a body
// than it records, however long the body, and the caller still gets all of it.
func TestTransportRecordsBoundedBodies(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"access_token":"`)
		io.Copy(w, endless{})
	}))
	defer srv.Close()
	rec := NewRecorder(time.Now)
	client := &http.Client{Transport: &Transport{Base: http.DefaultTransport, Recorder: rec}}
	ctx, cancel := context.WithTimeout(WithStep(WithID(context.Background(), "f"), StepToken), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL+"/token", strings.NewReader(strings.Repeat("y", 100<<10)))
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("an endless answer was not handed on: %v", err)
	}
	got, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if err != nil || len(got) != 1<<20 || !strings.HasPrefix(string(got), `{"access_token":"xxx`) {
		t.Fatalf("the caller got %d bytes (%v), not the answer as sent", len(got), err)
	}
	ex := rec.Exchanges(ctx, "f")[0]
	for what, body := range map[string]string{"request": ex.Request.Body, "response": ex.Response.Body} {
		if len(body) > maxBody+100 || !strings.Contains(body, "(cut: only the first 16 KiB are recorded)") {
			t.Fatalf("the %s body is recorded as %d bytes, without saying it was cut", what, len(body))
		}
	}
	// Cut off, the token response no longer parses: its token is masked anyway.
	if m := ex.Masked().Response.Body; strings.Contains(m, "xxxxxxxxxxxx") || !strings.Contains(m, "(cut: ") {
		t.Fatalf("the cut token response, masked:\n%.200s", m)
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
	got := rec.Exchanges(ctx, "f1")
	if len(got) != 1 {
		t.Fatalf("%d exchanges recorded, want 1", len(got))
	}
	ex := got[0]
	if ex.Step != StepToken || ex.Request.Param("code") != "abc" || ex.Response.Status != 200 || !strings.Contains(ex.Response.Body, "tok-abc") {
		t.Fatalf("recorded %+v", ex)
	}
	if n, _ := rec.storage.Len(ctx); n != 1 {
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
