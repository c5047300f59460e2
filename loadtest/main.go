// Command loadtest measures ImageHost under load, over real HTTP, with the
// vegeta load generator, next to a bare net/http handler
// that returns a fixed JSON, measured in the same run on the same machine.
//
//	go tool task load          (builds bin/authserver and bin/vegeta, then runs this)
//
// vegeta is a tool of its own module file, tools/load.mod, so that only
// this task downloads it: the demo and the tests never need it.
//
// It starts the built ImageHost on a fresh database with the settings the
// tests use (e2e/harness), prepares what each scenario needs (tokens,
// authorization codes) over HTTP, signing in as the tests do, runs each scenario with 64 concurrent keep-alive connections, and
// prints requests per second, p50/p99 latency and errors per endpoint,
// ImageHost's peak RSS, and how fast the binary is ready on an existing
// database.
//
// With -room N it measures a workshop's room instead (room.go): N attendees
// at once, and the teacher's class view keeping up with them.
//
// The database is SQLite by default. -database-url puts ImageHost on a
// PostgreSQL database instead, -postgres on a PostgreSQL of the run's own
// (Debian's binaries, PostgreSQL's durable settings, in a temporary
// directory); with either, -cluster runs two instances behind haproxy, as
// go tool task cluster does (e2e/cluster), and the scenarios go through
// haproxy:
//
//	go tool task load -- -postgres
//	go tool task load -- -postgres -cluster
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"oauthdemo/authserver/store/postgres/pgtest"
	"oauthdemo/e2e/cluster"
	"oauthdemo/e2e/harness"
)

const (
	appURL     = "http://localhost:8080" // PhotoEditorApp's, for its redirect URI; never called (but in a cluster)
	verifier   = "loadtest-pkce-verifier-0123456789abcdefghijklmnop"
	workers    = 64
	formHeader = "application/x-www-form-urlencoded"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}

type options struct {
	binary      string
	vegeta      string
	duration    time.Duration
	codes       int
	databaseURL string // PostgreSQL instead of SQLite
	postgres    bool   // a PostgreSQL of the run's own
	cluster     bool   // two instances behind haproxy
	room        roomOptions
}

func run(ctx context.Context, args []string, out io.Writer) (err error) {
	var o options
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.StringVar(&o.binary, "authserver", "bin/authserver", "the built ImageHost binary")
	fs.StringVar(&o.vegeta, "vegeta", "bin/vegeta", "the built vegeta binary (go build -modfile=tools/load.mod -o bin/vegeta github.com/tsenart/vegeta/v12)")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long each timed scenario runs")
	fs.IntVar(&o.codes, "codes", 8000, "authorization codes to redeem (and refresh tokens to rotate)")
	fs.IntVar(&o.room.attendees, "room", 0, "instead: a workshop's room of this many attendees at once, with the class view open (room.go)")
	fs.DurationVar(&o.room.think, "think", time.Second, "room: the mean pause of an attendee between pages (each from half to one and a half of it); 0 for none")
	fs.DurationVar(&o.room.arrive, "arrive", 10*time.Second, "room: the window within which the attendees arrive, each at a random moment; 0: all at once")
	fs.Uint64Var(&o.room.seed, "seed", 1, "room: the seed of the pauses")
	fs.StringVar(&o.databaseURL, "database-url", "", "run ImageHost on this PostgreSQL database (an empty one) instead of SQLite")
	fs.BoolVar(&o.postgres, "postgres", false, "run ImageHost on a PostgreSQL of this run's own instead of SQLite")
	fs.BoolVar(&o.cluster, "cluster", false, "with -database-url or -postgres: two instances behind haproxy (needs the app binary beside the authserver)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.room.attendees > 0 {
		o.room.binary = o.binary
		return runRoom(ctx, o.room, out)
	}
	if o.cluster && o.databaseURL == "" && !o.postgres {
		return fmt.Errorf("-cluster needs -database-url or -postgres: instances share a PostgreSQL database")
	}
	work, err := os.MkdirTemp("", "imagehost-load-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	if o.postgres {
		// As root, PostgreSQL runs as the postgres user, who must get
		// through the directory to its own.
		if err := os.Chmod(work, 0o711); err != nil {
			return err
		}
		pg, err := pgtest.Open(ctx, filepath.Join(work, "pg"))
		if err != nil {
			return err
		}
		defer pg.Stop()
		if o.databaseURL, err = pg.Database(ctx, "imagehost"); err != nil {
			return err
		}
	}

	// The baseline: a bare handler returning a fixed token response.
	bare, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go http.Serve(bare, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.Write([]byte(`{"access_token":"fixed","token_type":"Bearer","expires_in":300}`))
	}))
	bareURL := "http://" + bare.Addr().String()

	dataDir := filepath.Join(work, "data")
	ih, err := startServer(ctx, o, dataDir)
	if err != nil {
		return err
	}
	defer ih.stop()
	defer func() {
		if err != nil {
			fmt.Fprintf(os.Stderr, "ImageHost's output:\n%s", ih.output())
		}
	}()
	fmt.Fprintf(out, "ImageHost %s (%s), baseline %s, %d workers\n\n", ih.URL, ih.describe, bareURL, workers)

	m2mToken, err := clientCredentials(ih.URL)
	if err != nil {
		return err
	}
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(harness.M2MClientID+":"+harness.M2MClientSecret))
	appBasic := "Basic " + base64.StdEncoding.EncodeToString([]byte(harness.AppClientID+":"+harness.AppClientSecret))
	ccBody := "grant_type=client_credentials"

	var results []result
	add := func(r result, err error) error {
		if err != nil {
			return err
		}
		results = append(results, r)
		fmt.Fprintf(out, "  %-34s %8.0f req/s\n", r.name, r.Throughput)
		return nil
	}
	timed := func(name string, t target) error {
		return add(attack(ctx, o.vegeta, work, name, []target{t}, o.duration, false))
	}
	if err := timed("bare handler (baseline)", target{Method: "POST", URL: bareURL + "/token", Body: ccBody, Header: hdr(formHeader, basic)}); err != nil {
		return err
	}
	if err := timed("token: client_credentials", target{Method: "POST", URL: ih.URL + "/token", Body: ccBody, Header: hdr(formHeader, basic)}); err != nil {
		return err
	}
	if err := timed("photos API: GET /api/photos (JWT)", target{Method: "GET", URL: ih.URL + "/api/photos", Header: http.Header{"Authorization": {"Bearer " + m2mToken}}}); err != nil {
		return err
	}
	if err := timed("introspection", target{Method: "POST", URL: ih.URL + "/introspect", Body: "token=" + m2mToken, Header: hdr(formHeader, basic)}); err != nil {
		return err
	}

	// DPoP-bound calls of the photos API next to bearer ones, the same
	// number of each, in turns (dpop.go).
	bearerRun, dpopRun, err := dpopScenarios(ctx, o.vegeta, work, ih.URL, m2mToken)
	if err := add(bearerRun, err); err != nil {
		return err
	}
	if err := add(dpopRun, nil); err != nil {
		return err
	}

	// Authorization codes: one per request, minted beforehand through the
	// real front channel (alice is signed in and has consented).
	fmt.Fprintf(out, "  (minting %d authorization codes)\n", o.codes)
	codes, err := mintCodes(ctx, ih.URL, ih.appURL, o.codes)
	if err != nil {
		return err
	}
	var redeem []target
	for _, c := range codes {
		body := url.Values{"grant_type": {"authorization_code"}, "code": {c}, "redirect_uri": {ih.appURL + "/callback"}, "code_verifier": {verifier}}
		redeem = append(redeem, target{Method: "POST", URL: ih.URL + "/token", Body: body.Encode(), Header: hdr(formHeader, appBasic)})
	}
	r, err := attack(ctx, o.vegeta, work, "token: authorization_code", redeem, 0, true)
	if err := add(r, err); err != nil {
		return err
	}
	// Refresh: every refresh token the redemptions returned, each once.
	var refresh []target
	for _, rt := range r.refreshTokens {
		refresh = append(refresh, target{Method: "POST", URL: ih.URL + "/token", Body: "grant_type=refresh_token&refresh_token=" + rt, Header: hdr(formHeader, appBasic)})
	}
	if err := add(attack(ctx, o.vegeta, work, "token: refresh_token (rotation)", refresh, 0, false)); err != nil {
		return err
	}

	rss, err := ih.peakRSS()
	if err != nil {
		return err
	}
	ih.stop()
	var ready time.Duration
	if !o.cluster {
		if ready, err = timeToReady(ctx, o.binary, dataDir, o.databaseURL); err != nil {
			return err
		}
	}

	fmt.Fprintln(out)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\trequests\treq/s\tvs bare\tp50\tp99\terrors\t")
	base := results[0].Throughput
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.2f\t%s\t%s\t%d\t\n", r.name, r.Requests, r.Throughput, r.Throughput/base,
			time.Duration(r.Latencies.P50).Round(10*time.Microsecond), time.Duration(r.Latencies.P99).Round(10*time.Microsecond), r.errors())
	}
	tw.Flush()
	fmt.Fprintf(out, "\nDPoP-bound calls of the photos API against bearer ones: %.2f (goal: 0.7 or more)\n", dpopRun.Throughput/bearerRun.Throughput)
	if o.cluster {
		fmt.Fprintf(out, "ImageHost peak RSS: %.1f MiB (the larger instance)\n", float64(rss)/(1<<20))
	} else {
		fmt.Fprintf(out, "ImageHost peak RSS: %.1f MiB\nready on an existing database in: %s\n", float64(rss)/(1<<20), ready.Round(time.Millisecond))
	}
	for _, r := range results {
		if r.errors() > 0 {
			return fmt.Errorf("%s: %d errors (status codes %v; %v)", r.name, r.errors(), r.StatusCodes, r.Errors)
		}
	}
	return nil
}

func hdr(contentType, authorization string) http.Header {
	return http.Header{"Content-Type": {contentType}, "Authorization": {authorization}}
}

// target is one request in vegeta's JSON target format.
type target struct {
	Method string      `json:"method"`
	URL    string      `json:"url"`
	Body   string      `json:"-"`
	Header http.Header `json:"header,omitempty"`
}

func (t target) MarshalJSON() ([]byte, error) {
	type plain target
	return json.Marshal(struct {
		plain
		Body []byte `json:"body,omitempty"`
	}{plain(t), []byte(t.Body)})
}

// result is the part of `vegeta report -type=json` we print.
type result struct {
	name       string
	Requests   int     `json:"requests"`
	Throughput float64 `json:"throughput"`
	Latencies  struct {
		P50 int64 `json:"50th"`
		P99 int64 `json:"99th"`
	} `json:"latencies"`
	Success       float64        `json:"success"`
	StatusCodes   map[string]int `json:"status_codes"`
	Errors        []string       `json:"errors"`
	refreshTokens []string
}

// errors counts the requests that did not get a 200.
func (r result) errors() int { return r.Requests - r.StatusCodes["200"] }

// attack runs vegeta: with duration > 0, the single target repeatedly for
// that long; with duration 0, each target exactly once. keepBodies collects
// the refresh tokens of the responses.
func attack(ctx context.Context, vegeta, dir, name string, targets []target, duration time.Duration, keepBodies bool) (result, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, t := range targets {
		if err := enc.Encode(t); err != nil {
			return result{}, err
		}
	}
	resultsFile := filepath.Join(dir, "results.bin")
	args := []string{"attack", "-format=json", "-rate=0", fmt.Sprintf("-workers=%d", workers),
		fmt.Sprintf("-max-workers=%d", workers), fmt.Sprintf("-connections=%d", workers), fmt.Sprintf("-max-connections=%d", workers),
		"-timeout=30s", "-output=" + resultsFile}
	if duration > 0 {
		args = append(args, "-duration="+duration.String())
	} else {
		args = append(args, "-lazy", "-duration=0")
	}
	cmd := exec.CommandContext(ctx, vegeta, args...)
	cmd.Stdin, cmd.Stderr = &buf, os.Stderr
	if err := cmd.Run(); err != nil {
		return result{}, fmt.Errorf("%s: vegeta attack: %w", name, err)
	}
	report, err := exec.CommandContext(ctx, vegeta, "report", "-type=json", resultsFile).Output()
	if err != nil {
		return result{}, fmt.Errorf("%s: vegeta report: %w", name, err)
	}
	r := result{name: name}
	if err := json.Unmarshal(report, &r); err != nil {
		return result{}, fmt.Errorf("%s: read report: %w", name, err)
	}
	// With -lazy, workers that find the targets used up each record a
	// "no targets to attack" with status 0: those were not requests.
	if extra := r.Requests - len(targets); duration == 0 && extra > 0 {
		r.Requests -= extra
		r.StatusCodes["0"] -= extra
		if r.StatusCodes["0"] == 0 {
			delete(r.StatusCodes, "0")
		}
		r.Errors = slices.DeleteFunc(r.Errors, func(e string) bool { return strings.Contains(e, "no targets to attack") })
	}
	if keepBodies {
		encoded, err := exec.CommandContext(ctx, vegeta, "encode", "-to=json", resultsFile).Output()
		if err != nil {
			return result{}, fmt.Errorf("%s: vegeta encode: %w", name, err)
		}
		sc := bufio.NewScanner(bytes.NewReader(encoded))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var res struct {
				Body []byte `json:"body"`
			}
			var tok struct {
				RefreshToken string `json:"refresh_token"`
			}
			if json.Unmarshal(sc.Bytes(), &res) == nil && json.Unmarshal(res.Body, &tok) == nil && tok.RefreshToken != "" {
				r.refreshTokens = append(r.refreshTokens, tok.RefreshToken)
			}
		}
	}
	return r, nil
}

// server is what the scenarios load: one ImageHost process, or a cluster
// behind haproxy.
type server struct {
	URL      string // the issuer
	appURL   string // PhotoEditorApp's, whose redirect URI the codes are for
	describe string
	stop     func()
	output   func() string
	peakRSS  func() (int64, error) // the largest of its processes'
}

// startServer starts ImageHost as the options say: one process on SQLite
// or PostgreSQL, or two behind haproxy.
func startServer(ctx context.Context, o options, dataDir string) (server, error) {
	if !o.cluster {
		ih, err := startImageHost(ctx, o.binary, dataDir, o.databaseURL)
		if err != nil {
			return server{}, err
		}
		db := "SQLite"
		if o.databaseURL != "" {
			db = "PostgreSQL"
		}
		return server{URL: ih.URL, appURL: appURL, describe: fmt.Sprintf("one instance on %s, pid %d", db, ih.Pid()), stop: ih.Stop, output: ih.Output, peakRSS: ih.PeakRSS}, nil
	}
	issuerPort, err1 := cluster.Port()
	appPort, err2 := cluster.Port()
	if err := errors.Join(err1, err2); err != nil {
		return server{}, err
	}
	logs := &harness.LogBuffer{}
	c, err := cluster.Start(ctx, cluster.Settings{Binaries: filepath.Dir(o.binary), Dir: filepath.Join(dataDir, "cluster"),
		ImageHostDatabase: o.databaseURL, AppDatabase: o.databaseURL, // the app's tables live in a schema of their own
		IssuerAddr: fmt.Sprintf("127.0.0.1:%d", issuerPort), AppPort: appPort,
		Secrets: &cluster.Secrets{Passwords: map[string]string{"alice": "wonderland", "bob": "builder"},
			AppClientSecret: harness.AppClientSecret, MachineClientSecret: harness.M2MClientSecret,
			ExpiryClientSecret: harness.ExpiryClientSecret, InitialAccessToken: harness.InitialAccessToken,
			SessionAuthKey: harness.AppSessionAuthKey, SessionEncryptionKey: harness.AppSessionEncryptionKey},
		Env:    []string{"IMAGEHOST_API_TOKEN_CHECK=jwt", "IMAGEHOST_LOG_LEVEL=warn", "PHOTOEDITOR_LOG_LEVEL=warn"},
		Output: logs})
	if err != nil {
		return server{}, fmt.Errorf("%w\n%s", err, logs)
	}
	return server{URL: c.IssuerURL, appURL: c.AppURL, describe: fmt.Sprintf("%d instances on PostgreSQL behind haproxy", len(c.ImageHost)),
		stop: func() { c.Stop() }, output: logs.String,
		peakRSS: func() (int64, error) {
			var peak int64
			for _, p := range c.ImageHost {
				rss, err := harness.PeakRSS(p.Pid())
				if err != nil {
					return 0, err
				}
				peak = max(peak, rss)
			}
			return peak, nil
		}}, nil
}

// startImageHost starts the binary with the tests' settings on a free
// port, on the PostgreSQL database at databaseURL if there is one. Its
// photos API checks tokens as JWTs, whatever the environment says: that
// is the scenario measured.
func startImageHost(ctx context.Context, binary, dataDir, databaseURL string) (*harness.Process, error) {
	port, err := harness.Port()
	if err != nil {
		return nil, err
	}
	return harness.StartImageHost(ctx, binary, fmt.Sprintf("127.0.0.1:%d", port), dataDir, appURL,
		"IMAGEHOST_API_TOKEN_CHECK=jwt", "IMAGEHOST_DATABASE_URL="+databaseURL)
}

// timeToReady starts the binary again on the now existing database and
// measures how long until it answers.
func timeToReady(ctx context.Context, binary, dataDir, databaseURL string) (time.Duration, error) {
	start := time.Now()
	ih, err := startImageHost(ctx, binary, dataDir, databaseURL)
	if err != nil {
		return 0, err
	}
	d := time.Since(start)
	ih.Stop()
	return d, nil
}

func clientCredentials(base string) (string, error) {
	req, _ := http.NewRequest("POST", base+"/token", strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", formHeader)
	req.SetBasicAuth(harness.M2MClientID, harness.M2MClientSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
		return "", fmt.Errorf("client credentials: %s", resp.Status)
	}
	return tok.AccessToken, nil
}

// mintCodes signs alice in through the login and consent pages once, then
// asks /authorize for n codes, which it now answers at once.
func mintCodes(ctx context.Context, base, appURL string, n int) ([]string, error) {
	browser := harness.NewBrowser()
	authURL := harness.AuthorizeURL(base, appURL+"/callback", "openid profile offline_access photos.read", "load", verifier)
	code := func() (string, error) {
		callback, err := harness.SignIn(ctx, browser, authURL, "alice", "wonderland")
		if err != nil {
			return "", err
		}
		return harness.Code(callback)
	}
	if _, err := code(); err != nil {
		return nil, fmt.Errorf("sign in: %w", err)
	}

	codes := make([]string, n)
	errs := make(chan error, 8)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < n; i += 8 {
				c, err := code()
				if err != nil {
					errs <- fmt.Errorf("mint code %d: %w", i, err)
					return
				}
				codes[i] = c
			}
		})
	}
	wg.Wait()
	close(errs)
	return codes, <-errs
}
