package e2e

// The demo served on a network address: ImageHost refuses the demo's
// configured (published) secrets and generates its own into its data
// directory; PhotoEditorApp, also on a network address, reads its client
// secret there, and the whole flow works with the generated values only.

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"oauthdemo/e2e/harness"
)

func TestNetworkDemo(t *testing.T) {
	ihPort, appPort := harness.FreePort(t), harness.FreePort(t)
	issuer := fmt.Sprintf("http://127.0.0.1:%d", ihPort)
	appURL := fmt.Sprintf("http://localhost:%d", appPort)
	dataDir := t.TempDir()
	harness.ImageHostAt(t, fmt.Sprintf("0.0.0.0:%d", ihPort), dataDir, appURL, "IMAGEHOST_ISSUER="+issuer)
	secretsFile := filepath.Join(dataDir, "demo-secrets")
	data, err := os.ReadFile(secretsFile)
	if err != nil {
		t.Fatalf("ImageHost on a network address generated no secrets: %v", err)
	}
	var alicePassword string
	for _, line := range strings.Split(string(data), "\n") {
		if users, ok := strings.CutPrefix(line, "IMAGEHOST_DEMO_USERS="); ok {
			alicePassword = strings.TrimPrefix(strings.Split(users, ",")[0], "alice:")
		}
	}
	// The app is configured with the harness's demo secret, which ImageHost
	// now refuses: it must take the generated one from the file.
	harness.App(t, appPort, issuer, fmt.Sprintf("PHOTOEDITOR_ADDR=0.0.0.0:%d", appPort), "PHOTOEDITOR_DEMO_SECRETS="+secretsFile)

	// The app takes alice to ImageHost, which refuses her published password
	// and accepts the generated one.
	browser := harness.NewBrowser()
	var refused *harness.RefusedError
	if _, err := connect(t.Context(), browser, appURL, "alice", "wonderland"); !errors.As(err, &refused) || refused.Status != http.StatusUnauthorized {
		t.Fatalf("alice's published password on a network: %v, want 401", err)
	}
	body, err := connect(t.Context(), browser, appURL, "alice", alicePassword)
	// The app redeemed the code with its client secret: the generated one.
	if err != nil || !strings.Contains(body, "Connected to ImageHost as Alice") {
		t.Fatalf("the flow with the generated password: %v\n%s", err, body)
	}
}
