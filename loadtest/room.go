package main

// The room: a workshop's attendees at once, over HTTP, against the built
// ImageHost, with the teacher's class view open.
//
//	go tool task load-room        (go run ./loadtest -room 40)
//
// Each simulated attendee is a browser of their own on an address of their
// own (127.0.1.x: a laptop each, as ImageHost's per-address throttles see
// them), and goes through the workshop: join with the code, register an app
// in the developer console, run the code flow from a browser not signed in
// yet (login and consent pages), redeem the code, call the photos API,
// refresh, and replay the spent refresh token (an attack, refused). They
// arrive within a few seconds of each other, as a room does once the
// teacher shows the code (-arrive), and pause between pages as people do
// (-think); -arrive 0 -think 0 sends them all in the same instant, every
// page at once. The teacher, an admin, reads the class view's data every
// 100 ms meanwhile.
//
// It reports errors, the latency of the front-channel pages (p50, p99, the
// slowest) and of the back-channel calls, and for each milestone how long
// after an attendee's step the class view showed it.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"golang.org/x/oauth2"

	"oauthdemo/e2e/harness"
)

const (
	roomCode      = "loadtest-room-code"
	roomRedirect  = "http://127.0.0.1:8976/callback" // never called: the code is read from the redirect
	classPollRate = 100 * time.Millisecond
	// milestoneWait is how long an attendee's milestone may take to show
	// before it counts as an error.
	milestoneWait = 10 * time.Second
)

// milestones are the class view's columns, in the order an attendee
// reaches them.
func milestones() []string {
	return []string{"signed_in", "authorized", "code_redeemed", "api_called", "refreshed", "refused"}
}

// latencies collects how long requests took, by kind and page.
type latencies struct {
	mu     sync.Mutex
	pages  map[string][]time.Duration // "GET /login", ...
	front  []time.Duration
	back   []time.Duration
	errors []string
}

func (l *latencies) add(page string, front bool, d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pages[page] = append(l.pages[page], d)
	if front {
		l.front = append(l.front, d)
	} else {
		l.back = append(l.back, d)
	}
}

func (l *latencies) fail(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.errors = append(l.errors, fmt.Sprintf(format, args...))
}

// timed is a transport that records each request's latency, to the end of
// its headers, and refuses nothing.
type timed struct {
	base http.RoundTripper
	lat  *latencies
}

func (t timed) RoundTrip(r *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.base.RoundTrip(r)
	d := time.Since(start)
	path := r.URL.Path
	if strings.HasPrefix(path, "/developer/clients") {
		path = "/developer/clients"
	}
	back := path == "/token" || strings.HasPrefix(path, "/api/")
	t.lat.add(r.Method+" "+path, !back, d)
	return resp, err
}

// laptop is a browser on an address of its own: 127.0.1.n.
func laptop(n int, lat *latencies) *http.Client {
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 1, byte(n))}, Timeout: 10 * time.Second}
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 30 * time.Second,
		Transport: timed{base: &http.Transport{DialContext: dialer.DialContext, MaxIdleConnsPerHost: 4}, lat: lat}}
}

// attendeeRun is what one attendee did, and when each step ended.
type attendeeRun struct {
	name string
	done map[string]time.Time // milestone: when the attendee's step that reaches it returned
}

// roomOptions are the room mode's settings.
type roomOptions struct {
	binary    string
	attendees int
	think     time.Duration // the mean pause between pages; each is from half to one and a half of it
	arrive    time.Duration // attendees start within this window, uniformly
	seed      uint64
}

func runRoom(ctx context.Context, o roomOptions, out io.Writer) error {
	if o.attendees < 1 || o.attendees > 250 {
		return errors.New("-room takes from 1 to 250 attendees (each one a loopback address 127.0.1.n)")
	}
	work, err := os.MkdirTemp("", "imagehost-room-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	port, err := harness.Port()
	if err != nil {
		return err
	}
	ih, err := harness.StartImageHost(ctx, o.binary, fmt.Sprintf("127.0.0.1:%d", port), work, appURL,
		"IMAGEHOST_JOIN_CODE="+roomCode, fmt.Sprintf("IMAGEHOST_MAX_ATTENDEES=%d", o.attendees), "IMAGEHOST_API_TOKEN_CHECK=jwt")
	if err != nil {
		return err
	}
	defer ih.Stop()
	add := exec.CommandContext(ctx, o.binary, "users", "add", "-username", "teacher", "-admin")
	add.Env = append(os.Environ(), "IMAGEHOST_DATA_DIR="+work)
	add.Stdin = strings.NewReader("blackboard\n")
	if msg, err := add.CombinedOutput(); err != nil {
		return fmt.Errorf("users add -admin: %v\n%s", err, msg)
	}
	teacher := harness.NewBrowser()
	if err := harness.Login(ctx, teacher, ih.URL, "teacher", "blackboard"); err != nil {
		return fmt.Errorf("the teacher's sign-in: %w", err)
	}
	fmt.Fprintf(out, "ImageHost %s (pid %d); %d attendees arriving within %v, pausing %v on average between pages\n\n",
		ih.URL, ih.Pid(), o.attendees, o.arrive, o.think)

	// The teacher's class view, read every 100 ms: when each attendee's
	// milestone first shows.
	var seenMu sync.Mutex
	seen := map[string]map[string]time.Time{}
	pollCtx, stopPolling := context.WithCancel(ctx)
	polled := make(chan error, 1)
	go func() {
		t := time.NewTicker(classPollRate)
		defer t.Stop()
		for {
			class, err := harness.ReadClass(pollCtx, teacher, ih.URL)
			at := time.Now()
			if err != nil && pollCtx.Err() == nil {
				polled <- err
				return
			}
			seenMu.Lock()
			for _, a := range class.Attendees {
				for _, m := range milestones() {
					if _, ok := class.Reached(a.Username, m); ok {
						if seen[a.Username] == nil {
							seen[a.Username] = map[string]time.Time{}
						}
						if _, was := seen[a.Username][m]; !was {
							seen[a.Username][m] = at
						}
					}
				}
			}
			seenMu.Unlock()
			select {
			case <-pollCtx.Done():
				polled <- nil
				return
			case <-t.C:
			}
		}
	}()

	lat := &latencies{pages: map[string][]time.Duration{}}
	runs := make([]attendeeRun, o.attendees)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range o.attendees {
		rng := rand.New(rand.NewPCG(o.seed, uint64(i)))
		wg.Go(func() {
			if o.arrive > 0 {
				time.Sleep(time.Duration(rng.Int64N(int64(o.arrive))))
			}
			runs[i] = attend(ctx, ih.URL, i, lat, func() {
				if o.think > 0 {
					time.Sleep(o.think/2 + time.Duration(rng.Int64N(int64(o.think)+1)))
				}
			})
		})
	}
	wg.Wait()
	wall := time.Since(start)

	// Wait until the class view shows every milestone reached, or long enough.
	deadline := time.Now().Add(milestoneWait)
	for time.Now().Before(deadline) {
		seenMu.Lock()
		complete := true
		for _, r := range runs {
			for m := range r.done {
				if _, ok := seen[r.name][m]; !ok {
					complete = false
				}
			}
		}
		seenMu.Unlock()
		if complete {
			break
		}
		time.Sleep(classPollRate)
	}
	stopPolling()
	if err := <-polled; err != nil {
		lat.fail("reading the class view: %v", err)
	}
	rss, err := ih.PeakRSS()
	if err != nil {
		return err
	}

	// The report.
	fmt.Fprintf(out, "%d attendees went through the workshop in %v\n\n", o.attendees, wall.Round(time.Millisecond))
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "requests\tcount\tp50\tp99\tslowest\t")
	row := func(name string, ds []time.Duration) {
		p50, p99, top := quantiles(ds)
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t\n", name, len(ds), p50, p99, top)
	}
	row("front channel (pages)", lat.front)
	row("back channel (token, API)", lat.back)
	names := make([]string, 0, len(lat.pages))
	for name := range lat.pages {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		row("  "+name, lat.pages[name])
	}
	tw.Flush()

	fmt.Fprintln(out, "\nthe class view, read every 100 ms: how long after an attendee's step it showed the milestone")
	tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "milestone\tshown\tp50\tp99\tslowest\t")
	worst := time.Duration(0)
	for _, m := range milestones() {
		var lags []time.Duration
		missing := 0
		for _, r := range runs {
			done, ok := r.done[m]
			if !ok {
				continue
			}
			at, ok := seen[r.name][m]
			if !ok {
				missing++
				continue
			}
			lags = append(lags, max(0, at.Sub(done)))
		}
		if missing > 0 {
			lat.fail("%d attendees' %s never showed in the class view within %v", missing, m, milestoneWait)
		}
		p50, p99, top := quantiles(lags)
		worst = max(worst, top)
		fmt.Fprintf(tw, "%s\t%d/%d\t%s\t%s\t%s\t\n", m, len(lags), len(lags)+missing, p50, p99, top)
	}
	tw.Flush()
	_, frontP99, _ := quantiles(lat.front)
	fmt.Fprintf(out, "\nerrors: %d\nfront-channel p99: %s (target < 300ms)\nclass view's slowest milestone: %s (target <= 2s; the page itself asks every second)\nImageHost peak RSS: %.1f MiB\n",
		len(lat.errors), frontP99, worst, float64(rss)/(1<<20))
	for i, e := range lat.errors {
		if i == 10 {
			fmt.Fprintf(out, "  ... and %d more\n", len(lat.errors)-10)
			break
		}
		fmt.Fprintln(out, "  "+e)
	}
	if len(lat.errors) > 0 {
		return fmt.Errorf("%d errors", len(lat.errors))
	}
	return nil
}

// attend is one attendee's workshop. think pauses between pages.
func attend(ctx context.Context, issuer string, i int, lat *latencies, think func()) attendeeRun {
	run := attendeeRun{name: fmt.Sprintf("attendee%02d", i+1), done: map[string]time.Time{}}
	fail := func(step string, err error) attendeeRun {
		lat.fail("%s, %s: %v", run.name, step, err)
		return run
	}
	password := run.name + "-password"
	think()
	console := laptop(i+1, lat)
	if err := harness.Join(ctx, console, issuer, roomCode, run.name, password); err != nil {
		return fail("join", err)
	}
	run.done["signed_in"] = time.Now()
	think()
	clientID, secret, err := harness.RegisterApp(ctx, console, issuer, harness.ConsoleApp{Name: run.name + "'s app", RedirectURIs: []string{roomRedirect}})
	if err != nil {
		return fail("register an app", err)
	}
	think()

	// The code flow, from a browser not signed in at ImageHost yet: its
	// login and consent pages (harness.SignIn), then the app's back channel.
	app := laptop(i+1, lat)
	conf := oauth2.Config{ClientID: clientID, ClientSecret: secret, RedirectURL: roomRedirect,
		Endpoint: oauth2.Endpoint{AuthURL: issuer + "/authorize", TokenURL: issuer + "/token", AuthStyle: oauth2.AuthStyleInHeader},
		Scopes:   []string{"openid", "offline_access", "photos.read"}}
	verifier := oauth2.GenerateVerifier()
	callback, err := harness.SignIn(ctx, app, conf.AuthCodeURL(oauth2.GenerateVerifier(), oauth2.S256ChallengeOption(verifier)), run.name, password)
	if err != nil {
		return fail("sign in and consent", err)
	}
	run.done["authorized"] = time.Now()
	code, err := harness.Code(callback)
	if err != nil {
		return fail("the code", err)
	}
	backChannel := context.WithValue(ctx, oauth2.HTTPClient, app)
	tok, err := conf.Exchange(backChannel, code, oauth2.VerifierOption(verifier))
	if err != nil {
		return fail("redeem the code", err)
	}
	run.done["code_redeemed"] = time.Now()
	think()
	if err := listPhotos(ctx, app, issuer, tok.AccessToken); err != nil {
		return fail("call the photos API", err)
	}
	run.done["api_called"] = time.Now()
	think()
	spent := tok.RefreshToken
	tok.Expiry = time.Now().Add(-time.Second) // as if it had expired: the token source refreshes
	fresh, err := conf.TokenSource(backChannel, tok).Token()
	if err != nil || fresh.AccessToken == tok.AccessToken {
		return fail("refresh", fmt.Errorf("%v (a new access token: %v)", err, fresh != nil && fresh.AccessToken != tok.AccessToken))
	}
	run.done["refreshed"] = time.Now()
	think()
	// The attack: the spent refresh token, replayed. ImageHost refuses it
	// (and revokes the grant), which is the expected answer here.
	replay := *tok
	replay.RefreshToken = spent
	if _, err := conf.TokenSource(backChannel, &replay).Token(); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		return fail("replay the spent refresh token", fmt.Errorf("want invalid_grant, got %v", err))
	}
	run.done["refused"] = time.Now()
	return run
}

// listPhotos calls GET /api/photos with token.
func listPhotos(ctx context.Context, c *http.Client, issuer, token string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, issuer+"/api/photos", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s", resp.Status)
	}
	return nil
}

// quantiles returns the median, the 99th percentile (nearest rank) and the
// largest of ds, rounded for reading.
func quantiles(ds []time.Duration) (p50, p99, top time.Duration) {
	if len(ds) == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := func(q float64) time.Duration {
		i := int(q*float64(len(s))+0.999999) - 1
		return s[max(0, min(i, len(s)-1))]
	}
	r := func(d time.Duration) time.Duration { return d.Round(100 * time.Microsecond) }
	return r(rank(0.5)), r(rank(0.99)), r(s[len(s)-1])
}
