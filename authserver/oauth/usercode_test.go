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

// FuzzNormalizeUserCode: whatever is typed, a code that comes out is in
// normal form, and the form shown to people reads back as the same code.
func FuzzNormalizeUserCode(f *testing.F) {
	for _, s := range []string{"WDJB-MJHT", "wdjb mjht", "WDJB-MJH0", "", "ẞẞẞẞẞẞẞẞ", "bcdf\x00ghjk"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, typed string) {
		code, ok := NormalizeUserCode(typed)
		if !ok {
			return
		}
		if len(code) != UserCodeLength || strings.Trim(code, userCodeAlphabet) != "" {
			t.Fatalf("NormalizeUserCode(%q) = %q, not %d letters of the alphabet", typed, code, UserCodeLength)
		}
		if again, ok := NormalizeUserCode(FormatUserCode(code)); !ok || again != code {
			t.Fatalf("the shown form %q of %q reads back as %q, %v", FormatUserCode(code), code, again, ok)
		}
	})
}
