package dpop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

// goJOSEProof signs payload as a client using go-jose would: typ dpop+jwt,
// the public key embedded as jwk.
func goJOSEProof(t testing.TB, alg jose.SignatureAlgorithm, key crypto.Signer, payload string) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key},
		(&jose.SignerOptions{EmbedJWK: true}).WithType(TypeProof))
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign([]byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	compact, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return compact
}

// proofKeys are a key of each algorithm ImageHost takes.
func proofKeys(t testing.TB) map[jose.SignatureAlgorithm]crypto.Signer {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return map[jose.SignatureAlgorithm]crypto.Signer{jose.ES256: ec, jose.EdDSA: ed, jose.PS256: rsaKey, jose.RS256: rsaKey}
}

// agreesWithGoJOSE fails the test unless go-jose, an independent JOSE
// implementation, takes a proof that parseProof and verify took: the same
// alg and typ, a public jwk that verifies the signature, the same
// thumbprint.
func agreesWithGoJOSE(t *testing.T, compact string, p signedProof) {
	t.Helper()
	jws, err := jose.ParseSignedCompact(compact, []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA, jose.PS256, jose.RS256})
	if err != nil {
		t.Fatalf("parseProof took %q, go-jose refuses it: %v", compact, err)
	}
	h := jws.Signatures[0].Header
	typ, _ := h.ExtraHeaders[jose.HeaderType].(string)
	if h.Algorithm != p.alg || typ != p.typ {
		t.Fatalf("alg %q typ %q, go-jose reads alg %q typ %q", p.alg, p.typ, h.Algorithm, typ)
	}
	if h.JSONWebKey == nil || !h.JSONWebKey.IsPublic() {
		t.Fatalf("parseProof took %q, whose jwk go-jose does not read as a public key", compact)
	}
	if _, err := jws.Verify(h.JSONWebKey); err != nil {
		t.Fatalf("verify took %q, go-jose does not: %v", compact, err)
	}
	thumb, err := h.JSONWebKey.Thumbprint(crypto.SHA256)
	if err != nil || base64.RawURLEncoding.EncodeToString(thumb) != p.jkt {
		t.Fatalf("thumbprint %s, go-jose's %s (%v)", p.jkt, base64.RawURLEncoding.EncodeToString(thumb), err)
	}
}

// TestParseProofAgreesWithGoJOSE: a proof that go-jose signs with each
// algorithm ImageHost takes parses and verifies, with go-jose's
// thumbprint; the same proof altered anywhere does not verify, and one
// whose header breaks a rule does not parse.
func TestParseProofAgreesWithGoJOSE(t *testing.T) {
	for alg, key := range proofKeys(t) {
		t.Run(string(alg), func(t *testing.T) {
			compact := goJOSEProof(t, alg, key, `{"jti":"1","htm":"GET","htu":"http://x/","iat":1}`)
			p, err := parseProof(compact)
			if err != nil || !p.verify() {
				t.Fatalf("a good %s proof: %v, verifies %v", alg, err, err == nil && p.verify())
			}
			agreesWithGoJOSE(t, compact, p)

			// Any byte of the signing input or the signature changed.
			for _, i := range []int{1, strings.IndexByte(compact, '.') + 2, len(compact) - 3} {
				c := []byte(compact)
				c[i] ^= 1
				if p, err := parseProof(string(c)); err == nil && p.verify() {
					t.Errorf("the proof with byte %d changed verifies", i)
				}
			}
		})
	}

	ec := proofKeys(t)[jose.ES256].(*ecdsa.PrivateKey)
	good := goJOSEProof(t, jose.ES256, ec, `{}`)
	header, rest, _ := strings.Cut(good, ".")
	var h map[string]any
	raw, _ := base64.RawURLEncoding.DecodeString(header)
	json.Unmarshal(raw, &h)
	jwk := h["jwk"].(map[string]any)
	withHeader := func(change func(h, jwk map[string]any)) string {
		h2, jwk2 := map[string]any{}, map[string]any{}
		for k, v := range h {
			h2[k] = v
		}
		for k, v := range jwk {
			jwk2[k] = v
		}
		h2["jwk"] = jwk2
		change(h2, jwk2)
		b, _ := json.Marshal(h2)
		return base64.RawURLEncoding.EncodeToString(b) + "." + rest
	}
	offCurve := base64.RawURLEncoding.EncodeToString(make([]byte, 32))
	for name, tc := range map[string]struct {
		compact string
		want    error
	}{
		"two parts":              {header + "." + strings.Split(rest, ".")[0], errNotAJWS},
		"four parts":             {good + ".x", errNotAJWS},
		"a header not base64url": {"*" + good, errNotAJWS},
		"a header not JSON":      {base64.RawURLEncoding.EncodeToString([]byte("[1]")) + "." + rest, errNotAJWS},
		"alg none":               {withHeader(func(h, _ map[string]any) { h["alg"] = "none" }), errNotAJWS},
		"alg HS256":              {withHeader(func(h, _ map[string]any) { h["alg"] = "HS256" }), errNotAJWS},
		"alg es256":              {withHeader(func(h, _ map[string]any) { h["alg"] = "es256" }), errNotAJWS},
		"ALG instead of alg":     {withHeader(func(h, _ map[string]any) { h["ALG"] = h["alg"]; delete(h, "alg") }), errNotAJWS},
		"crit":                   {withHeader(func(h, _ map[string]any) { h["crit"] = []string{"b64"}; h["b64"] = false }), errCritical},
		"no jwk":                 {withHeader(func(h, _ map[string]any) { delete(h, "jwk") }), errNoKey},
		"a jwk that is a string": {withHeader(func(h, _ map[string]any) { h["jwk"] = "key" }), errNoKey},
		"the private key d":      {withHeader(func(_, jwk map[string]any) { jwk["d"] = "AAAA" }), errPrivateKey},
		"a symmetric key k":      {withHeader(func(_, jwk map[string]any) { jwk["k"] = "AAAA" }), errPrivateKey},
		"P-384":                  {withHeader(func(_, jwk map[string]any) { jwk["crv"] = "P-384" }), errNoKey},
		"an OKP key for ES256":   {withHeader(func(_, jwk map[string]any) { jwk["kty"] = "OKP" }), errNoKey},
		"x of 31 bytes":          {withHeader(func(_, jwk map[string]any) { jwk["x"] = jwk["x"].(string)[1:] }), errNoKey},
		"a point off the curve":  {withHeader(func(_, jwk map[string]any) { jwk["x"], jwk["y"] = offCurve, offCurve }), errNoKey},
		"KTY instead of kty":     {withHeader(func(_, jwk map[string]any) { jwk["KTY"] = jwk["kty"]; delete(jwk, "kty") }), errNoKey},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := parseProof(tc.compact); err != tc.want {
				t.Fatalf("%v, want %v", err, tc.want)
			}
		})
	}
	if p, err := parseProof(withHeader(func(h, _ map[string]any) { h["TYP"] = h["typ"]; delete(h, "typ") })); err != nil || p.typ != "" {
		t.Fatalf("TYP instead of typ: %v, typ %q; want no typ", err, p.typ)
	}
}

// TestParseProofRefuses: proofs that a lenient parser would take, each
// refused, at parsing or at verification.
func TestParseProofRefuses(t *testing.T) {
	keys := proofKeys(t)
	ec := keys[jose.ES256].(*ecdsa.PrivateKey)
	good := goJOSEProof(t, jose.ES256, ec, `{}`)
	header, rest, _ := strings.Cut(good, ".")
	raw, _ := base64.RawURLEncoding.DecodeString(header)
	// withRawHeader changes the header's JSON text; the proof's signature
	// no longer matters to parsing.
	withRawHeader := func(change func(string) string) string {
		return base64.RawURLEncoding.EncodeToString([]byte(change(string(raw)))) + "." + rest
	}
	// rsaProof is a proof whose jwk is an RSA key with modulus n and
	// exponent e.
	rsaProof := func(n *big.Int, e int) string {
		jwk, _ := json.Marshal(map[string]string{"kty": "RSA", "n": b64(n.Bytes()), "e": b64(big.NewInt(int64(e)).Bytes())})
		return withRawHeader(func(string) string { return `{"alg":"RS256","typ":"dpop+jwt","jwk":` + string(jwk) + `}` })
	}
	rsaKey := keys[jose.RS256].(*rsa.PrivateKey)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		compact string
		want    error
	}{
		"alg named twice":            {withRawHeader(func(h string) string { return strings.Replace(h, "{", `{"alg":"RS256",`, 1) }), errNotAJWS},
		`"\u0061lg" beside alg`:      {withRawHeader(func(h string) string { return strings.Replace(h, "{", `{"\u0061lg":"ES256",`, 1) }), errNotAJWS},
		"typ named twice":            {withRawHeader(func(h string) string { return strings.Replace(h, "{", `{"typ":"jwt",`, 1) }), errNotAJWS},
		"a jwk member named twice":   {withRawHeader(func(h string) string { return strings.Replace(h, `"kty":"EC"`, `"kty":"EC","x":"AA"`, 1) }), errNoKey},
		"a header and more JSON":     {withRawHeader(func(h string) string { return h + "{}" }), errNotAJWS},
		"a header that is null":      {withRawHeader(func(string) string { return "null" }), errNotAJWS},
		"a jwk that is null":         {withRawHeader(func(string) string { return `{"alg":"ES256","typ":"dpop+jwt","jwk":null}` }), errNoKey},
		"padding":                    {header + "==." + rest, errNotAJWS},
		"a line break in the header": {header[:8] + "\n" + header[8:] + "." + rest, errNotAJWS},
		"a space in the signature":   {good[:len(good)-4] + " " + good[len(good)-4:], errNotAJWS},
		"longer than MaxProofBytes":  {good + strings.Repeat("A", MaxProofBytes), errNotAJWS},
		"an EC key for EdDSA":        {withRawHeader(func(h string) string { return strings.Replace(h, `"ES256"`, `"EdDSA"`, 1) }), errNoKey},
		"an RSA key of 1,024 bits":   {rsaProof(small.N, 65537), errRSASize},
		"an even RSA exponent":       {rsaProof(rsaKey.N, 65536), errNoKey},
		"the RSA exponent 1":         {rsaProof(rsaKey.N, 1), errNoKey},
		// 345 characters, one more than whole groups of four: base64url
		// has no such length, and the 2,064-bit number decoded before the
		// last character is no key.
		"an RSA n of a length base64url has not": {withRawHeader(func(string) string {
			return `{"alg":"RS256","typ":"dpop+jwt","jwk":{"kty":"RSA","n":"` + b64(rsaKey.N.Bytes()) + `AAA","e":"AQAB"}}`
		}), errNoKey},
		"an x with a padded value": {withRawHeader(func(h string) string { return strings.Replace(h, `","y"`, `=","y"`, 1) }), errNoKey},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := parseProof(tc.compact); err != tc.want {
				t.Fatalf("%v, want %v", err, tc.want)
			}
		})
	}
	if _, err := parseProof(rsaProof(rsaKey.N, 65537)); err != nil {
		t.Fatalf("the same RSA proof with e 65537: %v", err)
	}

	// Signatures that are not ES256's or PS256's encoding.
	signed := func(alg jose.SignatureAlgorithm, sign func(digest []byte) []byte) string {
		compact := goJOSEProof(t, alg, keys[alg], `{}`)
		input := compact[:strings.LastIndexByte(compact, '.')]
		digest := sha256.Sum256([]byte(input))
		return input + "." + b64(sign(digest[:]))
	}
	for name, compact := range map[string]string{
		"an ES256 signature in DER": signed(jose.ES256, func(d []byte) []byte { sig, _ := ecdsa.SignASN1(rand.Reader, ec, d); return sig }),
		"an ES256 signature of 65 bytes": signed(jose.ES256, func(d []byte) []byte {
			sig, _ := ecdsa.SignASN1(rand.Reader, ec, d)
			var rs struct{ R, S *big.Int }
			asn1.Unmarshal(sig, &rs)
			return append(append([]byte{0}, rs.R.FillBytes(make([]byte, 32))...), rs.S.FillBytes(make([]byte, 32))...)
		}),
		"a PS256 signature with a salt longer than the hash": signed(jose.PS256, func(d []byte) []byte {
			sig, _ := rsa.SignPSS(rand.Reader, rsaKey, crypto.SHA256, d, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto})
			return sig
		}),
		"an RS256 signature for PS256": signed(jose.PS256, func(d []byte) []byte { sig, _ := rsa.SignPKCS1v15(rand.Reader, rsaKey, crypto.SHA256, d); return sig }),
	} {
		t.Run(name, func(t *testing.T) {
			p, err := parseProof(compact)
			if err != nil {
				t.Fatalf("does not parse: %v", err)
			}
			if p.verify() {
				t.Fatal("verifies")
			}
		})
	}

	// Ed25519 keys nobody holds a private key of: the points of small
	// order (libsodium's list), each with the sign bit clear and set, and
	// encodings of y that are not canonical, such as p+3, the other
	// encoding of y = 3, a point of large order. Each comes with the
	// signature R = identity, S = 0.
	identity := "0100000000000000000000000000000000000000000000000000000000000000"
	forge := func(x []byte) (compact, input string, sig []byte) {
		header := `{"alg":"EdDSA","typ":"dpop+jwt","jwk":{"kty":"OKP","crv":"Ed25519","x":"` + b64(x) + `"}}`
		input = b64([]byte(header)) + "." + b64([]byte(`{}`))
		sig, _ = hex.DecodeString(identity + strings.Repeat("00", 32))
		return input + "." + b64(sig), input, sig
	}
	// The threat: the standard library verifies that signature for any
	// message under the identity, so a proof "signed" with it needs no
	// private key, and a token bound to it is anyone's.
	id, _ := hex.DecodeString(identity)
	if _, input, sig := forge(id); !ed25519.Verify(id, []byte(input), sig) {
		t.Fatal("the forged signature does not verify under the identity: the test shows nothing")
	}
	for name, x := range map[string]string{
		"y = 0, order 4":                   "0000000000000000000000000000000000000000000000000000000000000000",
		"y = 1, the identity":              identity,
		"order 8":                          "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
		"order 8, the other y":             "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
		"y = p-1, order 2":                 "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		"y = p, 0 not canonical":           "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		"y = p+1, 1 not canonical":         "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		"y = p+3, 3 not canonical":         "f0ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		"y = 2^255-1, the largest encoded": "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	} {
		for _, sign := range []byte{0, 0x80} {
			t.Run(fmt.Sprintf("an Ed25519 key of %s, sign %d", name, sign>>7), func(t *testing.T) {
				key, _ := hex.DecodeString(x)
				key[31] |= sign
				compact, _, _ := forge(key)
				if _, err := parseProof(compact); err != errWeakKey {
					t.Fatalf("%v, want %v", err, errWeakKey)
				}
			})
		}
	}
}

// TestDecodeBase64URL: one encoding for each value, in base64url's
// alphabet alone.
func TestDecodeBase64URL(t *testing.T) {
	for in, want := range map[string]bool{
		"":      true,
		"AA":    true,
		"AB":    false, // bits past the byte set: "AA" is the encoding of 0x00
		"AA==":  false,
		"A\nA":  false,
		"A\rA":  false,
		"+/":    false,
		"-_-_":  true,
		"AAA":   true,
		"AAB":   false,
		"AAAAA": false,
	} {
		if _, ok := decodeBase64URL(in); ok != want {
			t.Errorf("%q: %v, want %v", in, ok, want)
		}
	}
}

// TestThumbprintVectors: the thumbprints of RFC 7638 §3.1 (RSA) and RFC
// 8037 Appendix A.3 (Ed25519), and of a P-256 key, go-jose's.
func TestThumbprintVectors(t *testing.T) {
	for name, tc := range map[string]struct{ alg, jwk, want string }{
		"RFC 7638 §3.1": {"RS256", `{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}`,
			"NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"},
		"RFC 8037 A.3": {"EdDSA", `{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`,
			"kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"},
		// The members in another order and with whitespace: the
		// thumbprint is of the canonical form.
		"RFC 8037 A.3, reordered": {"EdDSA", "{ \"x\" : \"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\",\n \"crv\":\"Ed25519\", \"kty\":\"OKP\", \"use\":\"sig\"}",
			"kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"},
	} {
		t.Run(name, func(t *testing.T) {
			_, jkt, err := parseJWK(json.RawMessage(tc.jwk), tc.alg)
			if err != nil || jkt != tc.want {
				t.Fatalf("%s, %v; want %s", jkt, err, tc.want)
			}
		})
	}
	ec := proofKeys(t)[jose.ES256].(*ecdsa.PrivateKey)
	jwk, _ := json.Marshal(jose.JSONWebKey{Key: ec.Public()})
	_, jkt, err := parseJWK(jwk, "ES256")
	want, _ := (&jose.JSONWebKey{Key: ec.Public()}).Thumbprint(crypto.SHA256)
	if err != nil || jkt != b64(want) {
		t.Fatalf("P-256: %s, %v; go-jose's %s", jkt, err, b64(want))
	}
}

// TestParseClaims: a proof's claims by their exact names, each once.
func TestParseClaims(t *testing.T) {
	cl, err := parseClaims([]byte(`{"jti":"j","htm":"GET","htu":"http://x/","iat":1,"ath":"a","nonce":"n","extra":[1]}`))
	if err != nil || cl.JTI != "j" || cl.HTM != "GET" || cl.HTU != "http://x/" || cl.IssuedAt == nil || cl.ATH != "a" || cl.Nonce != "n" {
		t.Fatalf("%+v, %v", cl, err)
	}
	if cl, err := parseClaims([]byte(`{"HTM":"GET"}`)); err != nil || cl.HTM != "" {
		t.Fatalf("HTM: %+v, %v; want no htm", cl, err)
	}
	for _, payload := range []string{`{"htm":"GET","htm":"POST"}`, `{"jti":1}`, `[]`, `{} {}`, ``} {
		if _, err := parseClaims([]byte(payload)); err == nil {
			t.Errorf("%s: taken", payload)
		}
	}
}

// ignoredMembers are the members of a proof's header, and of its jwk, that
// ImageHost does not use, and whose values go-jose checks all the same: a
// kid or a nonce that is not a string, certificates that do not parse or
// do not match the key.
var ignoredMembers = []string{"kid", "nonce", "jku", "x5c", "x5u", "x5t", "x5t#S256", "use", "key_ops"}

// FuzzParseProof compares parseProof and verify with go-jose on proofs of
// any header and payload, signed with the header's alg when it is ES256
// or EdDSA: whatever they take, go-jose takes too, with the same alg, typ,
// key and thumbprint, and verifies the same signatures. The one
// difference allowed is a member that ImageHost ignores (ignoredMembers):
// without it go-jose must take the proof.
func FuzzParseProof(f *testing.F) {
	keys := proofKeys(f)
	for alg, key := range keys {
		compact := goJOSEProof(f, alg, key, `{"jti":"1","htm":"GET","htu":"http://x/","iat":1}`)
		parts := strings.Split(compact, ".")
		h, _ := base64.RawURLEncoding.DecodeString(parts[0])
		p, _ := base64.RawURLEncoding.DecodeString(parts[1])
		f.Add(string(h), string(p))
	}
	f.Add(`{"alg":"none"}`, `{}`)
	f.Fuzz(func(t *testing.T, header, payload string) {
		input := b64([]byte(header)) + "." + b64([]byte(payload))
		digest := sha256.Sum256([]byte(input))
		var sig []byte
		switch {
		case strings.Contains(header, `"EdDSA"`):
			sig = ed25519.Sign(keys[jose.EdDSA].(ed25519.PrivateKey), []byte(input))
		default:
			r, s, _ := ecdsa.Sign(rand.Reader, keys[jose.ES256].(*ecdsa.PrivateKey), digest[:])
			sig = append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
		}
		compact := input + "." + b64(sig)
		p, err := parseProof(compact)
		if err != nil {
			return
		}
		algs := []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA, jose.PS256, jose.RS256}
		jws, jerr := jose.ParseSignedCompact(compact, algs)
		if jerr != nil {
			// Without the members ImageHost ignores, go-jose must take it.
			h, _ := jsonObject([]byte(header))
			jwk, _ := jsonObject(h["jwk"])
			for _, name := range ignoredMembers {
				delete(h, name)
				delete(jwk, name)
			}
			h["jwk"], _ = json.Marshal(jwk)
			stripped, _ := json.Marshal(h)
			if jws, jerr = jose.ParseSignedCompact(b64(stripped)+"."+b64([]byte(payload))+"."+b64(sig), algs); jerr != nil {
				t.Fatalf("parseProof took %q, go-jose refuses it: %v", compact, jerr)
			}
		}
		hdr := jws.Signatures[0].Header
		typ, _ := hdr.ExtraHeaders[jose.HeaderType].(string)
		if hdr.Algorithm != p.alg || typ != p.typ {
			t.Fatalf("alg %q typ %q, go-jose reads alg %q typ %q", p.alg, p.typ, hdr.Algorithm, typ)
		}
		if hdr.JSONWebKey == nil || !hdr.JSONWebKey.Valid() || !hdr.JSONWebKey.IsPublic() {
			t.Fatalf("parseProof took %q, whose jwk go-jose does not read as a public key", compact)
		}
		thumb, err := hdr.JSONWebKey.Thumbprint(crypto.SHA256)
		if err != nil || b64(thumb) != p.jkt {
			t.Fatalf("thumbprint %s, go-jose's %s (%v)", p.jkt, b64(thumb), err)
		}
		if jerr == nil {
			_, verr := jws.Verify(hdr.JSONWebKey)
			if p.verify() && verr != nil {
				t.Fatalf("verify took %q, go-jose does not: %v", compact, verr)
			}
		}
	})
}

// TestJSONObject: one object, each of whose names is there once; names,
// commas and brackets inside strings and nested values do not count.
func TestJSONObject(t *testing.T) {
	for text, want := range map[string]int{
		`{}`:                                  0,
		` { "a" : 1 } `:                       1,
		`{"a":{"b":1,"c":[2,3]},"d":"x,\"y"}`: 2,
		`{"a":"\\\"}","b":"{["}`:              2,
		`{"a":"\\","b":1}`:                    2,
		`{"a":[1,2,{"a":1}],"a":2}`:           -1,
		`{"a":"\\","a":1}`:                    -1,
		`{"a":1,"\u0061":2}`:                  -1,
		`{"a\ud800":1,"a\udbff":2}`:           -1, // both are "a\ufffd"
		`null`:                                -1,
		`[]`:                                  -1,
		`"{}"`:                                -1,
		`{} {}`:                               -1,
		``:                                    -1,
	} {
		m, err := jsonObject([]byte(text))
		if got := len(m); err != nil && want != -1 || err == nil && got != want {
			t.Errorf("%s: %d members, %v; want %d", text, got, err, want)
		}
	}
}

// FuzzJSONObject compares jsonObject with a reference that walks the
// object's tokens and stops at a name it saw before.
func FuzzJSONObject(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1,"a":2}`, `{"a":{"b":[1,",",{"c":"\""}]},"d":"\\"}`, `null`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		m, err := jsonObject([]byte(text))
		want, wantOK := func() (int, bool) {
			if json.Unmarshal([]byte(text), new(map[string]json.RawMessage)) != nil || !strings.HasPrefix(strings.TrimLeft(text, " \t\r\n"), "{") {
				return 0, false
			}
			dec := json.NewDecoder(strings.NewReader(text))
			dec.Token() // {
			seen := map[string]bool{}
			for dec.More() {
				name, _ := dec.Token()
				if seen[name.(string)] {
					return 0, false
				}
				seen[name.(string)] = true
				var v json.RawMessage
				dec.Decode(&v)
			}
			return len(seen), true
		}()
		if (err == nil) != wantOK || err == nil && len(m) != want {
			t.Fatalf("%q: %d members, %v; the reference: %d, %v", text, len(m), err, want, wantOK)
		}
	})
}
