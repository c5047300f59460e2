package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestMetrics: PhotoEditorApp's /metrics counts requests by route and
// status with their latency, its token requests at ImageHost by grant type
// (a refresh among them), and its database pool; every response names the
// instance. A local request reads it; through a proxy, only the bearer of
// the metrics token would.
func TestMetrics(t *testing.T) {
	a := newTestAppWith(t, func(c *Config) { c.Instance = "photoeditor-a" })
	u := newUser(t)
	page := a.connect(u, "alice", "wonderland")
	u.post(a.URL+"/flow/expire", url.Values{"_csrf": {hidden(page).Get("_csrf")}})
	if resp, _ := u.get(a.URL + "/photos"); resp.StatusCode != http.StatusOK {
		t.Fatalf("/photos after the token expired: %s", resp.Status)
	}
	u.get(a.URL + "/no/such/page/" + strings.Repeat("x", 50))

	resp, metrics := u.get(a.URL + "/metrics")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %s", resp.Status)
	}
	for _, want := range []string{
		`photoeditor_http_requests_total{code="200",route="/photos"} 2`,
		`photoeditor_http_request_duration_seconds_count{route="/photos"} 2`,
		`photoeditor_http_requests_total{code="404",route="unmatched"} 1`,
		`photoeditor_token_requests_total{code="200",grant_type="authorization_code"} 1`,
		`photoeditor_token_requests_total{code="200",grant_type="refresh_token"} 1`,
		`photoeditor_db_max_connections{pool="sqlite"}`,
		`go_goroutines `,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(metrics, "xxxxxxxx") {
		t.Error("a made-up path became a label")
	}
	if got := resp.Header.Get("X-Instance"); got != "photoeditor-a" {
		t.Errorf("X-Instance %q, want the configured photoeditor-a", got)
	}

	req, _ := http.NewRequest("GET", a.URL+"/metrics", nil)
	req.Header.Set("X-Forwarded-For", "203.0.113.9") // through a proxy: not local
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("/metrics through a proxy: %v %v, want 403", resp.Status, err)
	}
}

// TestMetricsToken: with a metrics token configured, /metrics answers its
// bearer only, local or not.
func TestMetricsToken(t *testing.T) {
	const token = "metrics-token-for-tests-0123456789abcdef"
	a := newTestAppWith(t, func(c *Config) { c.MetricsToken = token })
	for _, bearer := range []string{"", "Bearer wrong", "Bearer " + token} {
		req, _ := http.NewRequest("GET", a.URL+"/metrics", nil)
		if bearer != "" {
			req.Header.Set("Authorization", bearer)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if want := map[bool]int{true: 200, false: 401}[bearer == "Bearer "+token]; resp.StatusCode != want {
			t.Fatalf("Authorization %q: %s, want %d", bearer, resp.Status, want)
		}
	}
}
