package dpop

// Server-provided nonces (RFC 9449 §8 for the authorization server, §9 for
// a resource server). A nonce limits how long a proof is good for, whatever
// iat the client wrote into it: "Without employing such a mechanism, a
// malicious party controlling the client (potentially including the
// end-user) can create DPoP proofs for use arbitrarily far in the future."

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"time"
)

// NoncePeriod is how often the nonce changes. A nonce is good in its
// period and the next, so for five to ten minutes.
const NoncePeriod = 5 * time.Minute

// Nonces makes and checks one server's nonces. They are kept nowhere: a
// nonce is an HMAC of the period's number under a key the server keeps in
// its database, so every instance on the database makes and accepts the
// same ones, and nobody without the key can predict the next (RFC 9449 §8:
// "Nonce values MUST be unpredictable").
type Nonces struct {
	key    []byte
	period time.Duration
	now    func() time.Time
}

// NewNonces returns the nonces of one server, purpose ("token" or
// "resource": RFC 9449 §9, "nonces will be only accepted by the server that
// issued them"), made from key.
func NewNonces(key []byte, purpose string, now func() time.Time) *Nonces {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("DPoP nonces of " + purpose))
	return &Nonces{key: mac.Sum(nil), period: NoncePeriod, now: now}
}

// at is the nonce of period i.
func (n *Nonces) at(i int64) string {
	mac := hmac.New(sha256.New, n.key)
	binary.Write(mac, binary.BigEndian, i)
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil)[:16])
}

// Current returns the nonce a client should use now.
func (n *Nonces) Current() string { return n.at(n.now().UnixNano() / int64(n.period)) }

// Check reports whether nonce is good (this period's or the last's), and
// returns the nonce the client should use next: the current one when the
// client's is not, else "" (it has the current one already).
func (n *Nonces) Check(nonce string) (next string, ok bool) {
	i := n.now().UnixNano() / int64(n.period)
	current := n.at(i)
	switch {
	case subtle.ConstantTimeCompare([]byte(nonce), []byte(current)) == 1:
		return "", true
	case subtle.ConstantTimeCompare([]byte(nonce), []byte(n.at(i-1))) == 1:
		// Still good; RFC 9449 §8.2: the server MAY supply the new nonce
		// "by including a DPoP-Nonce HTTP header in the HTTP 200 (OK)
		// response from the previous request".
		return current, true
	}
	return current, false
}
