// Package storetest is the contract of store.Store: a conformance suite that
// every implementation must pass unchanged.
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { return openFresh(t) })
//	}
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"oauthdemo/authserver/store"
)

// Run runs the suite; newStore must return an empty store for each call.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(*testing.T, store.Store)
	}{
		{"users", testUsers},
		{"clients", testClients},
		{"client registration caps", testRegisterClient},
		{"client registration caps under a concurrent burst", testRegisterClientConcurrent},
		{"client deletion and expiry", testClientDeletionAndExpiry},
		{"auth requests", testAuthRequests},
		{"auth request ends once", testAuthRequestConcurrentEnd},
		{"auth code single use", testAuthCodeSingleUse},
		{"auth code concurrent redemption", testAuthCodeConcurrent},
		{"refresh rotation", testRefreshRotation},
		{"refresh concurrent rotation", testRefreshConcurrent},
		{"revoked grant stops rotation", testRevokedGrant},
		{"grant revoked before it is created", testGrantRevokedBeforeCreated},
		{"grant created and revoked at once", testGrantCreateRevokeRace},
		{"consents", testConsents},
		{"sessions", testSessions},
		{"a session's grants end with it", testSessionGrantsEnd},
		{"expired sessions end their grants", testExpiredSessionGrantsEnd},
		{"server keys", testServerKeys},
		{"revocations recorded", testRevocationsRecorded},
		{"revocations since and of", testRevocationQueries},
		{"revocations numbered in commit order", testRevocationSeq},
		{"revocations followed during a burst", testRevocationsFollowedDuringBurst},
		{"signing keys", testSigningKeys},
		{"photos", testPhotos},
		{"photo pages", testPhotoPages},
		{"photo quota", testPhotoQuota},
		{"photo quota under a concurrent burst", testPhotoQuotaConcurrent},
		{"delete expired", testDeleteExpired},
		{"times round-trip in UTC", testUTC},
		{"activity log", testActivity},
		{"demo seed mark", testDemoSeed},
		{"device authorizations", testDeviceAuthorizations},
		{"device authorization cap under a concurrent burst", testDeviceCapConcurrent},
		{"device authorization answered and redeemed once", testDeviceConcurrent},
		{"device authorization expiry", testDeviceExpiry},
		{"a grant's DPoP binding", testGrantDPoPBinding},
		{"DPoP proofs used once", testDPoPProofsUsedOnce},
		{"DPoP proofs bounded", testDPoPProofCap},
		{"DPoP proof replayed in a concurrent burst", testDPoPProofReplayConcurrent},
		{"DPoP proof cap under a concurrent burst", testDPoPProofCapConcurrent},
		{"upstream logins", testUpstreamLogins},
		{"upstream logins capped and taken once under a burst", testUpstreamLoginConcurrent},
		{"upstream identities linked once", testUpstreamLinks},
		{"upstream identity linked once under a burst", testUpstreamUserConcurrent},
		{"how the user signed in", testSignInMethod},
		{"ping", func(t *testing.T, s store.Store) { must(t, s.Ping(context.Background())) }},
		{"attempts", testAttempts},
		{"attempts under a concurrent burst", testAttemptsConcurrent},
		{"keys PostgreSQL's text cannot hold", testKeysNotText},
		{"admins and disabled users", testUserFlags},
		{"join with a code", testJoin},
		{"join under a concurrent burst", testJoinConcurrent},
		{"class progress from the activity log", testClassProgress},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
	}
}

// t0 has a non-UTC zone and nanoseconds on purpose: the store must give back
// the same instant, in UTC.
var t0 = time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.FixedZone("CET", 3600))

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("got error %v, want %v", err, target)
	}
}

func seed(t *testing.T, s store.Store) (store.User, store.Client) {
	t.Helper()
	ctx := context.Background()
	u := store.User{ID: "u-alice", Username: "alice", PasswordHash: "$argon2id$x", Name: "Alice", Email: "alice@example.org", CreatedAt: t0}
	must(t, s.CreateUser(ctx, u))
	c := store.Client{ID: "app", SecretHash: []byte("hash"), Name: "App", RedirectURIs: []string{"http://localhost/cb"},
		GrantTypes: []string{"authorization_code", "refresh_token"}, Scope: "openid photos.read", CreatedAt: t0}
	must(t, s.CreateClient(ctx, c))
	return u, c
}

func testUsers(t *testing.T, s store.Store) {
	ctx := context.Background()
	u, _ := seed(t, s)
	got, err := s.UserByUsername(ctx, "alice")
	must(t, err)
	if got.ID != u.ID || got.PasswordHash != u.PasswordHash || !got.CreatedAt.Equal(t0) {
		t.Fatalf("UserByUsername = %+v", got)
	}
	_, err = s.UserByUsername(ctx, "nobody")
	wantErr(t, err, store.ErrNotFound)
	_, err = s.UserByID(ctx, "nobody")
	wantErr(t, err, store.ErrNotFound)
	wantErr(t, s.CreateUser(ctx, store.User{ID: "u-other", Username: "alice", CreatedAt: t0}), store.ErrDuplicate)
	// A name is one name in every case (store.FoldUsername): its twin in
	// another case is taken, and the name finds its account in any case.
	wantErr(t, s.CreateUser(ctx, store.User{ID: "u-other", Username: "Alice", CreatedAt: t0}), store.ErrDuplicate)
	for _, name := range []string{"ALICE", "aLiCe"} {
		if got, err := s.UserByUsername(ctx, name); err != nil || got.ID != u.ID {
			t.Fatalf("UserByUsername(%q) = %+v, %v; want alice's account", name, got, err)
		}
	}
	// Only ASCII letters fold, the same in every store: no other letter
	// stands for another.
	must(t, s.CreateUser(ctx, store.User{ID: "u-eacute", Username: "\u00e9mile", CreatedAt: t0}))
	must(t, s.CreateUser(ctx, store.User{ID: "u-Eacute", Username: "\u00c9mile", CreatedAt: t0}))
	if got, err := s.UserByUsername(ctx, "\u00c9MILE"); err != nil || got.ID != "u-Eacute" {
		t.Fatalf("UserByUsername(ÉMILE) = %+v, %v; want Émile's account", got, err)
	}
	must(t, s.DeleteUser(ctx, "u-eacute", t0))
	must(t, s.DeleteUser(ctx, "u-Eacute", t0))
	must(t, s.SetUserPassword(ctx, u.ID, "$argon2id$new"))
	if got, _ := s.UserByID(ctx, u.ID); got.PasswordHash != "$argon2id$new" {
		t.Fatalf("after SetUserPassword the hash is %q", got.PasswordHash)
	}
	wantErr(t, s.SetUserPassword(ctx, "nobody", "$argon2id$new"), store.ErrNotFound)
	must(t, s.CreateUser(ctx, store.User{ID: "u-bob", Username: "bob", CreatedAt: t0}))
	users, err := s.ListUsers(ctx)
	must(t, err)
	if len(users) != 2 || users[0].Username != "alice" || users[1].Username != "bob" {
		t.Fatalf("ListUsers = %+v", users)
	}
	must(t, s.CreatePhoto(ctx, store.Photo{ID: "bobs", Owner: "u-bob", Title: "t", ContentType: "image/png", Data: []byte{1}, CreatedAt: t0, UpdatedAt: t0}, store.Quota{}))
	must(t, s.AddActivity(ctx, []store.Activity{{UserID: "u-bob", Event: "signed in", At: t0}}))
	must(t, s.DeleteUser(ctx, "u-bob", t0))
	wantErr(t, s.DeleteUser(ctx, "u-bob", t0), store.ErrNotFound)
	if n, _ := s.CountPhotos(ctx, "u-bob"); n != 0 {
		t.Fatal("a deleted user's photos are kept")
	}
	if a, _ := s.ActivityForUser(ctx, "u-bob", 10); len(a) != 0 {
		t.Fatal("a deleted user's activity is kept")
	}
}

func testClients(t *testing.T, s store.Store) {
	ctx := context.Background()
	_, c := seed(t, s)
	got, err := s.ClientByID(ctx, c.ID)
	must(t, err)
	if got.Name != c.Name || len(got.RedirectURIs) != 1 || got.RedirectURIs[0] != c.RedirectURIs[0] || got.Public() {
		t.Fatalf("ClientByID = %+v", got)
	}
	if len(got.PostLogoutRedirectURIs) != 0 {
		t.Fatalf("PostLogoutRedirectURIs = %v, want none", got.PostLogoutRedirectURIs)
	}
	wantErr(t, s.CreateClient(ctx, c), store.ErrDuplicate)
	pub := store.Client{ID: "spa", Name: "SPA", RedirectURIs: []string{"http://127.0.0.1/cb"}, AccessTokenTTL: 30 * time.Second, CreatedAt: t0}
	must(t, s.CreateClient(ctx, pub))
	got, err = s.ClientByID(ctx, "spa")
	must(t, err)
	if !got.Public() || got.AccessTokenTTL != 30*time.Second {
		t.Fatalf("public client = %+v", got)
	}
	must(t, s.SetClientSecret(ctx, "app", []byte("new")))
	got, _ = s.ClientByID(ctx, "app")
	if !bytes.Equal(got.SecretHash, []byte("new")) {
		t.Fatalf("secret not replaced: %q", got.SecretHash)
	}
	wantErr(t, s.SetClientSecret(ctx, "nope", []byte("x")), store.ErrNotFound)
	if got.ResourceServer {
		t.Fatal("a new client is a resource server")
	}
	must(t, s.SetClientResourceServer(ctx, "app", true))
	if got, _ = s.ClientByID(ctx, "app"); !got.ResourceServer {
		t.Fatal("SetClientResourceServer(true) did not stick")
	}
	must(t, s.SetClientResourceServer(ctx, "app", false))
	if got, _ = s.ClientByID(ctx, "app"); got.ResourceServer {
		t.Fatal("SetClientResourceServer(false) did not stick")
	}
	wantErr(t, s.SetClientResourceServer(ctx, "nope", true), store.ErrNotFound)
	rs := store.Client{ID: "api", SecretHash: []byte("h"), Name: "API", ResourceServer: true, CreatedAt: t0}
	must(t, s.CreateClient(ctx, rs))
	if got, _ = s.ClientByID(ctx, "api"); !got.ResourceServer || got.UserRegistered() {
		t.Fatal("CreateClient lost ResourceServer")
	}
	dyn := store.Client{ID: "dyn", Name: "Registered", RedirectURIs: []string{"https://x.example/cb"}, Registrant: "iat:x", CreatedAt: t0}
	must(t, s.CreateClient(ctx, dyn))
	if got, _ = s.ClientByID(ctx, "dyn"); got.Registrant != "iat:x" || !got.UserRegistered() {
		t.Fatalf("CreateClient lost the registrant: %+v", got)
	}
	must(t, s.DeleteClient(ctx, "dyn", t0))
	must(t, s.DeleteClient(ctx, "api", t0))
	list, err := s.ListClients(ctx)
	must(t, err)
	if len(list) != 2 {
		t.Fatalf("ListClients = %d clients", len(list))
	}
	must(t, s.DeleteClient(ctx, "spa", t0))
	_, err = s.ClientByID(ctx, "spa")
	wantErr(t, err, store.ErrNotFound)
	wantErr(t, s.DeleteClient(ctx, "spa", t0), store.ErrNotFound)
}

// testRegisterClient: registration counts the clients of the registrant
// and all clients; the operator's CreateClient counts for the total.
func testRegisterClient(t *testing.T, s store.Store) {
	ctx := context.Background()
	seed(t, s) // one operator client
	exp := t0.Add(7 * 24 * time.Hour)
	client := func(id, registrant string) store.Client {
		return store.Client{ID: id, Name: id, RedirectURIs: []string{"https://app.example/cb"}, GrantTypes: []string{"authorization_code"},
			Registrant: registrant, ExpiresAt: exp, CreatedAt: t0}
	}
	limit := store.RegistrationLimit{PerRegistrant: 2, Total: 4}
	must(t, s.RegisterClient(ctx, client("a1", "iat:x"), limit))
	must(t, s.RegisterClient(ctx, client("a2", "iat:x"), limit))
	wantErr(t, s.RegisterClient(ctx, client("a3", "iat:x"), limit), store.ErrQuotaExceeded)
	wantErr(t, s.RegisterClient(ctx, client("a1", "user:u-alice"), limit), store.ErrDuplicate)
	must(t, s.RegisterClient(ctx, client("b1", "user:u-alice"), limit))
	// Four clients in all now, the operator's among them: the total is reached.
	wantErr(t, s.RegisterClient(ctx, client("b2", "user:u-alice"), limit), store.ErrQuotaExceeded)
	got, err := s.ClientByID(ctx, "a1")
	must(t, err)
	if got.Registrant != "iat:x" || !got.ExpiresAt.Equal(exp) || got.ExpiresAt.Location() != time.UTC {
		t.Fatalf("a registered client comes back as %+v", got)
	}
	if got, _ := s.ClientByID(ctx, "app"); got.Registrant != "" || !got.ExpiresAt.IsZero() {
		t.Fatalf("the operator's client comes back with registrant %q, expiry %v", got.Registrant, got.ExpiresAt)
	}
	// Once one goes, there is room for one more; no bound, no count.
	must(t, s.DeleteClient(ctx, "a2", t0))
	must(t, s.RegisterClient(ctx, client("a3", "iat:x"), limit))
	must(t, s.RegisterClient(ctx, client("c1", "iat:y"), store.RegistrationLimit{}))
	if list, _ := s.ListClients(ctx); len(list) != 5 {
		t.Fatalf("%d clients, want 5", len(list))
	}
}

// testRegisterClientConcurrent: registrations released together cannot,
// between them, take a registrant past its bound.
func testRegisterClientConcurrent(t *testing.T, s store.Store) {
	ctx := context.Background()
	const n, perRegistrant = 24, 5
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			<-start
			errs <- s.RegisterClient(ctx, store.Client{ID: fmt.Sprint("c", i), Name: "burst", Registrant: "iat:burst", CreatedAt: t0},
				store.RegistrationLimit{PerRegistrant: perRegistrant, Total: 1000})
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	registered := 0
	for err := range errs {
		if err == nil {
			registered++
		} else if !errors.Is(err, store.ErrQuotaExceeded) {
			t.Fatalf("a concurrent registration: %v", err)
		}
	}
	if list, _ := s.ListClients(ctx); registered != perRegistrant || len(list) != perRegistrant {
		t.Fatalf("%d registrations succeeded and %d clients are stored, want %d and %d", registered, len(list), perRegistrant, perRegistrant)
	}
}

// testClientDeletionAndExpiry: a client goes with what it uploaded for
// itself; an expired client goes at DeleteExpired, as DeleteClient would
// delete it, with its revocation recorded.
func testClientDeletionAndExpiry(t *testing.T, s store.Store) {
	ctx := context.Background()
	seed(t, s)
	photo := func(id, owner string) store.Photo {
		return store.Photo{ID: id, Owner: owner, Title: id, ContentType: "image/png", Data: []byte{1, 2, 3}, CreatedAt: t0, UpdatedAt: t0}
	}
	// A machine client's own uploads (client credentials: the owner is the
	// client), and a user whose id happens to be a client's.
	must(t, s.CreateClient(ctx, store.Client{ID: "robot", Name: "Robot", GrantTypes: []string{"client_credentials"}, CreatedAt: t0}))
	must(t, s.CreatePhoto(ctx, photo("r1", "robot"), store.Quota{}))
	must(t, s.CreateUser(ctx, store.User{ID: "twin", Username: "twin", CreatedAt: t0}))
	must(t, s.CreateClient(ctx, store.Client{ID: "twin", Name: "Twin", CreatedAt: t0}))
	must(t, s.CreatePhoto(ctx, photo("t1", "twin"), store.Quota{}))
	must(t, s.CreatePhoto(ctx, photo("a1", "u-alice"), store.Quota{}))
	must(t, s.DeleteClient(ctx, "robot", t0))
	must(t, s.DeleteClient(ctx, "twin", t0))
	if n, _ := s.CountPhotos(ctx, "robot"); n != 0 {
		t.Fatalf("a deleted client's %d photos are kept", n)
	}
	if n, _ := s.CountPhotos(ctx, "twin"); n != 1 {
		t.Fatal("deleting a client deleted the photos of the user with the same id")
	}

	// Registered clients expire: at DeleteExpired after their time, they
	// go with their grants and photos, and are recorded as revoked.
	exp := t0.Add(time.Hour)
	for _, id := range []string{"short", "long"} {
		c := store.Client{ID: id, Name: id, SecretHash: []byte("h"), GrantTypes: []string{"authorization_code", "client_credentials"},
			Registrant: "iat:x", ExpiresAt: exp, CreatedAt: t0}
		if id == "long" {
			c.ExpiresAt = exp.Add(time.Hour)
		}
		must(t, s.RegisterClient(ctx, c, store.RegistrationLimit{}))
		must(t, s.CreatePhoto(ctx, photo(id+"-photo", id), store.Quota{}))
		must(t, s.CreateGrant(ctx, store.Grant{ID: id + "-grant", ClientID: id, UserID: "u-alice", Scope: "openid", AuthTime: t0, CreatedAt: t0}, nil))
	}
	must(t, s.DeleteExpired(ctx, exp))
	if _, err := s.ClientByID(ctx, "short"); err != nil {
		t.Fatalf("a client was deleted at its expiry, not after: %v", err)
	}
	must(t, s.DeleteExpired(ctx, exp.Add(time.Second)))
	_, err := s.ClientByID(ctx, "short")
	wantErr(t, err, store.ErrNotFound)
	_, err = s.GrantByID(ctx, "short-grant")
	wantErr(t, err, store.ErrNotFound)
	if n, _ := s.CountPhotos(ctx, "short"); n != 0 {
		t.Fatalf("an expired client's %d photos are kept", n)
	}
	if at, ok := revocations(t, s)[key(store.RevokedClient, "short")]; !ok || !at.Equal(exp.Add(time.Second)) {
		t.Fatalf("the expired client's revocation: %v, %v; want it recorded at the deletion", at, ok)
	}
	for _, check := range []func() error{
		func() error { _, err := s.ClientByID(ctx, "long"); return err },
		func() error { _, err := s.ClientByID(ctx, "app"); return err },
		func() error { _, err := s.GrantByID(ctx, "long-grant"); return err },
	} {
		must(t, check())
	}
	if n, _ := s.CountPhotos(ctx, "long"); n != 1 {
		t.Fatal("a client that has not expired lost its photos")
	}
	if n, _ := s.CountPhotos(ctx, "u-alice"); n != 1 {
		t.Fatal("a user lost photos to a client's deletion")
	}
}

func testAuthRequests(t *testing.T, s store.Store) {
	ctx := context.Background()
	u, c := seed(t, s)
	r := store.AuthRequest{ID: "req1", ClientID: c.ID, RedirectURI: "http://localhost/cb", Scope: "openid",
		State: "st", MaxAge: -1, BrowserHash: []byte{1, 2}, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	must(t, s.SaveAuthRequest(ctx, r))
	got, err := s.AuthRequestByID(ctx, "req1")
	must(t, err)
	if got.State != "st" || got.MaxAge != -1 || got.UserID != "" || !got.AuthTime.IsZero() {
		t.Fatalf("AuthRequestByID = %+v", got)
	}
	must(t, s.SetAuthRequestLogin(ctx, "req1", u.ID, "sess1", t0))
	got, _ = s.AuthRequestByID(ctx, "req1")
	if got.UserID != u.ID || got.SessionID != "sess1" || !got.AuthTime.Equal(t0) {
		t.Fatalf("after login = %+v", got)
	}
	wantErr(t, s.SetAuthRequestLogin(ctx, "nope", u.ID, "sess1", t0), store.ErrNotFound)
	must(t, s.DeleteAuthRequest(ctx, "req1"))
	_, err = s.AuthRequestByID(ctx, "req1")
	wantErr(t, err, store.ErrNotFound)
	wantErr(t, s.DeleteAuthRequest(ctx, "req1"), store.ErrNotFound)
}

// testAuthRequestConcurrentEnd: a request ends once, however many try at
// once (a consent form posted twice must not give two codes).
func testAuthRequestConcurrentEnd(t *testing.T, s store.Store) {
	ctx := context.Background()
	_, c := seed(t, s)
	must(t, s.SaveAuthRequest(ctx, store.AuthRequest{ID: "req1", ClientID: c.ID, RedirectURI: "http://localhost/cb",
		Scope: "openid", MaxAge: -1, BrowserHash: []byte{1}, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}))
	const n = 16
	errs := make(chan error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs <- s.DeleteAuthRequest(ctx, "req1")
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	ok := 0
	for err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, store.ErrNotFound):
			t.Fatalf("concurrent DeleteAuthRequest: %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d of %d concurrent DeleteAuthRequest calls succeeded, want exactly 1", ok, n)
	}
}

func newCode(u store.User, c store.Client, hash string) store.AuthCode {
	return store.AuthCode{CodeHash: []byte(hash), ClientID: c.ID, UserID: u.ID, RedirectURI: c.RedirectURIs[0],
		Scope: "openid", CodeChallenge: "ch", CodeChallengeMethod: "S256", AuthTime: t0, ExpiresAt: t0.Add(time.Minute), FlowRef: "ref-" + hash}
}

func testAuthCodeSingleUse(t *testing.T, s store.Store) {
	ctx := context.Background()
	u, c := seed(t, s)
	must(t, s.SaveAuthCode(ctx, newCode(u, c, "code1")))
	got, err := s.ConsumeAuthCode(ctx, []byte("code1"), "grant-1", t0)
	must(t, err)
	if got.ClientID != c.ID || got.CodeChallenge != "ch" || got.GrantID != "grant-1" || got.FlowRef != "ref-code1" {
		t.Fatalf("ConsumeAuthCode = %+v", got)
	}
	got, err = s.ConsumeAuthCode(ctx, []byte("code1"), "grant-2", t0)
	wantErr(t, err, store.ErrAlreadyUsed)
	if got.GrantID != "grant-1" {
		t.Fatalf("replay reports grant %q, want the first redemption's grant-1", got.GrantID)
	}
	// The token endpoint tells a replay of the code's own client, with the
	// code's verifier, from anyone else's by these.
	if got.ClientID != c.ID || got.CodeChallenge != "ch" || got.UserID != u.ID || got.FlowRef != "ref-code1" {
		t.Fatalf("replay reports the code as %+v, want it as stored", got)
	}
	_, err = s.ConsumeAuthCode(ctx, []byte("unknown"), "grant-3", t0)
	wantErr(t, err, store.ErrNotFound)
	wantErr(t, s.SaveAuthCode(ctx, newCode(u, c, "code1")), store.ErrDuplicate)
}

func testAuthCodeConcurrent(t *testing.T, s store.Store) {
	ctx := context.Background()
	u, c := seed(t, s)
	must(t, s.SaveAuthCode(ctx, newCode(u, c, "race")))
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.ConsumeAuthCode(ctx, []byte("race"), fmt.Sprint("g", i), t0)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	won := 0
	for err := range errs {
		switch {
		case err == nil:
			won++
		case errors.Is(err, store.ErrAlreadyUsed):
		default:
			t.Fatalf("unexpected error: %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d concurrent redemptions succeeded, want exactly 1", won)
	}
}

func newGrant(t *testing.T, s store.Store, id string) (store.Grant, store.RefreshToken) {
	t.Helper()
	g := store.Grant{ID: id, ClientID: "app", UserID: "u-alice", Scope: "openid offline_access", AuthTime: t0, CreatedAt: t0, FlowRef: "ref-" + id}
	rt := store.RefreshToken{TokenHash: []byte(id + "-rt0"), GrantID: id, Scope: g.Scope, IssuedAt: t0, ExpiresAt: t0.Add(24 * time.Hour)}
	must(t, s.CreateGrant(context.Background(), g, &rt))
	return g, rt
}

func testRefreshRotation(t *testing.T, s store.Store) {
	ctx := context.Background()
	seed(t, s)
	g, rt0 := newGrant(t, s, "g1")
	got, gg, err := s.RefreshToken(ctx, rt0.TokenHash)
	must(t, err)
	if gg.ID != g.ID || gg.Revoked() || !got.UsedAt.IsZero() || !got.ExpiresAt.Equal(rt0.ExpiresAt) || gg.FlowRef != "ref-g1" {
		t.Fatalf("RefreshToken = %+v, %+v", got, gg)
	}
	rt1 := store.RefreshToken{TokenHash: []byte("g1-rt1"), GrantID: g.ID, Scope: g.Scope, IssuedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	must(t, s.RotateRefreshToken(ctx, rt0.TokenHash, rt1, t0))
	got, _, err = s.RefreshToken(ctx, rt0.TokenHash)
	must(t, err)
	if got.UsedAt.IsZero() {
		t.Fatal("rotated token is not marked used")
	}
	rt2 := store.RefreshToken{TokenHash: []byte("g1-rt2"), GrantID: g.ID, IssuedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	wantErr(t, s.RotateRefreshToken(ctx, rt0.TokenHash, rt2, t0), store.ErrAlreadyUsed)
	_, _, err = s.RefreshToken(ctx, rt2.TokenHash)
	wantErr(t, err, store.ErrNotFound) // a failed rotation stores nothing
	_, _, err = s.RefreshToken(ctx, []byte("unknown"))
	wantErr(t, err, store.ErrNotFound)
}

func testRefreshConcurrent(t *testing.T, s store.Store) {
	ctx := context.Background()
	seed(t, s)
	g, rt0 := newGrant(t, s, "g1")
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			next := store.RefreshToken{TokenHash: fmt.Appendf(nil, "next-%d", i), GrantID: g.ID, IssuedAt: t0, ExpiresAt: t0.Add(time.Hour)}
			errs <- s.RotateRefreshToken(ctx, rt0.TokenHash, next, t0)
		}()
	}
	wg.Wait()
	close(errs)
	won := 0
	for err := range errs {
		if err == nil {
			won++
		} else if !errors.Is(err, store.ErrAlreadyUsed) {
			t.Fatalf("unexpected error: %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d concurrent rotations succeeded, want exactly 1", won)
	}
}

func testRevokedGrant(t *testing.T, s store.Store) {
	ctx := context.Background()
	seed(t, s)
	g, rt0 := newGrant(t, s, "g1")
	must(t, s.RevokeGrant(ctx, g.ID, "refresh token reuse", t0))
	must(t, s.RevokeGrant(ctx, g.ID, "again", t0.Add(time.Hour))) // idempotent, keeps the first reason
	gg, err := s.GrantByID(ctx, g.ID)
	must(t, err)
	if !gg.Revoked() || gg.RevokeReason != "refresh token reuse" || !gg.RevokedAt.Equal(t0) {
		t.Fatalf("GrantByID after revoke = %+v", gg)
	}
	next := store.RefreshToken{TokenHash: []byte("next"), GrantID: g.ID, IssuedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	wantErr(t, s.RotateRefreshToken(ctx, rt0.TokenHash, next, t0), store.ErrAlreadyUsed)

	// Revoking from the account page: all of the user's grants to the
	// client, and the remembered consent.
	newGrant(t, s, "g2")
	newGrant(t, s, "g3")
	must(t, s.SaveConsent(ctx, store.Consent{UserID: "u-alice", ClientID: "app", Scope: "openid", GrantedAt: t0}))
	active, err := s.ActiveGrantsForUser(ctx, "u-alice")
	must(t, err)
	if len(active) != 2 {
		t.Fatalf("ActiveGrantsForUser = %d grants, want 2", len(active))
	}
	revoked, err := s.RevokeUserClientGrants(ctx, "u-alice", "app", "revoked by user", t0)
	must(t, err)
	if len(revoked) != 2 {
		t.Fatalf("RevokeUserClientGrants revoked %d, want 2", len(revoked))
	}
	active, _ = s.ActiveGrantsForUser(ctx, "u-alice")
	if len(active) != 0 {
		t.Fatalf("%d grants still active", len(active))
	}
	_, err = s.ConsentFor(ctx, "u-alice", "app")
	wantErr(t, err, store.ErrNotFound)
}

// testGrantRevokedBeforeCreated: a code replayed while its first
// redemption is still minting tokens revokes the grant before it exists.
// The revocation is recorded, and the grant is never created.
func testGrantRevokedBeforeCreated(t *testing.T, s store.Store) {
	ctx := context.Background()
	seed(t, s)
	must(t, s.RevokeGrant(ctx, "g1", "authorization code replayed", t0))
	g := store.Grant{ID: "g1", ClientID: "app", UserID: "u-alice", Scope: "openid offline_access", AuthTime: t0, CreatedAt: t0}
	rt := store.RefreshToken{TokenHash: []byte("g1-rt0"), GrantID: "g1", Scope: g.Scope, IssuedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	wantErr(t, s.CreateGrant(ctx, g, &rt), store.ErrAlreadyUsed)
	_, err := s.GrantByID(ctx, "g1")
	wantErr(t, err, store.ErrNotFound)
	_, _, err = s.RefreshToken(ctx, rt.TokenHash)
	wantErr(t, err, store.ErrNotFound)
	if _, ok := revocations(t, s)[key(store.RevokedGrant, "g1")]; !ok {
		t.Fatal("the revocation of the grant not yet created is not recorded")
	}
}

// testGrantCreateRevokeRace: a grant created while it is revoked, released
// together, many times over. However they interleave, the grant ends up
// revoked or never created, with its revocation recorded: never active.
func testGrantCreateRevokeRace(t *testing.T, s store.Store) {
	ctx := context.Background()
	seed(t, s)
	const rounds = 100
	created := 0
	for i := range rounds {
		id := fmt.Sprint("race-", i)
		g := store.Grant{ID: id, ClientID: "app", UserID: "u-alice", Scope: "openid offline_access", AuthTime: t0, CreatedAt: t0}
		rt := store.RefreshToken{TokenHash: []byte(id + "-rt0"), GrantID: id, Scope: g.Scope, IssuedAt: t0, ExpiresAt: t0.Add(time.Hour)}
		var createErr, revokeErr error
		var wg sync.WaitGroup
		start := make(chan struct{})
		wg.Go(func() { <-start; createErr = s.CreateGrant(ctx, g, &rt) })
		wg.Go(func() { <-start; revokeErr = s.RevokeGrant(ctx, id, "authorization code replayed", t0) })
		close(start)
		wg.Wait()
		must(t, revokeErr)
		if createErr != nil && !errors.Is(createErr, store.ErrAlreadyUsed) {
			t.Fatalf("round %d: CreateGrant: %v", i, createErr)
		}
		got, err := s.GrantByID(ctx, id)
		switch {
		case createErr == nil && (err != nil || !got.Revoked()):
			t.Fatalf("round %d: the grant was created and its revocation recorded, but it is active: %+v, %v", i, got, err)
		case createErr != nil && !errors.Is(err, store.ErrNotFound):
			t.Fatalf("round %d: CreateGrant refused, but the grant exists: %+v, %v", i, got, err)
		case createErr == nil:
			created++
			next := store.RefreshToken{TokenHash: []byte(id + "-rt1"), GrantID: id, IssuedAt: t0, ExpiresAt: t0.Add(time.Hour)}
			wantErr(t, s.RotateRefreshToken(ctx, rt.TokenHash, next, t0), store.ErrAlreadyUsed)
		}
	}
	rs, err := s.RevocationsOf(ctx, []store.RevocationKey{key(store.RevokedGrant, "race-0"), key(store.RevokedGrant, fmt.Sprint("race-", rounds-1))})
	must(t, err)
	if len(rs) != 2 {
		t.Fatalf("revocations recorded: %+v, want one for each round's grant", rs)
	}
	t.Logf("%d of %d rounds created the grant before its revocation", created, rounds)
}

func testConsents(t *testing.T, s store.Store) {
	ctx := context.Background()
	seed(t, s)
	_, err := s.ConsentFor(ctx, "u-alice", "app")
	wantErr(t, err, store.ErrNotFound)
	must(t, s.SaveConsent(ctx, store.Consent{UserID: "u-alice", ClientID: "app", Scope: "openid", GrantedAt: t0}))
	must(t, s.SaveConsent(ctx, store.Consent{UserID: "u-alice", ClientID: "app", Scope: "openid photos.read", GrantedAt: t0}))
	c, err := s.ConsentFor(ctx, "u-alice", "app")
	must(t, err)
	if c.Scope != "openid photos.read" {
		t.Fatalf("consent scope = %q", c.Scope)
	}
	list, err := s.ListConsents(ctx, "u-alice")
	must(t, err)
	if len(list) != 1 {
		t.Fatalf("ListConsents = %+v", list)
	}
	wantErr(t, s.SaveConsent(ctx, store.Consent{UserID: "u-nobody", ClientID: "app", GrantedAt: t0}), store.ErrNotFound)
}

func testSessions(t *testing.T, s store.Store) {
	ctx := context.Background()
	u, _ := seed(t, s)
	sess := store.Session{ID: "sid1", TokenHash: []byte("cookiehash"), UserID: u.ID, AuthTime: t0, ExpiresAt: t0.Add(time.Hour)}
	must(t, s.CreateSession(ctx, sess))
	got, err := s.SessionByTokenHash(ctx, sess.TokenHash)
	must(t, err)
	if got.ID != "sid1" || got.UserID != u.ID || !got.AuthTime.Equal(t0) {
		t.Fatalf("SessionByTokenHash = %+v", got)
	}
	ended, err := s.EndSession(ctx, "sid1", "signed out", t0)
	must(t, err)
	if len(ended) != 0 {
		t.Fatalf("ending a session without grants ended %d", len(ended))
	}
	_, err = s.SessionByTokenHash(ctx, sess.TokenHash)
	wantErr(t, err, store.ErrNotFound)
	if _, err := s.EndSession(ctx, "sid1", "signed out", t0); err != nil {
		t.Fatalf("ending an unknown session: %v", err)
	}
}

// sessionWithGrants makes session sid (expiring at expires) with grants
// made in it: one per scope, named sid+"-"+i, and a code not yet redeemed
// and one redeemed. It returns the grants.
func sessionWithGrants(t *testing.T, s store.Store, sid string, expires time.Time, scopes ...string) []store.Grant {
	t.Helper()
	ctx := context.Background()
	must(t, s.CreateSession(ctx, store.Session{ID: sid, TokenHash: []byte(sid), UserID: "u-alice", AuthTime: t0, ExpiresAt: expires}))
	var grants []store.Grant
	for i, scope := range scopes {
		g := store.Grant{ID: fmt.Sprintf("%s-%d", sid, i), ClientID: "app", UserID: "u-alice", Scope: scope, SessionID: sid, AuthTime: t0, CreatedAt: t0}
		must(t, s.CreateGrant(ctx, g, nil))
		grants = append(grants, g)
	}
	for _, hash := range []string{sid + "-unused", sid + "-used"} {
		c := newCode(store.User{ID: "u-alice"}, store.Client{ID: "app", RedirectURIs: []string{"http://localhost/cb"}}, hash)
		c.SessionID, c.ExpiresAt = sid, expires
		must(t, s.SaveAuthCode(ctx, c))
	}
	_, err := s.ConsumeAuthCode(ctx, []byte(sid+"-used"), "g-used", t0)
	must(t, err)
	return grants
}

// testSessionGrantsEnd: ending a session revokes, with a revocation
// recorded, exactly its grants without offline_access (whatever else their
// scope holds), and the codes issued in it not yet redeemed; another
// session's grants stay.
func testSessionGrantsEnd(t *testing.T, s store.Store) {
	ctx := context.Background()
	seed(t, s)
	mine := sessionWithGrants(t, s, "s1", t0.Add(time.Hour), "openid photos.read", "offline_access openid", "openid offline_access_x", "")
	other := sessionWithGrants(t, s, "s2", t0.Add(time.Hour), "openid photos.read")
	ended, err := s.EndSession(ctx, "s1", "the user signed out", t0)
	must(t, err)
	got := map[string]bool{}
	for _, g := range ended {
		got[g.ID] = true
		if !g.Revoked() || g.RevokeReason != "the user signed out" {
			t.Errorf("returned grant %s = %+v, want it revoked with the reason", g.ID, g)
		}
	}
	want := map[string]bool{mine[0].ID: true, mine[2].ID: true, mine[3].ID: true}
	if len(got) != len(want) || !got[mine[0].ID] || !got[mine[2].ID] || !got[mine[3].ID] {
		t.Fatalf("EndSession revoked %v, want %v (not the offline_access grant)", got, want)
	}
	recorded := revocations(t, s)
	for _, g := range append(mine, other...) {
		stored, err := s.GrantByID(ctx, g.ID)
		must(t, err)
		_, isRecorded := recorded[key(store.RevokedGrant, g.ID)]
		if stored.Revoked() != want[g.ID] || isRecorded != want[g.ID] {
			t.Errorf("grant %s (%q): revoked %v, revocation recorded %v, want %v", g.ID, g.Scope, stored.Revoked(), isRecorded, want[g.ID])
		}
	}
	_, err = s.ConsumeAuthCode(ctx, []byte("s1-unused"), "g", t0)
	wantErr(t, err, store.ErrNotFound)
	_, err = s.ConsumeAuthCode(ctx, []byte("s2-unused"), "g", t0)
	must(t, err)
	// Ending it again ends nothing more.
	if again, err := s.EndSession(ctx, "s1", "again", t0); err != nil || len(again) != 0 {
		t.Fatalf("ending the session again: %d grants, %v", len(again), err)
	}
}

// testExpiredSessionGrantsEnd: DeleteExpired ends an expired session the
// way EndSession does, and leaves a live one alone.
func testExpiredSessionGrantsEnd(t *testing.T, s store.Store) {
	ctx := context.Background()
	seed(t, s)
	expired := sessionWithGrants(t, s, "old", t0.Add(time.Minute), "openid photos.read", "openid offline_access")
	live := sessionWithGrants(t, s, "new", t0.Add(time.Hour), "openid photos.read")
	must(t, s.DeleteExpired(ctx, t0.Add(10*time.Minute)))
	recorded := revocations(t, s)
	for _, tc := range []struct {
		g    store.Grant
		want bool
	}{{expired[0], true}, {expired[1], false}, {live[0], false}} {
		stored, err := s.GrantByID(ctx, tc.g.ID)
		must(t, err)
		_, isRecorded := recorded[key(store.RevokedGrant, tc.g.ID)]
		if stored.Revoked() != tc.want || isRecorded != tc.want {
			t.Errorf("grant %s: revoked %v, revocation recorded %v, want %v", tc.g.ID, stored.Revoked(), isRecorded, tc.want)
		}
		if tc.want && stored.RevokeReason != store.ReasonSessionExpired {
			t.Errorf("grant %s: reason %q", tc.g.ID, stored.RevokeReason)
		}
	}
	_, err := s.SessionByTokenHash(ctx, []byte("new"))
	must(t, err)
}

// testServerKeys: the first candidate stored under a name is the key,
// for every caller after it, however many ask at once.
func testServerKeys(t *testing.T, s store.Store) {
	ctx := context.Background()
	const n = 8
	keys := make(chan []byte, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, err := s.ServerKey(ctx, "cookies", []byte(fmt.Sprintf("candidate-%d", i)))
			if err != nil {
				t.Error(err)
			}
			keys <- k
		}()
	}
	wg.Wait()
	close(keys)
	var first []byte
	for k := range keys {
		if first == nil {
			first = k
		}
		if !bytes.Equal(k, first) || !bytes.HasPrefix(k, []byte("candidate-")) {
			t.Fatalf("concurrent callers got %q and %q: want one stored candidate", first, k)
		}
	}
	if k, err := s.ServerKey(ctx, "cookies", []byte("late")); err != nil || !bytes.Equal(k, first) {
		t.Fatalf("a later caller got %q, %v; want %q", k, err, first)
	}
	if k, err := s.ServerKey(ctx, "other", []byte("other-key")); err != nil || string(k) != "other-key" {
		t.Fatalf("another name got %q, %v", k, err)
	}
}

// revocations returns every revocation the store holds, as a map.
func revocations(t *testing.T, s store.Store) map[store.RevocationKey]time.Time {
	t.Helper()
	list, err := s.RevocationsSince(context.Background(), 0, 1000)
	must(t, err)
	m := map[store.RevocationKey]time.Time{}
	for _, r := range list {
		m[r.RevocationKey] = r.RevokedAt
	}
	return m
}

func key(kind store.RevocationKind, id string) store.RevocationKey {
	return store.RevocationKey{Kind: kind, ID: id}
}

// testRevocationsRecorded: every way of revoking records what access tokens
// are checked against, in the same call.
func testRevocationsRecorded(t *testing.T, s store.Store) {
	ctx := context.Background()
	seed(t, s)
	if got := revocations(t, s); len(got) != 0 {
		t.Fatalf("a new store holds revocations: %v", got)
	}
	newGrant(t, s, "g1")
	must(t, s.RevokeGrant(ctx, "g1", "reuse", t0))
	must(t, s.RevokeGrant(ctx, "g1", "again", t0.Add(time.Hour))) // no second record
	must(t, s.RevokeGrant(ctx, "not-yet", "replayed", t0))        // a grant not stored yet: recorded
	newGrant(t, s, "g2")
	newGrant(t, s, "g3")
	_, err := s.RevokeUserClientGrants(ctx, "u-alice", "app", "revoked by user", t0.Add(time.Second))
	must(t, err)
	must(t, s.RevokeAccessToken(ctx, "jti1", t0))
	must(t, s.RevokeAccessToken(ctx, "jti1", t0)) // twice is fine
	must(t, s.CreateUser(ctx, store.User{ID: "u-bob", Username: "bob", CreatedAt: t0}))
	must(t, s.DeleteUser(ctx, "u-bob", t0.Add(2*time.Second)))
	must(t, s.CreateClient(ctx, store.Client{ID: "gone", Name: "Gone", CreatedAt: t0}))
	must(t, s.DeleteClient(ctx, "gone", t0.Add(3*time.Second)))
	wantErr(t, s.DeleteClient(ctx, "never-there", t0), store.ErrNotFound)

	want := map[store.RevocationKey]time.Time{
		key(store.RevokedGrant, "g1"):      t0,
		key(store.RevokedGrant, "not-yet"): t0,
		key(store.RevokedGrant, "g2"):      t0.Add(time.Second),
		key(store.RevokedGrant, "g3"):      t0.Add(time.Second),
		key(store.RevokedToken, "jti1"):    t0,
		key(store.RevokedSubject, "u-bob"): t0.Add(2 * time.Second),
		key(store.RevokedClient, "gone"):   t0.Add(3 * time.Second),
	}
	got := revocations(t, s)
	if len(got) != len(want) {
		t.Fatalf("revocations = %v, want %v", got, want)
	}
	for k, at := range want {
		if !got[k].Equal(at) {
			t.Fatalf("revocation %v at %v, want %v (all: %v)", k, got[k], at, got)
		}
	}
	// A client deleted, re-created and deleted again: the later time
	// counts, so every token of the first life stays revoked.
	must(t, s.CreateClient(ctx, store.Client{ID: "gone", Name: "Gone again", CreatedAt: t0}))
	must(t, s.DeleteClient(ctx, "gone", t0.Add(time.Hour)))
	if at := revocations(t, s)[key(store.RevokedClient, "gone")]; !at.Equal(t0.Add(time.Hour)) {
		t.Fatalf("second deletion recorded at %v, want %v", at, t0.Add(time.Hour))
	}
}

func testRevocationQueries(t *testing.T, s store.Store) {
	ctx := context.Background()
	for i := range 6 {
		must(t, s.RevokeAccessToken(ctx, fmt.Sprint("jti", i), t0.Add(time.Duration(i)*time.Minute)))
	}
	all, err := s.RevocationsSince(ctx, 0, 100)
	must(t, err)
	if len(all) != 6 {
		t.Fatalf("RevocationsSince(0) = %+v, want all 6", all)
	}
	since, err := s.RevocationsSince(ctx, all[1].Seq, 3)
	must(t, err)
	if len(since) != 3 || since[0].ID != "jti2" || since[2].ID != "jti4" || since[0].Kind != store.RevokedToken ||
		!since[0].RevokedAt.Equal(t0.Add(2*time.Minute)) || since[0].RevokedAt.Location() != time.UTC {
		t.Fatalf("RevocationsSince(seq of jti1, 3) = %+v, want jti2..jti4, in the order recorded, in UTC", since)
	}
	if rest, err := s.RevocationsSince(ctx, all[5].Seq, 100); err != nil || len(rest) != 0 {
		t.Fatalf("RevocationsSince(the last seq) = %+v, %v; want nothing", rest, err)
	}
	// Of many keys, some revoked: more than one query's worth.
	keys := []store.RevocationKey{key(store.RevokedGrant, "jti0"), key(store.RevokedToken, "nope")}
	for i := range 6 {
		keys = append(keys, key(store.RevokedToken, fmt.Sprint("jti", i)))
	}
	of, err := s.RevocationsOf(ctx, keys)
	must(t, err)
	if len(of) != 6 {
		t.Fatalf("RevocationsOf = %+v, want the 6 revoked tokens and nothing of another kind", of)
	}
	if of, err := s.RevocationsOf(ctx, nil); err != nil || len(of) != 0 {
		t.Fatalf("RevocationsOf(nil) = %v, %v", of, err)
	}
	// Kept for RevocationRetention, then gone.
	must(t, s.DeleteExpired(ctx, t0.Add(store.RevocationRetention+2*time.Minute+time.Second)))
	left, err := s.RevocationsSince(ctx, 0, 100)
	must(t, err)
	if len(left) != 3 || left[0].ID != "jti3" {
		t.Fatalf("after DeleteExpired: %+v, want jti3..jti5", left)
	}
}

// testRevocationSeq: the numbers follow the order of recording, not the
// times recorded, which come from the clocks of the processes that revoke.
// A later revocation of the same key is numbered anew, and no number comes
// twice, even once the row with the highest was deleted.
func testRevocationSeq(t *testing.T, s store.Store) {
	ctx := context.Background()
	seed(t, s)
	must(t, s.RevokeAccessToken(ctx, "now", t0))
	// An instance whose clock is an hour behind records next.
	must(t, s.RevokeAccessToken(ctx, "behind", t0.Add(-time.Hour)))
	must(t, s.CreateClient(ctx, store.Client{ID: "gone", Name: "Gone", CreatedAt: t0}))
	must(t, s.DeleteClient(ctx, "gone", t0))
	list, err := s.RevocationsSince(ctx, 0, 100)
	must(t, err)
	if len(list) != 3 || list[0].ID != "now" || list[1].ID != "behind" || list[2].ID != "gone" ||
		!(list[0].Seq < list[1].Seq && list[1].Seq < list[2].Seq) {
		t.Fatalf("RevocationsSince(0) = %+v, want now, behind, gone, numbered upwards", list)
	}
	cursor := list[2].Seq
	// Deleted again, later: the later time is news to a reader at cursor.
	must(t, s.CreateClient(ctx, store.Client{ID: "gone", Name: "Gone again", CreatedAt: t0}))
	must(t, s.DeleteClient(ctx, "gone", t0.Add(time.Minute)))
	// Revoking it again at an earlier time moves nothing, and is no news.
	must(t, s.CreateClient(ctx, store.Client{ID: "gone", Name: "Gone again", CreatedAt: t0}))
	must(t, s.DeleteClient(ctx, "gone", t0.Add(-time.Minute)))
	news, err := s.RevocationsSince(ctx, cursor, 100)
	must(t, err)
	if len(news) != 1 || news[0].ID != "gone" || !news[0].RevokedAt.Equal(t0.Add(time.Minute)) || news[0].Seq <= cursor {
		t.Fatalf("after a later deletion, RevocationsSince(cursor) = %+v, want gone at t0+1m, numbered after %d", news, cursor)
	}
	cursor = news[0].Seq
	// The retention deletes the newest row ("gone" is recorded last): a
	// number is still never given twice, or a reader at cursor would skip
	// what gets it.
	must(t, s.DeleteExpired(ctx, t0.Add(store.RevocationRetention+2*time.Minute)))
	must(t, s.RevokeAccessToken(ctx, "after", t0.Add(store.RevocationRetention+2*time.Minute)))
	news, err = s.RevocationsSince(ctx, cursor, 100)
	must(t, err)
	if len(news) != 1 || news[0].ID != "after" {
		t.Fatalf("after the newest row expired, RevocationsSince(cursor) = %+v, want the new revocation", news)
	}
}

// testRevocationsFollowedDuringBurst: a reader following the table by
// number while revocations are recorded from many goroutines at once, as
// several instances would, reads every one of them. A number handed out
// before another but committed after it would be skipped.
func testRevocationsFollowedDuringBurst(t *testing.T, s store.Store) {
	ctx := context.Background()
	seed(t, s)
	const writers, each = 8, 40
	var wg sync.WaitGroup
	start := make(chan struct{})
	for w := range writers {
		wg.Go(func() {
			<-start
			for i := range each {
				id := fmt.Sprintf("w%d-%d", w, i)
				var err error
				switch i % 3 {
				case 0:
					err = s.RevokeAccessToken(ctx, id, t0)
				case 1:
					newGrant(t, s, id)
					err = s.RevokeGrant(ctx, id, "burst", t0)
				default:
					err = s.RevokeGrant(ctx, id, "not yet created", t0)
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	seen := map[string]bool{}
	var cursor int64
	follow := func() {
		rs, err := s.RevocationsSince(ctx, cursor, 1000)
		must(t, err)
		for _, r := range rs {
			if r.Seq <= cursor {
				t.Fatalf("RevocationsSince(%d) returned %+v", cursor, r)
			}
			cursor = r.Seq
			seen[r.ID] = true
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	close(start)
	for following := true; following; {
		select {
		case <-done:
			following = false
		default:
		}
		follow()
	}
	follow()
	if len(seen) != writers*each {
		t.Fatalf("the reader followed %d revocations of the %d recorded", len(seen), writers*each)
	}
}

func testSigningKeys(t *testing.T, s store.Store) {
	ctx := context.Background()
	must(t, s.SaveSigningKey(ctx, store.SigningKey{ID: "k1", Algorithm: "RS256", PrivateDER: []byte{1}, CreatedAt: t0}))
	must(t, s.SaveSigningKey(ctx, store.SigningKey{ID: "k2", Algorithm: "ES256", PrivateDER: []byte{2}, CreatedAt: t0.Add(time.Second)}))
	wantErr(t, s.SaveSigningKey(ctx, store.SigningKey{ID: "k1", Algorithm: "RS256", PrivateDER: []byte{3}, CreatedAt: t0}), store.ErrDuplicate)
	must(t, s.RetireSigningKeys(ctx, "RS256", t0.Add(time.Minute)))
	keys, err := s.SigningKeys(ctx)
	must(t, err)
	if len(keys) != 2 || keys[0].ID != "k1" || !keys[0].RetiredAt.Equal(t0.Add(time.Minute)) || !keys[1].RetiredAt.IsZero() {
		t.Fatalf("SigningKeys = %+v", keys)
	}
	must(t, s.DeleteSigningKeysRetiredBefore(ctx, t0.Add(time.Hour)))
	keys, _ = s.SigningKeys(ctx)
	if len(keys) != 1 || keys[0].ID != "k2" {
		t.Fatalf("after pruning: %+v", keys)
	}
	// A rotation retires the old key ahead of now, so that the new one is
	// published before it signs: the retirement to come is kept as set, a
	// second rotation does not move it, and pruning before it keeps the key.
	must(t, s.RetireSigningKeys(ctx, "ES256", t0.Add(2*time.Hour)))
	must(t, s.SaveSigningKey(ctx, store.SigningKey{ID: "k3", Algorithm: "ES256", PrivateDER: []byte{3}, CreatedAt: t0.Add(time.Hour)}))
	must(t, s.RetireSigningKeys(ctx, "ES256", t0.Add(3*time.Hour)))
	must(t, s.DeleteSigningKeysRetiredBefore(ctx, t0.Add(2*time.Hour)))
	keys, _ = s.SigningKeys(ctx)
	if len(keys) != 2 || keys[0].ID != "k2" || !keys[0].RetiredAt.Equal(t0.Add(2*time.Hour)) ||
		keys[1].ID != "k3" || !keys[1].RetiredAt.Equal(t0.Add(3*time.Hour)) {
		t.Fatalf("after retirements set ahead: %+v", keys)
	}
}

func testPhotos(t *testing.T, s store.Store) {
	ctx := context.Background()
	p1 := store.Photo{ID: "p1", Owner: "u-alice", Title: "Cat", ContentType: "image/png", Data: []byte("png1"), CreatedAt: t0, UpdatedAt: t0}
	p2 := store.Photo{ID: "p2", Owner: "u-alice", Title: "Dog", ContentType: "image/gif", Data: []byte("gif22"), CreatedAt: t0.Add(time.Second), UpdatedAt: t0}
	p3 := store.Photo{ID: "p3", Owner: "u-bob", Title: "Tools", ContentType: "image/png", Data: []byte("x"), CreatedAt: t0, UpdatedAt: t0}
	for _, p := range []store.Photo{p1, p2, p3} {
		must(t, s.CreatePhoto(ctx, p, store.Quota{}))
	}
	wantErr(t, s.CreatePhoto(ctx, p1, store.Quota{}), store.ErrDuplicate)
	list, err := s.ListPhotos(ctx, "u-alice", store.PhotoCursor{}, 10)
	must(t, err)
	if len(list) != 2 || list[0].ID != "p2" || list[0].Size != 5 || list[0].Data != nil {
		t.Fatalf("ListPhotos = %+v", list)
	}
	empty, err := s.ListPhotos(ctx, "client-m2m", store.PhotoCursor{}, 10)
	must(t, err)
	if empty == nil || len(empty) != 0 {
		t.Fatalf("ListPhotos of an owner with none = %#v, want an empty, non-nil list", empty)
	}
	// PhotoByID tells the size, and only PhotoData reads the bytes, so
	// that a caller knows what the bytes will cost before it reads them.
	got, err := s.PhotoByID(ctx, "u-alice", "p1")
	must(t, err)
	if got.Data != nil || got.Size != 4 || got.Title != "Cat" || got.ContentType != "image/png" || !got.CreatedAt.Equal(t0) {
		t.Fatalf("PhotoByID = %+v, want Cat's 4 bytes counted, not read", got)
	}
	data, err := s.PhotoData(ctx, "u-alice", "p1", got.Size)
	if err != nil || string(data) != "png1" {
		t.Fatalf("PhotoData = %q, %v", data, err)
	}
	_, err = s.PhotoData(ctx, "u-alice", "p1", got.Size-1) // grown past what the caller made room for
	wantErr(t, err, store.ErrNotFound)
	_, err = s.PhotoByID(ctx, "u-alice", "p3") // bob's
	wantErr(t, err, store.ErrNotFound)
	_, err = s.PhotoData(ctx, "u-alice", "p3", 100)
	wantErr(t, err, store.ErrNotFound)
	wantErr(t, s.DeletePhoto(ctx, "u-alice", "p3"), store.ErrNotFound)
	p1.Data, p1.Title, p1.UpdatedAt = []byte("edited"), "Cat (grey)", t0.Add(time.Hour)
	must(t, s.UpdatePhoto(ctx, p1, store.Quota{}))
	got, _ = s.PhotoByID(ctx, "u-alice", "p1")
	data, _ = s.PhotoData(ctx, "u-alice", "p1", 100)
	if string(data) != "edited" || got.Size != 6 || !got.UpdatedAt.Equal(t0.Add(time.Hour)) || !got.CreatedAt.Equal(t0) {
		t.Fatalf("after UpdatePhoto = %+v, %q", got, data)
	}
	p3.Owner = "u-alice"
	wantErr(t, s.UpdatePhoto(ctx, p3, store.Quota{}), store.ErrNotFound)
	must(t, s.DeletePhoto(ctx, "u-alice", "p1"))
	n, err := s.CountPhotos(ctx, "u-alice")
	must(t, err)
	if n != 1 {
		t.Fatalf("CountPhotos = %d, want 1", n)
	}
}

// testPhotoPages walks a listing page by page: newest first, every photo
// once, ties in creation time broken by id.
func testPhotoPages(t *testing.T, s store.Store) {
	ctx := context.Background()
	for i := range 7 {
		at := t0.Add(time.Duration(i) * time.Second)
		if i == 3 {
			at = t0.Add(2 * time.Second) // the same instant as p2
		}
		p := store.Photo{ID: fmt.Sprintf("p%d", i), Owner: "u-alice", Title: "t", ContentType: "image/png", Data: []byte{1}, CreatedAt: at, UpdatedAt: at}
		must(t, s.CreatePhoto(ctx, p, store.Quota{}))
	}
	// Newest first; p2 and p3 tie, and the larger id comes first.
	want := []string{"p6", "p5", "p4", "p3", "p2", "p1", "p0"}
	must(t, s.CreatePhoto(ctx, store.Photo{ID: "bobs", Owner: "u-bob", Title: "t", ContentType: "image/png", Data: []byte{1}, CreatedAt: t0, UpdatedAt: t0}, store.Quota{}))
	var got []string
	var after store.PhotoCursor
	for pages := 0; ; pages++ {
		page, err := s.ListPhotos(ctx, "u-alice", after, 3)
		must(t, err)
		if len(page) > 3 || pages > 3 {
			t.Fatalf("page %d has %d photos (limit 3), or the listing does not end", pages, len(page))
		}
		for _, p := range page {
			got = append(got, p.ID)
		}
		if len(page) < 3 {
			break
		}
		last := page[len(page)-1]
		after = store.PhotoCursor{CreatedAt: last.CreatedAt, ID: last.ID}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("pages of 3 gave %v, want %v", got, want)
	}
}

// testPhotoQuota: an owner can go up to their quota and no further, by
// count or by bytes, and an update is held to the bytes quota.
func testPhotoQuota(t *testing.T, s store.Store) {
	ctx := context.Background()
	photo := func(id, owner string, size int) store.Photo {
		return store.Photo{ID: id, Owner: owner, Title: "t", ContentType: "image/png", Data: make([]byte, size), CreatedAt: t0, UpdatedAt: t0}
	}
	q := store.Quota{Photos: 2, Bytes: 100}
	must(t, s.CreatePhoto(ctx, photo("a", "u-alice", 40), q))
	must(t, s.CreatePhoto(ctx, photo("b", "u-alice", 60), q))
	wantErr(t, s.CreatePhoto(ctx, photo("c", "u-alice", 1), q), store.ErrQuotaExceeded) // a third photo
	must(t, s.CreatePhoto(ctx, photo("c", "u-bob", 1), q))                              // bob's own quota
	must(t, s.DeletePhoto(ctx, "u-alice", "b"))
	wantErr(t, s.CreatePhoto(ctx, photo("d", "u-alice", 61), q), store.ErrQuotaExceeded) // 101 bytes
	must(t, s.CreatePhoto(ctx, photo("d", "u-alice", 60), q))
	wantErr(t, s.UpdatePhoto(ctx, photo("a", "u-alice", 41), q), store.ErrQuotaExceeded)
	must(t, s.UpdatePhoto(ctx, photo("a", "u-alice", 39), q))
	if n, _ := s.CountPhotos(ctx, "u-alice"); n != 2 {
		t.Fatalf("%d photos after refused writes, want 2", n)
	}
	got, err := s.PhotoByID(ctx, "u-alice", "a")
	must(t, err)
	if got.Size != 39 {
		t.Fatalf("photo a has %d bytes, want 39", got.Size)
	}
	// Over a quota lowered since, a photo may still shrink.
	must(t, s.UpdatePhoto(ctx, photo("a", "u-alice", 10), store.Quota{Photos: 1, Bytes: 50}))
	wantErr(t, s.UpdatePhoto(ctx, photo("nope", "u-alice", 1), q), store.ErrNotFound)
}

// testPhotoQuotaConcurrent: uploads released together cannot, between
// them, take an owner past the quota.
func testPhotoQuotaConcurrent(t *testing.T, s store.Store) {
	ctx := context.Background()
	const n, quota = 24, 5
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			<-start
			errs <- s.CreatePhoto(ctx, store.Photo{ID: fmt.Sprintf("p%d", i), Owner: "u-alice", Title: "t", ContentType: "image/png",
				Data: []byte{1}, CreatedAt: t0, UpdatedAt: t0}, store.Quota{Photos: quota})
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	created := 0
	for err := range errs {
		if err == nil {
			created++
		} else if !errors.Is(err, store.ErrQuotaExceeded) {
			t.Fatalf("a concurrent upload: %v", err)
		}
	}
	if count, _ := s.CountPhotos(ctx, "u-alice"); created != quota || count != quota {
		t.Fatalf("%d uploads succeeded and %d photos are stored, want %d and %d", created, count, quota, quota)
	}
}

func testDeleteExpired(t *testing.T, s store.Store) {
	ctx := context.Background()
	u, c := seed(t, s)
	must(t, s.SaveAuthCode(ctx, newCode(u, c, "old")))
	fresh := newCode(u, c, "fresh")
	fresh.ExpiresAt = t0.Add(time.Hour)
	must(t, s.SaveAuthCode(ctx, fresh))
	must(t, s.CreateSession(ctx, store.Session{ID: "s", TokenHash: []byte("s"), UserID: u.ID, AuthTime: t0, ExpiresAt: t0.Add(time.Second)}))
	must(t, s.DeleteExpired(ctx, t0.Add(10*time.Minute)))
	_, err := s.ConsumeAuthCode(ctx, []byte("old"), "g", t0)
	wantErr(t, err, store.ErrNotFound)
	_, err = s.ConsumeAuthCode(ctx, []byte("fresh"), "g", t0)
	must(t, err)
	_, err = s.SessionByTokenHash(ctx, []byte("s"))
	wantErr(t, err, store.ErrNotFound)
}

func testUTC(t *testing.T, s store.Store) {
	ctx := context.Background()
	u, _ := seed(t, s)
	got, err := s.UserByID(ctx, u.ID)
	must(t, err)
	if got.CreatedAt.Location() != time.UTC {
		t.Fatalf("CreatedAt in %v, want UTC", got.CreatedAt.Location())
	}
	if !got.CreatedAt.Equal(t0) || got.CreatedAt.Nanosecond() != t0.Nanosecond() {
		t.Fatalf("CreatedAt = %v, want %v to the nanosecond", got.CreatedAt, t0)
	}
}

func testActivity(t *testing.T, s store.Store) {
	ctx := context.Background()
	must(t, s.AddActivity(ctx, nil))
	must(t, s.AddActivity(ctx, []store.Activity{
		{UserID: "u-alice", ClientID: "app", RequestID: "r1", FlowRef: "f1", Event: "consent given", Reason: "openid", At: t0},
		{UserID: "u-bob", ClientID: "app", Event: "login", At: t0},
		{UserID: "u-alice", ClientID: "app", RequestID: "r2", Event: "tokens issued", At: t0.Add(time.Second)},
	}))
	got, err := s.ActivityForUser(ctx, "u-alice", 10)
	must(t, err)
	if len(got) != 2 || got[0].Event != "tokens issued" || got[1].FlowRef != "f1" || !got[1].At.Equal(t0) {
		t.Fatalf("ActivityForUser = %+v", got)
	}
	if got, _ := s.ActivityForUser(ctx, "u-alice", 1); len(got) != 1 {
		t.Fatalf("limit ignored: %d entries", len(got))
	}
	must(t, s.DeleteExpired(ctx, t0.Add(store.ActivityRetention+time.Hour)))
	if got, _ := s.ActivityForUser(ctx, "u-alice", 10); len(got) != 0 {
		t.Fatalf("activity older than the retention kept: %+v", got)
	}
}

// testDemoSeed checks store.DemoBookkeeping, of a store that keeps it.
func testDemoSeed(t *testing.T, st store.Store) {
	s, ok := st.(store.DemoBookkeeping)
	if !ok {
		t.Skip("the store keeps no demo bookkeeping (store.DemoBookkeeping), which only the demo needs")
	}
	ctx := context.Background()
	_, err := s.DemoSeededAt(ctx)
	wantErr(t, err, store.ErrNotFound)
	must(t, s.MarkDemoSeeded(ctx, t0))
	must(t, s.MarkDemoSeeded(ctx, t0.Add(time.Hour))) // a second mark changes nothing
	at, err := s.DemoSeededAt(ctx)
	must(t, err)
	if !at.Equal(t0) {
		t.Fatalf("DemoSeededAt = %v, want the first mark %v", at, t0)
	}
}
