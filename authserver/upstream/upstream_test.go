package upstream

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestAMRValues: the upstream's amr values passed on are short words, at
// most 8, without repeats.
func TestAMRValues(t *testing.T) {
	for _, tc := range []struct{ in, want []string }{
		{[]string{"pwd", "otp"}, []string{"pwd", "otp"}},
		{[]string{"pwd", "pwd"}, []string{"pwd"}},
		{[]string{"pwd", "a b", "<x>", strings.Repeat("m", 33)}, []string{"pwd"}},
		{[]string{"a", "b", "c", "d", "e", "f", "g", "h", "i"}, []string{"a", "b", "c", "d", "e", "f", "g", "h"}},
		{nil, nil},
	} {
		if got := amrValues(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("amrValues(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestConfigValidate: what an upstream's settings must be.
func TestConfigValidate(t *testing.T) {
	good := Config{Name: "corporate", Issuer: "https://sso.example.com", ClientID: "imagehost", ClientSecret: "0123456789abcdef"}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, change := range map[string]func(c *Config){
		"an upper-case name":         func(c *Config) { c.Name = "Corporate" },
		"a name with a slash":        func(c *Config) { c.Name = "a/b" },
		"http beyond loopback":       func(c *Config) { c.Issuer = "http://sso.example.com" },
		"a trailing slash":           func(c *Config) { c.Issuer = "https://sso.example.com/" },
		"a fragment":                 func(c *Config) { c.Issuer = "https://sso.example.com#x" },
		"a user in the issuer":       func(c *Config) { c.Issuer = "https://me@sso.example.com" },
		"no client id":               func(c *Config) { c.ClientID = "" },
		"a short secret":             func(c *Config) { c.ClientSecret = "short" },
		"a display name of 41 chars": func(c *Config) { c.DisplayName = strings.Repeat("x", 41) },
	} {
		c := good
		change(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	loopback := good
	loopback.Issuer = "http://localhost:9091"
	if err := loopback.Validate(); err != nil {
		t.Errorf("http on loopback: %v", err)
	}
}

// TestTruncate cuts on a rune boundary.
func TestTruncate(t *testing.T) {
	if got := truncate("héllo", 2); got != "h" {
		t.Fatalf("truncate = %q", got)
	}
	if got := truncate("abc", 5); got != "abc" {
		t.Fatalf("truncate = %q", got)
	}
}

// TestClaimText: a claim's value keeps its text and loses what is not text
// (bytes that are not UTF-8, a NUL, other control characters, C1 among
// them), then is cut on a rune boundary.
func TestClaimText(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		n        int
		want     string
	}{
		{"text", "Carol Smith", 100, "Carol Smith"},
		{"beyond ASCII", "Zoë 山田", 100, "Zoë 山田"},
		{"a NUL", "Carol\x00Fake", 100, "CarolFake"},
		{"not UTF-8", "Ca\xffrol\xc3", 100, "Carol"},
		{"C0 and DEL", "a\tb\nc\x1b[0m\x7fd", 100, "abc[0md"},
		{"C1", "a\u0085b\u009bc", 100, "abc"},
		{"cut after cleaning", "\x00\x00\x00abcdef", 3, "abc"},
		{"cut on a rune boundary", "héllo", 2, "h"},
		{"nothing left", "\x00\xff", 100, ""},
	} {
		got := claimText(tc.in, tc.n)
		if got != tc.want || !utf8.ValidString(got) || len(got) > tc.n {
			t.Errorf("%s: claimText(%q, %d) = %q, want %q", tc.name, tc.in, tc.n, got, tc.want)
		}
	}
}
