package flow

import (
	"strings"
	"testing"
	"time"
)

// block is a part of a Markdown document: a fenced code block (its content
// between the fence lines) or a line outside any fence.
type block struct {
	fenced  bool
	content string
}

// parseFences splits a document into fenced code blocks and the lines
// between them, the way CommonMark §4.5 reads fences: an opening line of
// at most three spaces' indent and three or more backticks or tildes; a
// closing line of the same character, at least as many, and nothing after
// them but spaces and tabs. Lines end at "\n", "\r\n" or "\r" (§2.1).
func parseFences(doc string) []block {
	var lines []string
	for doc != "" {
		i := strings.IndexAny(doc, "\r\n")
		if i < 0 {
			lines, doc = append(lines, doc), ""
			break
		}
		end := i + 1
		if doc[i] == '\r' && i+1 < len(doc) && doc[i+1] == '\n' {
			end++
		}
		lines, doc = append(lines, doc[:end]), doc[end:]
	}
	fence := func(line string) (char byte, n int, rest string) {
		trimmed := strings.TrimLeft(line, " ")
		if len(line)-len(trimmed) > 3 || trimmed == "" || (trimmed[0] != '`' && trimmed[0] != '~') {
			return 0, 0, ""
		}
		n = len(trimmed) - len(strings.TrimLeft(trimmed, trimmed[:1]))
		if n < 3 {
			return 0, 0, ""
		}
		return trimmed[0], n, strings.TrimRight(trimmed[n:], "\r\n")
	}
	var out []block
	for i := 0; i < len(lines); i++ {
		char, n, info := fence(lines[i])
		if n == 0 || (char == '`' && strings.Contains(info, "`")) {
			out = append(out, block{content: strings.TrimRight(lines[i], "\r\n")})
			continue
		}
		var content strings.Builder
		for i++; i < len(lines); i++ {
			if c, m, rest := fence(lines[i]); c == char && m >= n && strings.Trim(rest, " \t") == "" {
				break
			}
			content.WriteString(lines[i])
		}
		out = append(out, block{fenced: true, content: content.String()})
	}
	return out
}

// hostile is an exchange whose every recorded value is s.
func hostile(s string) Exchange {
	return Exchange{Seq: 1, Step: StepCallback, Channel: "front channel (browser)", Duration: time.Millisecond, Note: s,
		Request:  Message{Method: s, URL: s, Params: []KV{{s, s}, {"state", s}}, Headers: []KV{{"Accept", s}}},
		Response: Message{Status: 400, Headers: []KV{{"Content-Type", s}}, Body: s}}
}

// checkMarkdown checks that the transcript of ex has exactly the structure
// of the same exchange with harmless values: no value ended its fence or
// started Markdown of its own, and each value is there, whole, in its place.
func checkMarkdown(t *testing.T, ex Exchange) {
	t.Helper()
	harmless := hostile("v")
	if strings.TrimLeft(oneLine(ex.Note), " \t") == "" {
		harmless.Note = ""
	}
	got, want := parseFences(Markdown([]Exchange{ex})), parseFences(Markdown([]Exchange{harmless}))
	if len(got) != len(want) {
		t.Fatalf("the transcript has %d blocks, the same exchange with harmless values %d:\n%s", len(got), len(want), Markdown([]Exchange{ex}))
	}
	masked := ex.Masked()
	var fences []string
	for i := range got {
		switch {
		case got[i].fenced != want[i].fenced:
			t.Fatalf("block %d is fenced: %v, want %v", i, got[i].fenced, want[i].fenced)
		case got[i].fenced:
			fences = append(fences, got[i].content)
		case want[i].content == "v": // the note
			if !plainText(got[i].content) || unescape(got[i].content) != strings.TrimLeft(oneLine(ex.Note), " \t") {
				t.Fatalf("the note became %q", got[i].content)
			}
		case got[i].content != want[i].content:
			t.Fatalf("line %d outside the fences is %q, want %q", i, got[i].content, want[i].content)
		}
	}
	if len(fences) != 2 {
		t.Fatalf("%d fenced blocks, want the request and the response", len(fences))
	}
	request := strings.Split(strings.TrimSuffix(fences[0], "\n"), "\n")
	wantRequest := []string{masked.Request.Method + " " + masked.Request.URL}
	for _, kv := range masked.Request.Headers {
		wantRequest = append(wantRequest, kv.Name+": "+kv.Value)
	}
	for _, kv := range masked.Request.Params {
		wantRequest = append(wantRequest, "  "+kv.Name+" = "+kv.Value)
	}
	if len(request) != len(wantRequest) {
		t.Fatalf("the request has %d lines, want %d, one a value:\n%s", len(request), len(wantRequest), fences[0])
	}
	for i, line := range request {
		if unquote(line) != normal(wantRequest[i]) {
			t.Fatalf("request line %d is %q, want %q", i, line, wantRequest[i])
		}
	}
	if body := strings.TrimRight(masked.Response.Body, "\r\n"); body != "" && !strings.HasSuffix(fences[1], "\n"+body+"\n") {
		t.Fatalf("the response body is not whole at the end of its fence:\n%q", fences[1])
	}
}

// plainText reports whether a line is only text to CommonMark: every
// character of markdownSpecial escaped, and no block marker at its start.
func plainText(line string) bool {
	if line == "" || strings.ContainsAny(line[:1], " \t#>-+=") {
		return false
	}
	digits := strings.TrimLeft(line, "0123456789")
	if len(digits) < len(line) && digits != "" && (digits[0] == '.' || digits[0] == ')') {
		return false
	}
	for i := 0; i < len(line); i++ {
		if line[i] == '\\' {
			i++
			continue
		}
		if strings.IndexByte(markdownSpecial, line[i]) >= 0 {
			return false
		}
	}
	return true
}

// unescape undoes CommonMark's backslash escapes.
func unescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// unquote undoes oneLine's escapes.
func unquote(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch s[i] {
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 'u':
			var r rune
			for _, h := range s[i+1 : i+5] {
				r = r*16 + rune(strings.IndexRune("0123456789abcdef", h))
			}
			b.WriteRune(r)
			i += 4
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// normal is s as oneLine reads it, rune by rune: each invalid byte of
// UTF-8 is one U+FFFD.
func normal(s string) string { return string([]rune(s)) }

// TestMarkdownValuesStayInTheirFence: the review's crafted callback, and
// others like it, end no fence and add no Markdown.
func TestMarkdownValuesStayInTheirFence(t *testing.T) {
	for _, s := range []string{
		"\n```\n<img src=x onerror=alert(1)>",
		"\r```\r# Owned",
		"````\n~~~\n```````",
		"x\u2028[click](javascript:alert(1))",
		"1. a list\n- another\n> a quote",
		"   ```",
		"`` ` ```` \\",
		"=====",
	} {
		checkMarkdown(t, hostile(s))
	}
}

func FuzzMarkdown(f *testing.F) {
	for _, s := range []string{"\n```\n<img src=x onerror=alert(1)>", "\r\n~~~\r\n", "a\\nb", "#", "\xff\xfe`"} {
		f.Add(s, s, s, s, s)
	}
	f.Fuzz(func(t *testing.T, method, url, value, body, note string) {
		ex := hostile(value)
		ex.Request.Method, ex.Request.URL, ex.Response.Body, ex.Note = method, url, body, note
		checkMarkdown(t, ex)
	})
}
