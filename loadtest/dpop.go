package main

// The DPoP scenario (RFC 9449): the photos API called with a token bound
// to a key, each call with a proof of its own, next to the same calls with
// a bearer token, in the same run. The proofs are signed beforehand, as
// vegeta sends what it is given: what is measured is ImageHost's side, the
// proof's signature check and the record of its jti.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"oauthdemo/e2e/harness"
)

// dpopCalls is how many calls each of the two scenarios makes, in
// dpopTurns turns: bearer, DPoP, bearer, DPoP..., so that a machine whose
// speed moves (it is shared) moves for both alike. The proofs must all be
// used within their minute (the proof window), so the run is a few seconds
// long.
const (
	dpopCalls = 16000
	dpopTurns = 4
)

// proofKey is the load test's DPoP key.
type proofKey struct {
	priv *ecdsa.PrivateKey
	jwk  json.RawMessage
}

func newProofKey() (*proofKey, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	jwk, err := (&jose.JSONWebKey{Key: priv.Public()}).MarshalJSON()
	return &proofKey{priv: priv, jwk: jwk}, err
}

// proof signs a DPoP proof for method and u.
func (k *proofKey) proof(method, u, nonce, accessToken string) (string, error) {
	var jti [16]byte
	rand.Read(jti[:])
	claims := map[string]any{"jti": base64.RawURLEncoding.EncodeToString(jti[:]), "htm": method, "htu": u, "iat": time.Now().Unix()}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	if accessToken != "" {
		sum := sha256.Sum256([]byte(accessToken))
		claims["ath"] = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k.priv},
		(&jose.SignerOptions{EmbedJWK: true}).WithType("dpop+jwt"))
	if err != nil {
		return "", err
	}
	payload, _ := json.Marshal(claims)
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

// send makes a request with a proof and returns the response, closed, and
// its JSON body decoded into v.
func (k *proofKey) send(req *http.Request, nonce, accessToken string, v any) (*http.Response, error) {
	proof, err := k.proof(req.Method, strings.Split(req.URL.String(), "?")[0], nonce, accessToken)
	if err != nil {
		return nil, err
	}
	req.Header.Set("DPoP", proof)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if v != nil {
		json.NewDecoder(resp.Body).Decode(v)
	}
	return resp, nil
}

// boundToken gets the machine client an access token bound to k, and the
// photos API's nonce for k's proofs: a first request of each without a
// nonce is answered use_dpop_nonce with the nonce to use (RFC 9449 §8, §9).
func boundToken(base string, k *proofKey) (token, apiNonce string, err error) {
	tokenRequest := func() *http.Request {
		req, _ := http.NewRequest("POST", base+"/token", strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
		req.Header.Set("Content-Type", formHeader)
		req.SetBasicAuth(harness.M2MClientID, harness.M2MClientSecret)
		return req
	}
	resp, err := k.send(tokenRequest(), "", "", nil)
	if err != nil {
		return "", "", err
	}
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	if resp, err = k.send(tokenRequest(), resp.Header.Get("DPoP-Nonce"), "", &tok); err != nil {
		return "", "", err
	}
	if tok.TokenType != "DPoP" {
		return "", "", fmt.Errorf("client credentials with a DPoP proof: %s, token_type %q", resp.Status, tok.TokenType)
	}
	req, _ := http.NewRequest("GET", base+"/api/photos", nil)
	req.Header.Set("Authorization", "DPoP "+tok.AccessToken)
	if resp, err = k.send(req, "", tok.AccessToken, nil); err != nil {
		return "", "", err
	}
	if resp.Header.Get("DPoP-Nonce") == "" {
		return "", "", fmt.Errorf("the photos API gave no nonce: %s", resp.Status)
	}
	return tok.AccessToken, resp.Header.Get("DPoP-Nonce"), nil
}

// dpopScenarios runs the two scenarios in turns and returns each one's
// requests, as one result per scenario: the throughput is the requests over
// the time of its turns together.
func dpopScenarios(ctx context.Context, vegeta, dir, base, bearer string) (bearerRun, dpopRun result, err error) {
	bound, plain, err := dpopTargets(base, bearer, dpopCalls)
	if err != nil {
		return result{}, result{}, err
	}
	bearerRun = result{name: fmt.Sprintf("photos API, bearer (%d calls)", dpopCalls), StatusCodes: map[string]int{}}
	dpopRun = result{name: fmt.Sprintf("photos API, DPoP (%d calls, a proof each)", dpopCalls), StatusCodes: map[string]int{}}
	var bearerTime, dpopTime float64
	turn := dpopCalls / dpopTurns
	for i := range dpopTurns {
		for _, s := range []struct {
			targets []target
			into    *result
			time    *float64
		}{{plain[i*turn : (i+1)*turn], &bearerRun, &bearerTime}, {bound[i*turn : (i+1)*turn], &dpopRun, &dpopTime}} {
			r, err := attack(ctx, vegeta, dir, s.into.name, s.targets, 0, false)
			if err != nil {
				return result{}, result{}, err
			}
			s.into.Requests += r.Requests
			*s.time += float64(r.Requests) / r.Throughput
			for code, n := range r.StatusCodes {
				s.into.StatusCodes[code] += n
			}
			s.into.Errors = append(s.into.Errors, r.Errors...)
			// The latencies of the last turn stand for the run's.
			s.into.Latencies = r.Latencies
		}
	}
	bearerRun.Throughput, dpopRun.Throughput = float64(bearerRun.Requests)/bearerTime, float64(dpopRun.Requests)/dpopTime
	return bearerRun, dpopRun, nil
}

// dpopTargets are n calls of the photos API with a DPoP-bound token, each
// with a proof of its own, and n with a bearer token.
func dpopTargets(base, bearer string, n int) (bound, plain []target, err error) {
	k, err := newProofKey()
	if err != nil {
		return nil, nil, err
	}
	token, nonce, err := boundToken(base, k)
	if err != nil {
		return nil, nil, err
	}
	api := base + "/api/photos"
	for range n {
		proof, err := k.proof("GET", api, nonce, token)
		if err != nil {
			return nil, nil, err
		}
		bound = append(bound, target{Method: "GET", URL: api, Header: http.Header{"Authorization": {"DPoP " + token}, "Dpop": {proof}}})
		plain = append(plain, target{Method: "GET", URL: api, Header: http.Header{"Authorization": {"Bearer " + bearer}}})
	}
	return bound, plain, nil
}
