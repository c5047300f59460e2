package starter

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestProgramCompiles writes the program, for an app with a hostile name,
// and compiles it with this module's go.mod, so that the template never
// rots and no value reaches the program as code.
func TestProgramCompiles(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles a program")
	}
	var out bytes.Buffer
	app := App{Issuer: "http://127.0.0.1:9090", ClientID: "abc-123_x", RedirectURI: "http://127.0.0.1:8976/callback",
		ClientName: "Evil\"\n}\nfunc init() { panic(1) }\n// `*/ {{ [[ ]]"}
	if err := Write(&out, app); err != nil {
		t.Fatal(err)
	}
	src := out.String()
	for _, want := range []string{`issuer      = "http://127.0.0.1:9090"`, `clientID    = "abc-123_x"`,
		`redirectURI = "http://127.0.0.1:8976/callback"`, `listen      = "127.0.0.1:8976"`, "http://127.0.0.1:8976/ in your browser"} {
		if !strings.Contains(src, want) {
			t.Errorf("the program lacks %q", want)
		}
	}
	if strings.Contains(src, "\nfunc init()") {
		t.Fatal("the app's name reached the program as code")
	}
	// Inside the module (a directory the go tool's ./... skips), so that
	// the program builds with this repository's go.mod, as an attendee's
	// does.
	dir, err := os.MkdirTemp(".", "_starter-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	file := filepath.Join(dir, "starter.go")
	if err := os.WriteFile(file, out.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"vet", "./" + file}, {"build", "-o", os.DevNull, "./" + file}} {
		if msg, err := exec.Command("go", args...).CombinedOutput(); err != nil {
			t.Fatalf("go %s: %v\n%s\n%s", strings.Join(args, " "), err, msg, src)
		}
	}
	if msg, err := exec.Command("gofmt", "-l", file).CombinedOutput(); err != nil || len(msg) > 0 {
		t.Fatalf("the program is not gofmt'ed: %s %v", msg, err)
	}
}

func TestFits(t *testing.T) {
	for uri, want := range map[string]bool{
		"http://127.0.0.1:8976/callback":    true,
		"http://localhost:3000/auth/cb":     true,
		"http://[::1]:8976/callback":        true,
		"http://127.0.0.1/callback":         false, // no port to listen on
		"https://127.0.0.1:8976/callback":   false,
		"http://example.com:8976/callback":  false,
		"http://127.0.0.1:8976/":            false, // the program's home page
		"http://127.0.0.1:8976/login":       false,
		"http://127.0.0.1:8976/cb?x=1":      false,
		"http://127.0.0.1:8976/{$}":         false, // a pattern of net/http's mux
		"http://127.0.0.1:8976/call%20back": false,
		"http://u:p@127.0.0.1:8976/cb":      false,
	} {
		if got := Fits(uri); got != want {
			t.Errorf("Fits(%q) = %v, want %v", uri, got, want)
		}
	}
}
