package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"

	"oauthdemo/app/imagehost"
)

// maxResponseBytes bounds every answer the app reads from ImageHost. The
// largest is a photo (imagehost.MaxImageBytes); discovery, keys, tokens and
// photo lists are far smaller. Libraries read some of these whole (go-oidc
// reads the discovery document and the keys with io.ReadAll), so the bound
// sits in the HTTP client's transport, under every caller.
const maxResponseBytes = imagehost.MaxImageBytes + 1<<20

// errResponseTooLarge ends a body that went past maxResponseBytes.
var errResponseTooLarge = errors.New("the answer is larger than any ImageHost sends")

// boundedTransport ends every response body with errResponseTooLarge past
// max bytes.
type boundedTransport struct {
	base http.RoundTripper
	max  int64
}

// RoundTrip implements http.RoundTripper.
func (t boundedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.ContentLength > t.max {
		resp.Body.Close()
		return nil, fmt.Errorf("%s %s: %w (%d bytes)", req.Method, req.URL.Path, errResponseTooLarge, resp.ContentLength)
	}
	resp.Body = &boundedBody{ReadCloser: resp.Body, left: t.max}
	return resp, nil
}

type boundedBody struct {
	io.ReadCloser
	left int64
}

func (b *boundedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, errResponseTooLarge
	}
	// One byte more than allowed tells "exactly max" from "more".
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		return n + int(b.left), errResponseTooLarge
	}
	return n, err
}
