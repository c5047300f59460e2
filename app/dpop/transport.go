package dpop

// The HTTP side: a proof on each request made with a key in its context,
// and the server's nonces (RFC 9449 §8, §9), learnt from its answers and
// used from then on.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Transport adds a DPoP proof to each request whose context carries a
// key (WithKey), signed with that key. A request that presents an access
// token with the DPoP scheme gets the token's hash in its proof (ath). A
// server that answers use_dpop_nonce gets the request once more, with a
// new proof carrying the nonce it named, which is kept for the next
// requests to that server. Other requests pass through untouched.
type Transport struct {
	Base http.RoundTripper
	Now  func() time.Time

	mu     sync.Mutex
	nonces map[string]string // by server: origin, and "token" or "resource"
}

// maxNonces bounds the servers whose nonces are kept: the app talks to
// ImageHost, whose token endpoint and resources have one each.
const maxNonces = 64

// maxErrorBody is the most of an answer read to find use_dpop_nonce in
// it: a token endpoint's JSON error.
const maxErrorBody = 64 << 10

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	key := KeyFrom(req.Context())
	if key == nil {
		return t.Base.RoundTrip(req)
	}
	server := serverOf(req)
	resp, err := t.send(req, key, t.nonce(server))
	if err != nil {
		return nil, err
	}
	next, retry, err := t.askedForNonce(resp)
	if err != nil {
		return nil, err
	}
	if next != "" {
		t.setNonce(server, next)
	}
	// RFC 9449 §8: "The client will typically retry the request with the
	// new nonce value supplied upon receiving a use_dpop_nonce error". Once:
	// a server that keeps asking is answered with what it said.
	if !retry || (req.Body != nil && req.GetBody == nil) {
		return resp, nil
	}
	resp.Body.Close()
	again := req.Clone(req.Context())
	if req.GetBody != nil {
		if again.Body, err = req.GetBody(); err != nil {
			return nil, err
		}
	}
	if resp, err = t.send(again, key, next); err != nil {
		return nil, err
	}
	later, _, err := t.askedForNonce(resp)
	if err != nil {
		return nil, err
	}
	if later != "" {
		t.setNonce(server, later)
	}
	return resp, nil
}

// send sends req with a new proof carrying nonce.
func (t *Transport) send(req *http.Request, key *Key, nonce string) (*http.Response, error) {
	accessToken := ""
	if scheme, token, ok := strings.Cut(req.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "DPoP") {
		accessToken = token
	}
	proof, err := key.Proof(req.Method, req.URL.String(), accessToken, nonce, t.Now())
	if err != nil {
		return nil, err
	}
	signed := req.Clone(req.Context())
	signed.Header.Set("DPoP", proof)
	return t.Base.RoundTrip(signed)
}

// askedForNonce reads the nonce an answer names (DPoP-Nonce), and whether
// it refused the request for want of it: a token endpoint's 400 with the
// JSON error use_dpop_nonce (§8), or a resource's 401 whose DPoP challenge
// says error="use_dpop_nonce" (§9). The body it reads is put back.
func (t *Transport) askedForNonce(resp *http.Response) (nonce string, retry bool, err error) {
	nonce = resp.Header.Get("DPoP-Nonce")
	if nonce == "" {
		return "", false, nil
	}
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		for _, challenge := range resp.Header.Values("WWW-Authenticate") {
			if strings.HasPrefix(strings.ToLower(challenge), "dpop ") && strings.Contains(challenge, `error="use_dpop_nonce"`) {
				return nonce, true, nil
			}
		}
	case http.StatusBadRequest:
		head, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		if err != nil {
			resp.Body.Close()
			return "", false, fmt.Errorf("dpop: read the answer: %w", err)
		}
		resp.Body = readCloser{io.MultiReader(bytes.NewReader(head), resp.Body), resp.Body}
		var body struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(head, &body) == nil && body.Error == "use_dpop_nonce" {
			return nonce, true, nil
		}
	}
	return nonce, false, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

// serverOf names the server a request goes to, for its nonce: its origin,
// and whether it is a resource (the request presents an access token) or
// the authorization server. RFC 9449 §9: "nonces will be only accepted by
// the server that issued them".
func serverOf(req *http.Request) string {
	kind := "token"
	if scheme, _, _ := strings.Cut(req.Header.Get("Authorization"), " "); strings.EqualFold(scheme, "DPoP") {
		kind = "resource"
	}
	return req.URL.Scheme + "://" + req.URL.Host + " " + kind
}

func (t *Transport) nonce(server string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.nonces[server]
}

func (t *Transport) setNonce(server, nonce string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.nonces == nil || len(t.nonces) >= maxNonces {
		t.nonces = map[string]string{}
	}
	t.nonces[server] = nonce
}
