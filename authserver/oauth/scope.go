package oauth

import (
	"slices"
	"strings"
)

// The scopes ImageHost knows, with the sentence the consent page shows for each.
const (
	ScopeOpenID        = "openid"
	ScopeProfile       = "profile"
	ScopeEmail         = "email"
	ScopeOfflineAccess = "offline_access"
	ScopePhotosRead    = "photos.read"
	ScopePhotosWrite   = "photos.write"
)

// ScopeDescriptions say in plain words what each scope lets an app do.
var scopeDescriptions = map[string]string{
	ScopeOpenID:        "Confirm that you are you: sign you in with your ImageHost account",
	ScopeProfile:       "See your name and username",
	ScopeEmail:         "See your email address",
	ScopeOfflineAccess: "Keep access while you are away, until you revoke it",
	ScopePhotosRead:    "See your photos",
	ScopePhotosWrite:   "Upload, change and delete your photos",
}

// KnownScopes lists every scope ImageHost supports, in display order.
var knownScopes = []string{ScopeOpenID, ScopeProfile, ScopeEmail, ScopeOfflineAccess, ScopePhotosRead, ScopePhotosWrite}

// KnownScopes returns every scope ImageHost supports, in display order.
func KnownScopes() []string { return slices.Clone(knownScopes) }

// DescribeScope returns the consent page's sentence for a scope.
func DescribeScope(s string) string {
	if d, ok := scopeDescriptions[s]; ok {
		return d
	}
	return s
}

// Scope is a set of scope tokens (RFC 6749 §3.3), kept sorted and unique.
type Scope []string

// ParseScope splits a space-delimited scope string. It reports false when a
// token has characters RFC 6749 §3.3 does not allow
// (scope-token = 1*( %x21 / %x23-5B / %x5D-7E )).
func ParseScope(s string) (Scope, bool) {
	var out Scope
	for _, tok := range strings.Split(s, " ") {
		if tok == "" {
			continue
		}
		for i := 0; i < len(tok); i++ {
			c := tok[i]
			if c < 0x21 || c == 0x22 || c == 0x5C || c > 0x7E {
				return nil, false
			}
		}
		out = append(out, tok)
	}
	slices.Sort(out)
	return slices.Compact(out), true
}

// String joins the scope tokens with spaces.
func (s Scope) String() string { return strings.Join(s, " ") }

// Has reports whether the set contains tok.
func (s Scope) Has(tok string) bool {
	_, ok := slices.BinarySearch(s, tok)
	return ok
}

// SubsetOf reports whether every token of s is in other.
func (s Scope) SubsetOf(other Scope) bool {
	for _, tok := range s {
		if !other.Has(tok) {
			return false
		}
	}
	return true
}

// Minus returns the tokens of s that are not in other.
func (s Scope) Minus(other Scope) Scope {
	var out Scope
	for _, tok := range s {
		if !other.Has(tok) {
			out = append(out, tok)
		}
	}
	return out
}

// Union returns the tokens in s or other.
func (s Scope) Union(other Scope) Scope {
	out := append(slices.Clone(s), other...)
	slices.Sort(out)
	return slices.Compact(out)
}

// Without returns s less the given tokens.
func (s Scope) Without(toks ...string) Scope {
	return s.Minus(Scope(toks))
}
