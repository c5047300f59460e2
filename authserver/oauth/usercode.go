package oauth

// User codes of the device authorization grant (RFC 8628 §6.1): what a
// person reads on a device's screen and types on their phone.

import "strings"

// GrantTypeDeviceCode is the device authorization grant's grant_type
// (RFC 8628 §3.4).
const GrantTypeDeviceCode = "urn:ietf:params:oauth:grant-type:device_code"

// userCodeAlphabet is RFC 8628 §6.1's example set: "restrict the character
// set to case-insensitive A-Z characters, with no digits ... Further
// removing vowels to avoid randomly creating words results in the base 20
// character set". Without digits and vowels there is no 0 to mistake for
// an O, nor a 1 for an I.
const userCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"

// UserCodeLength is how many letters a user code has: 20^8, about
// 2.6×10^10 codes (34.6 bits). That is little next to a device code's 256
// bits, which is why the user codes typed at /device are rate-limited
// (RFC 8628 §5.1, device.go), and few are pending at once.
const UserCodeLength = 8

// UserCodeSpace is the number of different user codes: 20^8.
const UserCodeSpace = 20 * 20 * 20 * 20 * 20 * 20 * 20 * 20

// NewUserCode returns UserCodeLength letters drawn uniformly from the
// alphabet, in the form NormalizeUserCode returns.
func NewUserCode() string {
	code := make([]byte, 0, UserCodeLength)
	for len(code) < UserCodeLength {
		for _, b := range randomBytes(UserCodeLength) {
			// 240 is the largest multiple of 20 below 256: keeping only
			// bytes under it gives every letter the same chance.
			if b < 240 && len(code) < UserCodeLength {
				code = append(code, userCodeAlphabet[int(b)%len(userCodeAlphabet)])
			}
		}
	}
	return string(code)
}

// NormalizeUserCode turns what a user typed into a stored user code:
// RFC 8628 §6.1, "The server should ignore any characters like punctuation
// that are not in the user-code character set", and "case-insensitive
// matching should also be applied". So " wdjb-mjht " is WDJBMJHT. A letter
// or digit outside the alphabet is a typo, not punctuation: the code is
// then not valid, and ok is false.
func NormalizeUserCode(typed string) (code string, ok bool) {
	if len(typed) > 4*UserCodeLength { // room for any spacing; beyond is not a code
		return "", false
	}
	var b strings.Builder
	for _, r := range strings.ToUpper(typed) {
		switch {
		case strings.ContainsRune(userCodeAlphabet, r):
			b.WriteRune(r)
		case 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
			return "", false
		}
	}
	if b.Len() != UserCodeLength {
		return "", false
	}
	return b.String(), true
}

// FormatUserCode shows a stored user code as people read it: WDJB-MJHT.
func FormatUserCode(code string) string {
	if len(code) != UserCodeLength {
		return code
	}
	return code[:4] + "-" + code[4:]
}
