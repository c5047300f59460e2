package e2e

// Password guessing against a real ImageHost process, the way an attacker
// would do it: many sign-ins at once. Each password check costs 19 MiB of
// argon2id memory, so the throttle must count an attempt before the hash,
// and hashing must have a cap, or a burst exhausts the process's memory.

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"oauthdemo/e2e/harness"
)

// peakRSSLimit is the memory ImageHost may reach under a sign-in burst:
// password hashing is capped at 128 MiB, and the rest of the process needs
// a few tens of MiB.
const peakRSSLimit = 160 << 20

// loginForm fetches the sign-in page once, for its CSRF cookie and token:
// a burst can reuse both.
func loginForm(t *testing.T, issuer string) (cookie *http.Cookie, token string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	resp, err := c.Get(issuer + "/login")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range hiddenField.FindAllStringSubmatch(string(page), -1) {
		if m[1] == "csrf_token" {
			token = m[2]
		}
	}
	u, _ := url.Parse(issuer)
	for _, ck := range jar.Cookies(u) {
		if ck.Name == "imagehost_csrf" {
			cookie = ck
		}
	}
	if cookie == nil || token == "" {
		t.Fatal("the sign-in page set no CSRF cookie or token")
	}
	return cookie, token
}

// signInResult is one answer of a burst.
type signInResult struct {
	status     int
	retryAfter string
	err        error
}

// burst sends n sign-ins at once: every goroutine is ready before any
// request leaves. from(i) is the local address request i comes from.
func burst(t *testing.T, issuer string, n int, from func(i int) net.IP, username func(i int) string) []signInResult {
	t.Helper()
	cookie, token := loginForm(t, issuer)
	results := make([]signInResult, n)
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: from(i)}}
			client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{DialContext: dialer.DialContext},
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			form := url.Values{"csrf_token": {token}, "username": {username(i)}, "password": {fmt.Sprintf("guess-%d", i)}}
			req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, issuer+"/login", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.AddCookie(cookie)
			ready.Done()
			<-start
			resp, err := client.Do(req)
			if err != nil {
				results[i].err = err
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			results[i] = signInResult{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After")}
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
	return results
}

func checkPeakRSS(t *testing.T, p *harness.Process) {
	t.Helper()
	peak, err := p.PeakRSS()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("ImageHost's peak RSS: %.1f MiB", float64(peak)/(1<<20))
	if peak > peakRSSLimit {
		t.Errorf("peak RSS %.1f MiB, want under %d MiB", float64(peak)/(1<<20), peakRSSLimit>>20)
	}
}

// TestLoginBurstOnOneAccount: 200 wrong passwords for bob at once, from one
// address. Only the account's limit of them may be checked; the rest are
// refused before any hashing.
func TestLoginBurstOnOneAccount(t *testing.T) {
	ih := harness.ImageHost(t, "http://localhost:8080")
	const n, accountLimit = 200, 5
	results := burst(t, ih.URL, n, func(int) net.IP { return net.IPv4(127, 0, 0, 1) }, func(int) string { return "bob" })
	counts := map[int]int{}
	for i, r := range results {
		if r.err != nil {
			t.Fatalf("request %d: %v", i, r.err)
		}
		counts[r.status]++
		if r.status == http.StatusTooManyRequests && r.retryAfter == "" {
			t.Errorf("request %d: 429 without Retry-After", i)
		}
	}
	t.Logf("answers: %v", counts)
	if counts[http.StatusUnauthorized] > accountLimit || counts[http.StatusUnauthorized]+counts[http.StatusTooManyRequests] != n {
		t.Errorf("answers %v: want at most %d wrong-password answers (401) and 429 for the rest", counts, accountLimit)
	}
	checkPeakRSS(t, ih)
}

// TestLoginBurstFromManyAddresses: 200 sign-ins at once, each from its own
// loopback address and for its own unknown username, so that no throttle
// stops them: the hashing cap must. Requests over it wait briefly or are
// told to come back (503 with Retry-After); none may crash the process.
func TestLoginBurstFromManyAddresses(t *testing.T) {
	ih := harness.ImageHost(t, "http://localhost:8080")
	const n = 200
	results := burst(t, ih.URL, n,
		func(i int) net.IP { return net.IPv4(127, 0, byte(1+i/250), byte(2+i%250)) },
		func(i int) string { return fmt.Sprintf("nobody-%d", i) })
	counts := map[int]int{}
	for i, r := range results {
		if r.err != nil {
			t.Fatalf("request %d: %v", i, r.err)
		}
		counts[r.status]++
		switch r.status {
		case http.StatusUnauthorized:
		case http.StatusServiceUnavailable:
			if r.retryAfter == "" {
				t.Errorf("request %d: 503 without Retry-After", i)
			}
		default:
			t.Errorf("request %d: status %d, want 401 or 503", i, r.status)
		}
	}
	t.Logf("answers: %v", counts)
	if counts[http.StatusUnauthorized] == 0 {
		t.Error("no sign-in was checked at all")
	}
	checkPeakRSS(t, ih)

	// Afterwards the server works: alice signs in.
	cookie, token := loginForm(t, ih.URL)
	form := url.Values{"csrf_token": {token}, "username": {"alice"}, "password": {"wonderland"}}
	req, _ := http.NewRequest(http.MethodPost, ih.URL+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(cookie)
	client := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("alice after the burst: %s", resp.Status)
	}
}
