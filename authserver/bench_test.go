package main

// Benchmarks of the hot paths, in-process (no network): each runs the real
// handler on a real SQLite file. Compare them with BenchmarkBareHandler, a
// net/http handler that returns a fixed JSON, measured the same way:
//
//	go test ./authserver -run '^$' -bench . -benchmem
//
// The ones that write run on PostgreSQL too (sub-benchmarks sqlite and
// postgres), over a unix socket to a throwaway server tuned for tests
// (fsync off: see store/postgres/pgtest), so one run gives the ratio.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"oauthdemo/authserver/oauth"
	"oauthdemo/authserver/store"
)

// benchServer is a test server and its handler, called without a network.
type benchServer struct {
	*testServer
	h http.Handler
}

func newBenchServer(b *testing.B) benchServer { return benchServerOf(b, newTestServer(b)) }

func benchServerOf(tb testing.TB, ts *testServer) benchServer {
	apiTokens, err := newAPITokenVerifier(context.Background(), ts.cfg, ts.store, ts.keys, ts.revoked, ts.clock.now)
	if err != nil {
		tb.Fatal(err)
	}
	return benchServer{ts, newServer(ts.cfg, ts.store, ts.keys, apiTokens, ts.revoked, ts.background, ts.clock.now, discardLogger())}
}

// onEachStore runs bench on SQLite, then on PostgreSQL.
func onEachStore(b *testing.B, bench func(*testing.B, benchServer)) {
	b.Run("sqlite", func(b *testing.B) { bench(b, newBenchServer(b)) })
	b.Run("postgres", func(b *testing.B) { bench(b, benchServerOf(b, newTestServerOn(b, newPostgresStore(b, nil)))) })
}

func (bs benchServer) serve(b *testing.B, req *http.Request, want int) {
	rec := httptest.NewRecorder()
	bs.h.ServeHTTP(rec, req)
	if rec.Code != want {
		b.Fatalf("%s %s: %d, want %d: %s", req.Method, req.URL.Path, rec.Code, want, rec.Body.String())
	}
}

func tokenRequest(body, id, secret string) *http.Request {
	req := httptest.NewRequest("POST", "/token", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id != "" {
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(id+":"+secret)))
	}
	return req
}

func BenchmarkBareHandler(b *testing.B) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"access_token":"fixed","token_type":"Bearer","expires_in":300}`))
	})
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, tokenRequest("grant_type=client_credentials", m2mID, m2mSecret))
	}
}

func BenchmarkTokenClientCredentials(b *testing.B) {
	bs := newBenchServer(b)
	for b.Loop() {
		bs.serve(b, tokenRequest("grant_type=client_credentials", m2mID, m2mSecret), 200)
	}
}

// grantFor stores a grant with a refresh token directly, as a code
// redemption would, and returns the raw refresh token.
func (bs benchServer) grantFor(b testing.TB, now time.Time) string {
	raw := oauth.NewToken()
	id := oauth.NewID()
	g := store.Grant{ID: id, ClientID: appID, UserID: "sub-alice", Scope: "offline_access openid photos.read", AuthTime: now, CreatedAt: now}
	rt := store.RefreshToken{TokenHash: oauth.HashToken(raw), GrantID: id, Scope: g.Scope, IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := bs.store.CreateGrant(context.Background(), g, &rt); err != nil {
		b.Fatal(err)
	}
	return raw
}

func BenchmarkTokenAuthorizationCode(b *testing.B) { onEachStore(b, benchTokenAuthorizationCode) }

func benchTokenAuthorizationCode(b *testing.B, bs benchServer) {
	now := bs.clock.now()
	verifier := strings.Repeat("v", 43)
	codes := make([]string, 0, b.N)
	newCode := func() string {
		code := oauth.NewToken()
		err := bs.store.SaveAuthCode(context.Background(), store.AuthCode{CodeHash: oauth.HashToken(code), ClientID: appID, UserID: "sub-alice",
			RedirectURI: appRedirect, Scope: "openid offline_access photos.read", Nonce: "n", CodeChallenge: oauth.S256Challenge(verifier),
			CodeChallengeMethod: "S256", AuthTime: now, ExpiresAt: now.Add(time.Hour)})
		if err != nil {
			b.Fatal(err)
		}
		return code
	}
	body := func(code string) string {
		return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {appRedirect}, "code_verifier": {verifier}}.Encode()
	}
	for b.Loop() {
		b.StopTimer()
		code := newCode()
		codes = append(codes, code)
		b.StartTimer()
		bs.serve(b, tokenRequest(body(code), appID, appSecret), 200)
	}
}

func BenchmarkTokenRefresh(b *testing.B) { onEachStore(b, benchTokenRefresh) }

func benchTokenRefresh(b *testing.B, bs benchServer) {
	rt := bs.grantFor(b, bs.clock.now())
	for b.Loop() {
		rec := httptest.NewRecorder()
		bs.h.ServeHTTP(rec, tokenRequest("grant_type=refresh_token&refresh_token="+rt, appID, appSecret))
		if rec.Code != 200 {
			b.Fatalf("refresh: %d %s", rec.Code, rec.Body.String())
		}
		rt = rec.Body.String()
		rt = rt[strings.Index(rt, `"refresh_token":"`)+len(`"refresh_token":"`):]
		rt = rt[:strings.IndexByte(rt, '"')]
	}
}

func BenchmarkPhotosListJWT(b *testing.B) {
	bs := newBenchServer(b)
	token := mintRobotToken(b, bs.testServer)
	for b.Loop() {
		req := httptest.NewRequest("GET", "/api/photos", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		bs.serve(b, req, 200)
	}
}

func BenchmarkIntrospect(b *testing.B) {
	bs := newBenchServer(b)
	token := mintRobotToken(b, bs.testServer)
	for b.Loop() {
		bs.serve(b, tokenRequestTo("/introspect", "token="+token, m2mID, m2mSecret), 200)
	}
}

func tokenRequestTo(path, body, id, secret string) *http.Request {
	req := tokenRequest(body, id, secret)
	req.URL.Path = path
	return req
}

func BenchmarkStoreClientByID(b *testing.B) { onEachStore(b, benchStoreClientByID) }

func benchStoreClientByID(b *testing.B, bs benchServer) {
	ctx := context.Background()
	for b.Loop() {
		if _, err := bs.store.ClientByID(ctx, appID); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStoreRotateRefreshToken(b *testing.B) { onEachStore(b, benchStoreRotateRefreshToken) }

func benchStoreRotateRefreshToken(b *testing.B, bs benchServer) {
	ctx := context.Background()
	now := bs.clock.now()
	old := oauth.HashToken(bs.grantFor(b, now))
	_, g, err := bs.store.RefreshToken(ctx, old)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		next := store.RefreshToken{TokenHash: oauth.HashToken(oauth.NewToken()), GrantID: g.ID, IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
		if err := bs.store.RotateRefreshToken(ctx, old, next, now); err != nil {
			b.Fatal(err)
		}
		old = next.TokenHash
	}
}

// BenchmarkTokenDevicePoll is a device's poll while its user has not
// answered: the client, then the device code by its hash
// (authorization_pending). BenchmarkTokenDeviceSlowDown is a poll that
// came too soon: the client, then the pace in memory (slow_down).
func BenchmarkTokenDevicePoll(b *testing.B) { onEachStore(b, benchTokenDevicePoll(true)) }

func BenchmarkTokenDeviceSlowDown(b *testing.B) { onEachStore(b, benchTokenDevicePoll(false)) }

func benchTokenDevicePoll(keepTime bool) func(*testing.B, benchServer) {
	return func(b *testing.B, bs benchServer) {
		addDeviceClients(b, bs.testServer)
		newCode := func() string {
			rec := httptest.NewRecorder()
			bs.h.ServeHTTP(rec, tokenRequestTo("/device_authorization", "client_id=cli&scope=photos.read", "", ""))
			var da deviceAuth
			if err := json.NewDecoder(rec.Body).Decode(&da); err != nil {
				b.Fatalf("device authorization: %d %v", rec.Code, err)
			}
			return "client_id=cli&grant_type=" + url.QueryEscape(oauth.GrantTypeDeviceCode) + "&device_code=" + da.DeviceCode
		}
		body := newCode()
		want := "slow_down"
		if keepTime {
			want = "authorization_pending"
		}
		polls := 0
		for b.Loop() {
			if keepTime {
				// Each poll an interval after the last; a new device
				// before the code expires.
				if polls++; polls%100 == 0 {
					b.StopTimer()
					body = newCode()
					b.StartTimer()
				}
				bs.clock.advance(bs.cfg.DevicePollInterval)
			}
			rec := httptest.NewRecorder()
			bs.h.ServeHTTP(rec, tokenRequest(body, "", ""))
			if !strings.Contains(rec.Body.String(), want) {
				b.Fatalf("poll: %d %s, want %s", rec.Code, rec.Body.String(), want)
			}
		}
	}
}

// BenchmarkPhotosListDPoP lists photos with a token bound to a DPoP key,
// each call with a fresh proof (RFC 9449 §7), and, in the same loop, with a
// bearer token, timing each call alone: dpop-ns/op and bearer-ns/op, and
// their ratio as throughput (bearer time over DPoP time; the goal is 0.7 or
// more). A DPoP call also verifies the proof's signature (ES256) and
// records its jti in the store. Signing the proof, the client's work, is
// not timed; ns/op counts it.
func BenchmarkPhotosListDPoP(b *testing.B) {
	bs := newBenchServer(b)
	k := newDPoPKey(b)
	bound := boundRobotToken(b, bs.testServer, k)
	bearer := mintRobotToken(b, bs.testServer)
	api := bs.URL + "/api/photos"
	nonce := apiNonce(b, bs.testServer, k, bound)
	var dpopTime, bearerTime time.Duration
	for b.Loop() {
		c := k.claims("GET", api, nonce, bound)
		c["iat"] = bs.clock.now().Unix()
		proof := sign(b, k.header(), c, k.priv)

		req := httptest.NewRequest("GET", api, nil)
		req.Header.Set("Authorization", "DPoP "+bound)
		req.Header.Set("DPoP", proof)
		start := time.Now()
		bs.serve(b, req, 200)
		dpopTime += time.Since(start)

		req = httptest.NewRequest("GET", api, nil)
		req.Header.Set("Authorization", "Bearer "+bearer)
		start = time.Now()
		bs.serve(b, req, 200)
		bearerTime += time.Since(start)
	}
	n := float64(b.N)
	b.ReportMetric(float64(dpopTime.Nanoseconds())/n, "dpop-ns/op")
	b.ReportMetric(float64(bearerTime.Nanoseconds())/n, "bearer-ns/op")
	b.ReportMetric(float64(bearerTime)/float64(dpopTime), "dpop/bearer")
}
