// Package static holds PhotoEditorApp's stylesheet and images, embedded in
// the binary: no CDN, so the demo works offline.
package static

import "embed"

// Files is served under /static/.
//
//go:embed *.css *.svg *.js
var Files embed.FS
