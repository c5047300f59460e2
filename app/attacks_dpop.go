package main

// Attacks with a stolen access token bound to the session's DPoP key (RFC
// 9449): the thief has the token (from a log, a backup of the session
// store, a proxy) but not the key, which never leaves the app's server.
// Each is sent to the real photos API; in lab mode, with ImageHost's DPoP
// enforcement switched off at its /lab, each gets in.

import (
	"fmt"
	"net/http"

	"oauthdemo/app/dpop"
)

var stolenTokenNoProof = attack{name: "dpop-no-proof", title: "DPoP: a stolen access token, without a proof",
	explain: "Take the access token the app holds, as a thief would from a log or a copy of the session store, " +
		"and call the photos API with it as a plain bearer token (Authorization: Bearer).",
	stoppedBy: "sender-constrained tokens: a token bound to a key (cnf.jkt) is refused as a bearer token (RFC 9449 §7.2)",
	run:       attackRun.stolenTokenWithoutProof}

var stolenTokenOtherKey = attack{name: "dpop-other-key", title: "DPoP: a stolen access token, with the thief's own key",
	explain: "The thief makes a key pair of their own and signs a proof that is right in every other way, for this method, " +
		"this URL, this token's hash and ImageHost's nonce, and presents the stolen token with it.",
	stoppedBy: "the key check: the proof's key must be the one the token is bound to (RFC 9449 §4.3, §6)",
	run:       attackRun.stolenTokenWithAnotherKey}

var replayedProof = attack{name: "dpop-replayed-proof", title: "DPoP: replay a proof",
	explain: "Send a request of the app's, token and proof, then send the very same request again, " +
		"as someone who copied it from the traffic or a log would.",
	stoppedBy: "single-use proofs: ImageHost remembers each proof's jti for as long as the proof is good (RFC 9449 §11.1)",
	run:       attackRun.replayProof}

// stolenToken is the session's access token, refreshed if it expired, and
// the key it is bound to (nil for a bearer token); or, when there is none,
// the outcome that says why.
func (r attackRun) stolenToken() (token string, key *dpop.Key, outcome string) {
	conn, err := r.conns.connection(r.c)
	if err != nil {
		return "", nil, "connect first."
	}
	if token, err = conn.tokens.AccessToken(r.ctx); err != nil {
		return "", nil, "the app has no usable access token: " + err.Error()
	}
	return token, conn.tokens.key, ""
}

// bearerNote says why an attack on a bearer token is no DPoP attack.
const bearerNote = " The app's tokens are bearer tokens (PHOTOEDITOR_DPOP=false): whoever holds one can use it, which is what DPoP is for."

// stolenTokenWithoutProof presents the bound token as a bearer token.
func (r attackRun) stolenTokenWithoutProof() error {
	token, key, outcome := r.stolenToken()
	if outcome != "" {
		return r.done(outcome)
	}
	resp, err := r.callAPI(http.MethodGet, token, nil, "")
	if err != nil {
		return r.done(unreachable(err))
	}
	ok := resp.StatusCode == http.StatusOK
	outcome = "the stolen token, sent as a bearer token: " + answer(resp)
	switch {
	case ok && key == nil:
		outcome += "." + bearerNote
	case ok:
		outcome += ": the attack succeeded, the photos API ignored the token's binding (DPoP enforcement is switched off at ImageHost's lab)."
	default:
		outcome += ". Without the key, the token is useless."
	}
	return r.done(outcome)
}

// stolenTokenWithAnotherKey presents the bound token with a good proof of
// a key the thief made.
func (r attackRun) stolenTokenWithAnotherKey() error {
	token, key, outcome := r.stolenToken()
	if outcome != "" {
		return r.done(outcome)
	}
	thief, err := dpop.NewKey()
	if err != nil {
		return err
	}
	resp, _, err := r.callAPIWithProof(token, thief)
	if err != nil {
		return r.done(unreachable(err))
	}
	outcome = fmt.Sprintf("the stolen token with a proof of the thief's key (%.12s…, the token's is %s): %s", thief.Thumbprint(), thumbprintOf(key), answer(resp))
	if resp.StatusCode == http.StatusOK {
		outcome += ": the attack succeeded, the photos API did not compare the keys (DPoP enforcement is switched off at ImageHost's lab, or the token is not bound)."
	} else {
		outcome += "."
	}
	return r.done(outcome)
}

// replayProof sends a request with the session's own key, then the same
// request, token and proof, again.
func (r attackRun) replayProof() error {
	token, key, outcome := r.stolenToken()
	if outcome != "" {
		return r.done(outcome)
	}
	if key == nil {
		return r.done("there is no proof to replay: the app's tokens are bearer tokens (PHOTOEDITOR_DPOP=false).")
	}
	first, proof, err := r.callAPIWithProof(token, key)
	if err != nil {
		return r.done(unreachable(err))
	}
	first.Body.Close()
	if first.StatusCode != http.StatusOK {
		return r.done("the app's own request was refused: " + answer(first))
	}
	again, err := r.sendProof(token, proof)
	if err != nil {
		return r.done(unreachable(err))
	}
	outcome = "the app's own request: " + answer(first) + "; the same token and proof once more: " + answer(again)
	if again.StatusCode == http.StatusOK {
		outcome += ": the attack succeeded, ImageHost took the proof twice (DPoP enforcement is switched off at ImageHost's lab)."
	} else {
		outcome += ". A proof is good once."
	}
	return r.done(outcome)
}

// callAPIWithProof calls the photos API with token and a proof of key,
// and, when the API asks for its nonce (use_dpop_nonce), once more with a
// proof that carries it, as a client does (RFC 9449 §9). It returns the
// answer, and the proof it answers.
func (r attackRun) callAPIWithProof(token string, key *dpop.Key) (*http.Response, string, error) {
	proof, err := key.Proof(http.MethodGet, r.photosAPI, token, "", r.p.now())
	if err != nil {
		return nil, "", err
	}
	resp, err := r.sendProof(token, proof)
	if err != nil || resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("DPoP-Nonce") == "" {
		return resp, proof, err
	}
	resp.Body.Close()
	if proof, err = key.Proof(http.MethodGet, r.photosAPI, token, resp.Header.Get("DPoP-Nonce"), r.p.now()); err != nil {
		return nil, "", err
	}
	resp, err = r.sendProof(token, proof)
	return resp, proof, err
}

// sendProof calls the photos API with token, with the DPoP scheme, and
// proof.
func (r attackRun) sendProof(token, proof string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(r.ctx, http.MethodGet, r.photosAPI, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "DPoP "+token)
	req.Header.Set("DPoP", proof)
	return r.p.http.Do(req)
}

// thumbprintOf names a key by the start of its thumbprint.
func thumbprintOf(key *dpop.Key) string {
	if key == nil {
		return "none: a bearer token"
	}
	return fmt.Sprintf("%.12s…", key.Thumbprint())
}
