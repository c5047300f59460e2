package flow

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
)

// secretMember is a JSON string member named like a secret parameter, its
// value possibly cut off by the recorder's bound on bodies.
var secretMember = regexp.MustCompile(`"([a-z_]+)"\s*:\s*"((?:[^"\\\n]|\\.)*)`)

// maskJSON masks token members of a JSON object and indents it. A body that
// does not parse (one the recorder cut off, say) gets the values of its
// secret members masked where they stand.
func maskJSON(body string, secret func(string) bool, mask func(string) string) string {
	var obj map[string]any
	if err := json.Unmarshal([]byte(body), &obj); err != nil {
		return secretMember.ReplaceAllStringFunc(body, func(m string) string {
			sub := secretMember.FindStringSubmatch(m)
			if !secret(sub[1]) {
				return m
			}
			return strings.TrimSuffix(m, sub[2]) + mask(sub[2])
		})
	}
	for k, v := range obj {
		if s, ok := v.(string); ok && secret(k) {
			obj[k] = mask(s)
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(obj); err != nil {
		return body
	}
	return buf.String()
}

// indentJSON pretty-prints a JSON body, or returns it as it was.
func indentJSON(body string) string {
	var buf bytes.Buffer
	if json.Indent(&buf, []byte(body), "", "  ") != nil {
		return body
	}
	return buf.String()
}
