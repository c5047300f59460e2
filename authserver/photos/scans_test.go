package photos

import (
	"bytes"
	"testing"
)

func TestJPEGScans(t *testing.T) {
	sos := []byte{0xff, 0xda, 0, 8, 1, 1, 0, 1, 63, 0}
	jpeg := func(parts ...[]byte) []byte { return append([]byte{0xff, 0xd8}, bytes.Join(parts, nil)...) }
	tests := []struct {
		name string
		data []byte
		want int
	}{
		{"three scans", jpeg(sos, []byte{1, 2, 3}, sos, []byte{0xff, 0x00, 4}, sos, []byte{0xff, 0xd9}), 3},
		{"fill bytes before a marker", jpeg(sos, []byte{0xff, 0xff, 0xff}, sos), 2},
		{"restart markers in a scan's data", jpeg(sos, []byte{1, 0xff, 0xd0, 2, 0xff, 0xd1}, sos), 2},
		{"an SOS marker inside a comment is no scan", jpeg([]byte{0xff, 0xfe, 0, 4, 0xff, 0xda}, sos), 1},
		{"nothing after EOI counts", jpeg(sos, []byte{0xff, 0xd9}, sos, sos), 1},
		{"a length past the end", jpeg(sos[:4]), 1},
		{"a marker cut short", jpeg([]byte{0xff}), 0},
		{"a zero length", jpeg([]byte{0xff, 0xe1, 0, 0}, sos), 1},
	}
	for _, tc := range tests {
		if got := jpegScans(tc.data, maxScans); got != tc.want {
			t.Errorf("%s: %d scans, want %d", tc.name, got, tc.want)
		}
	}
	many := jpeg(bytes.Repeat(append(sos, 1, 2, 3), 500))
	if got := jpegScans(many, 10); got != 11 {
		t.Errorf("500 scans with a limit of 10: counted %d, want 11", got)
	}
}
