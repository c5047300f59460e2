package flow

import (
	"bytes"
	"encoding/json"
)

// maskJSON masks token members of a JSON object and indents it; a body that
// is not a JSON object is returned as it was.
func maskJSON(body string) string {
	var obj map[string]any
	if err := json.Unmarshal([]byte(body), &obj); err != nil {
		return body
	}
	for k, v := range obj {
		if s, ok := v.(string); ok && IsSecret(k) {
			obj[k] = Mask(s)
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
