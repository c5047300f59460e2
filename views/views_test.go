package views

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestPhotoLinksStayOnTheirPhoto: a photo id is ImageHost's to choose; one
// made to look like a path cannot point the Edit link or the Delete form at
// another page of the app (a Delete button that posts to /logout, say).
func TestPhotoLinksStayOnTheirPhoto(t *testing.T) {
	var buf bytes.Buffer
	vm := PhotosView{Photos: []PhotoCard{{ID: "x/../../logout?", Title: `"><script>alert(1)</script>`}}}
	if err := Photos(vm).Render(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	for _, want := range []string{`action="/photos/x%2F..%2F..%2Flogout%3F/delete"`, `href="/photos/x%2F..%2F..%2Flogout%3F/edit"`,
		`src="/photos/x%2F..%2F..%2Flogout%3F/image?v=0"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	if strings.Contains(page, "<script>alert") {
		t.Error("a title was not escaped")
	}
}
