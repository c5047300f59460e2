package oauth

import (
	"strings"
	"testing"
)

func TestNormalizeUserCode(t *testing.T) {
	tests := []struct {
		name, typed, want string
		ok                bool
	}{
		{"as shown", "WDJB-MJHT", "WDJBMJHT", true},
		{"lower case", "wdjb-mjht", "WDJBMJHT", true},
		{"without the hyphen", "WDJBMJHT", "WDJBMJHT", true},
		{"spaces around and inside", "  wdjb mjht ", "WDJBMJHT", true},
		{"other punctuation", "WDJB–MJHT.", "WDJBMJHT", true},
		{"a letter short", "WDJB-MJH", "", false},
		{"a letter too many", "WDJB-MJHTB", "", false},
		{"a vowel, not in the set", "WDJB-MJHO", "", false},
		{"the digit zero for an O", "WDJB-MJH0", "", false},
		{"the digit one for an I", "WDJB-MJH1", "", false},
		{"a letter outside the set in place of one inside", "WDJB-AJHT", "", false},
		{"empty", "", "", false},
		{"very long", strings.Repeat("-", 1000) + "WDJBMJHT", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := NormalizeUserCode(tc.typed)
			if got != tc.want || ok != tc.ok {
				t.Fatalf("NormalizeUserCode(%q) = %q, %v; want %q, %v", tc.typed, got, ok, tc.want, tc.ok)
			}
		})
	}
	if got := FormatUserCode("WDJBMJHT"); got != "WDJB-MJHT" {
		t.Fatalf("FormatUserCode = %q", got)
	}
}

// TestNewUserCode: codes come out normalised, use every letter of the
// alphabet and nothing else, and each letter about as often as the others
// (a biased draw would make some codes likelier, and so easier to guess).
func TestNewUserCode(t *testing.T) {
	const n = 20_000
	counts := map[rune]int{}
	seen := map[string]bool{}
	for range n {
		c := NewUserCode()
		if norm, ok := NormalizeUserCode(c); !ok || norm != c {
			t.Fatalf("NewUserCode = %q, not in normal form", c)
		}
		seen[c] = true
		for _, r := range c {
			counts[r]++
		}
	}
	if len(counts) != len(userCodeAlphabet) {
		t.Fatalf("letters used: %d, want all %d", len(counts), len(userCodeAlphabet))
	}
	want := n * UserCodeLength / len(userCodeAlphabet) // 8,000
	for r, c := range counts {
		if c < want*9/10 || c > want*11/10 {
			t.Errorf("letter %c drawn %d times, want about %d", r, c, want)
		}
	}
	if len(seen) < n-5 {
		t.Errorf("%d distinct codes in %d", len(seen), n)
	}
}
