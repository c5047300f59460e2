package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// scrape reads ts's /metrics as a local request, failing the test if it
// is refused.
func scrape(t *testing.T, ts *testServer, header ...string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", ts.URL+"/metrics", nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page := body(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %s %s", resp.Status, page)
	}
	return page
}

// TestMetrics: /metrics counts requests by route pattern and status, with
// their latency, tokens issued by grant type, refusals by OAuth error code,
// throttled sign-ins and the database's pools, in Prometheus's text format.
// A made-up path adds no series of its own.
func TestMetrics(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			var ts *testServer
			pool := `pool="write"`
			if db == "sqlite" {
				ts = newTestServer(t)
			} else {
				ts = newTestServerOn(t, newPostgresStore(t, nil))
				pool = `pool="pgx"`
			}
			mintRobotToken(t, ts)
			mintRobotToken(t, ts)
			postBasic(t, ts.URL+"/token", m2mID, "wrong-secret", url.Values{"grant_type": {"client_credentials"}}).Body.Close()
			apiCall(t, "GET", ts.URL+"/api/photos", "not-a-token").Body.Close()
			ts.browser().get("/no/such/page/" + strings.Repeat("x", 100)).Body.Close()
			b := ts.browser()
			for range accountAttempts + 1 {
				loginForm(t, b, "alice", "guess").Body.Close()
			}

			page := scrape(t, ts)
			for _, want := range []string{
				`imagehost_http_requests_total{code="200",route="POST /token"} 2`,
				`imagehost_http_requests_total{code="401",route="POST /token"} 1`,
				`imagehost_http_requests_total{code="404",route="unmatched"} 1`,
				`imagehost_http_request_duration_seconds_count{route="POST /token"} 3`,
				`imagehost_tokens_issued_total{grant_type="client_credentials"} 2`,
				`imagehost_refusals_total{error="invalid_client"} 1`,
				`imagehost_refusals_total{error="invalid_token"} 1`,
				`imagehost_throttled_total{limit="sign-in"} 1`,
				`imagehost_db_max_connections{` + pool + `}`,
				`imagehost_db_connections{` + pool + `,state="idle"}`,
				`go_goroutines `,
			} {
				if !strings.Contains(page, want) {
					t.Errorf("/metrics lacks %s", want)
				}
			}
			if strings.Contains(page, "xxxxxxxx") {
				t.Error("a made-up path became a label")
			}
		})
	}
}

// TestMetricsAccess: /metrics tells how busy ImageHost is and what it
// refuses, so it answers a local request only, or, with a metrics token
// configured, the bearer of that token only.
func TestMetricsAccess(t *testing.T) {
	local := newTestServer(t)
	scrape(t, local)
	if resp := local.browser().get("/metrics"); resp.StatusCode != http.StatusOK {
		t.Fatalf("a local request: %s", resp.Status)
	}
	req, _ := http.NewRequest("GET", local.URL+"/metrics", nil)
	req.Header.Set("X-Forwarded-For", "203.0.113.9") // through a proxy: not local
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a request through a proxy: %v %v, want 403", resp.Status, err)
	}

	const token = "metrics-token-for-tests-0123456789abcdef"
	guarded := newTestServer(t, func(c *Config) { c.MetricsToken = token })
	for _, bearer := range []string{"", "Bearer wrong", "Bearer " + token + "x", token} {
		req, _ := http.NewRequest("GET", guarded.URL+"/metrics", nil)
		if bearer != "" {
			req.Header.Set("Authorization", bearer)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("Authorization %q: %s, want 401", bearer, resp.Status)
		}
	}
	scrape(t, guarded, "Authorization", "Bearer "+token)
}
