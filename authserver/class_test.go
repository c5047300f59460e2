package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"oauthdemo/authserver/oauth"
	"oauthdemo/authserver/pages"
	"oauthdemo/authserver/photos"
	"oauthdemo/authserver/store"
)

// registerApp registers an app in the developer console of b's user, with
// redirectURI and, if ticked, the starter program's, and returns its
// client_id and secret.
func registerApp(t testing.TB, b *browser, name, redirectURI string, starter bool) (string, string) {
	t.Helper()
	form := formValues(t, body(t, b.get("/developer")))
	form.Set("name", name)
	form.Set("redirect_uris", redirectURI)
	if starter {
		form.Set("starter", "on")
	}
	page := body(t, b.post("/developer/clients", form))
	id, secret := newClientIDRE.FindStringSubmatch(page), newSecretRE.FindStringSubmatch(page)
	if id == nil || secret == nil {
		t.Fatalf("registering %s failed:\n%s", name, page)
	}
	return id[1], secret[1]
}

// classData reads /class/data as b's user.
func classData(t testing.TB, b *browser) (int, pages.ClassView) {
	t.Helper()
	resp := b.get("/class/data")
	defer resp.Body.Close()
	var vm pages.ClassView
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&vm); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode, vm
}

// row is username's row of the class view, or nil.
func row(vm pages.ClassView, username string) map[string]pages.ClassCell {
	for _, r := range vm.Attendees {
		if r.Username == username {
			cells := map[string]pages.ClassCell{}
			for _, c := range r.Cells {
				cells[c.Milestone] = c
			}
			return cells
		}
	}
	return nil
}

// teacher signs the admin in and returns the browser.
func (ts *testServer) teacher(t *testing.T) *browser {
	t.Helper()
	b := ts.browser()
	if loc := location(t, loginForm(t, b, "teacher", "blackboard")); loc.Path != "/account" {
		t.Fatalf("the teacher's sign-in went to %s", loc)
	}
	return b
}

// TestClassView: an attendee goes through the flow with an app of their
// own, and trips on the mistakes a workshop makes; the teacher's class view
// shows each milestone within 2 seconds, and the refusals counted.
func TestClassView(t *testing.T) {
	ts := roomServer(t)
	teacher := ts.teacher(t)
	status, vm := classData(t, teacher)
	if status != http.StatusOK || len(vm.Attendees) != 0 || !vm.JoinOpen || len(vm.Milestones) != len(store.Milestones()) {
		t.Fatalf("an empty class: %d %+v", status, vm)
	}
	resp := teacher.get("/class")
	if page := body(t, resp); resp.StatusCode != http.StatusOK || !strings.Contains(page, `src="/static/class.js"`) ||
		!strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Fatalf("the class page: %d, CSP %q", resp.StatusCode, resp.Header.Get("Content-Security-Policy"))
	}
	if page := body(t, teacher.get("/account")); !strings.Contains(page, `href="/class"`) {
		t.Fatal("the teacher's account page does not link to the class")
	}

	ann := ts.attendee(t, "ann")
	ts.attendee(t, "ben")
	const redirect = "http://localhost:3000/cb"
	id, secret := registerApp(t, ann, "Ann's app", redirect, false)
	// A mistake first: a redirect URI the app did not register.
	bad := ts.authURL(id, "http://localhost:3001/cb", "openid", "st", oauth.S256Challenge("v"))
	if resp := ann.get(bad); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("an unregistered redirect_uri: %d", resp.StatusCode)
	}
	c := newStandardClient(t, ts, id, secret, redirect, "openid", "offline_access", "photos.read")
	tok, _ := c.login(t, ann, "ann", "ann-password")
	if s := apiStatus(t, ts, tok.AccessToken); s != http.StatusOK {
		t.Fatalf("ann's token at the photos API: %d", s)
	}
	// A wrong PKCE verifier, as the inspector's attack sends it.
	verifier := oauth2.GenerateVerifier()
	back := ann.authorize(ts.authURL(id, redirect, "openid", "st2", oauth.S256Challenge(verifier)), "ann", "ann-password")
	resp = postBasic(t, ts.URL+"/token", id, secret, url.Values{"grant_type": {"authorization_code"}, "code": {back.Query().Get("code")},
		"redirect_uri": {redirect}, "code_verifier": {oauth2.GenerateVerifier()}})
	if status, code, _ := tokenError(t, resp); status != http.StatusBadRequest || code != "invalid_grant" {
		t.Fatalf("a wrong verifier: %d %s", status, code)
	}
	resp = postBasic(t, ts.URL+"/token", id, secret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}})
	refreshToken(t, resp)

	start := time.Now()
	var cells map[string]pages.ClassCell
	eventually(t, 2*time.Second, func() bool {
		_, vm = classData(t, teacher)
		cells = row(vm, "ann")
		for _, m := range store.Milestones() {
			if !cells[string(m)].Done {
				return false
			}
		}
		return true
	}, "ann's row after the whole flow, 2 s later: %+v", cells)
	t.Logf("every milestone shown %v after the last step", time.Since(start).Round(time.Millisecond))
	if r := cells[string(store.MilestoneRefused)]; r.Count != 2 || r.Refusal != "code_verifier does not match the code_challenge" {
		t.Fatalf("ann's refusals: %+v, want 2, the latest the wrong verifier", r)
	}
	if ben := row(vm, "ben"); ben == nil || !ben[string(store.MilestoneSignedIn)].Done || ben[string(store.MilestoneAuthorized)].Done {
		t.Fatalf("ben's row: %+v", ben)
	}
	if row(vm, "teacher") != nil || row(vm, "alice") != nil {
		t.Fatal("the class lists users who did not join")
	}
	want := []pages.ClassRefusal{{Refusal: "code_verifier does not match the code_challenge", Count: 1},
		{Refusal: "the redirect_uri is not registered for this application", Count: 1}}
	if fmt.Sprint(vm.Refusals) != fmt.Sprint(want) {
		t.Fatalf("the most common refusals: %+v, want %+v", vm.Refusals, want)
	}
	page := body(t, teacher.get("/class"))
	for _, want := range []string{"ann", "ben", "An attack refused", "the redirect_uri is not registered for this application"} {
		if !strings.Contains(page, want) {
			t.Errorf("the class page lacks %q", want)
		}
	}
}

// TestClassIsTheTeachers: nobody but an admin sees the class or manages
// attendees, and every form needs its CSRF token.
func TestClassIsTheTeachers(t *testing.T) {
	ts := roomServer(t)
	ann := ts.attendee(t, "ann")
	ben := ts.attendee(t, "ben")
	benUser, _ := ts.store.UserByUsername(context.Background(), "ben")
	for _, path := range []string{"/class", "/class/attendees"} {
		if resp := ann.get(path); resp.StatusCode != http.StatusForbidden {
			t.Errorf("an attendee at %s: %d, want 403", path, resp.StatusCode)
		}
		if loc := location(t, ts.browser().get(path)); loc.Path != "/login" {
			t.Errorf("a stranger at %s went to %s", path, loc)
		}
	}
	for _, b := range []*browser{ann, ts.browser()} {
		if status, _ := classData(t, b); status != http.StatusForbidden {
			t.Errorf("/class/data for a non-admin: %d, want 403", status)
		}
	}
	form := formValues(t, body(t, ann.get("/developer")))
	for _, action := range []string{"/class/attendees/" + benUser.ID + "/disable", "/class/attendees/" + benUser.ID + "/remove", "/class/join-code/rotate", "/class/join-code/close"} {
		if resp := ann.post(action, form); resp.StatusCode != http.StatusForbidden {
			t.Errorf("an attendee posting %s: %d, want 403", action, resp.StatusCode)
		}
	}
	// The teacher's forms without their CSRF token: a forged cross-site form.
	teacher := ts.teacher(t)
	for _, action := range []string{"/class/attendees/" + benUser.ID + "/disable", "/class/join-code/close"} {
		if resp := teacher.post(action, url.Values{}); resp.StatusCode != http.StatusForbidden {
			t.Errorf("the teacher's %s without a CSRF token: %d, want 403", action, resp.StatusCode)
		}
	}
	if u, _ := ts.store.UserByUsername(context.Background(), "ben"); u.Disabled() {
		t.Fatal("a refused form disabled ben")
	}
	if page := body(t, ben.get("/account")); !strings.Contains(page, "ben") {
		t.Fatal("ben was signed out by a refused form")
	}
	// Operator's users are not attendees: the page does not act on them.
	tform := formValues(t, body(t, teacher.get("/class/attendees")))
	for _, id := range []string{"sub-alice", "sub-teacher", "no-such-user"} {
		if resp := teacher.post("/class/attendees/"+id+"/disable", tform); resp.StatusCode != http.StatusNotFound {
			t.Errorf("disabling %s, who did not join: %d, want 404", id, resp.StatusCode)
		}
	}
}

// TestDisabledAttendee: the teacher disables an attendee: their access token
// stops at the photos API within a second, refresh is refused, they are
// signed out and cannot sign in; enabled again, they sign in, and what was
// revoked stays revoked. Then the teacher removes them.
func TestDisabledAttendee(t *testing.T) {
	for _, mode := range []string{"jwt", "introspect"} {
		t.Run(mode, func(t *testing.T) {
			ts := roomServer(t, func(c *Config) { c.APITokenCheck = mode })
			ctx := context.Background()
			ann := ts.attendee(t, "ann")
			id, secret := registerApp(t, ann, "Ann's app", "http://localhost:3000/cb", false)
			tok, _ := newStandardClient(t, ts, id, secret, "http://localhost:3000/cb", "openid", "offline_access", "photos.read").login(t, ann, "ann", "ann-password")
			bob := ts.userToken(t, "bob", "builder", "photos.read").AccessToken
			if s := apiStatus(t, ts, tok.AccessToken); s != http.StatusOK {
				t.Fatalf("before: %d", s)
			}
			annUser, _ := ts.store.UserByUsername(ctx, "ann")

			teacher := ts.teacher(t)
			form := formValues(t, body(t, teacher.get("/class/attendees")))
			resp := teacher.post("/class/attendees/"+annUser.ID+"/disable", form)
			if page := body(t, resp); resp.StatusCode != http.StatusOK || !strings.Contains(page, "ann is disabled") {
				t.Fatalf("disable: %d", resp.StatusCode)
			}
			refusedWithin(t, ts, tok.AccessToken, time.Second)
			if s := apiStatus(t, ts, bob); s != http.StatusOK {
				t.Fatalf("another user's token after ann was disabled: %d", s)
			}
			resp = postBasic(t, ts.URL+"/token", id, secret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}})
			if status, code, _ := tokenError(t, resp); status != http.StatusBadRequest || code != "invalid_grant" {
				t.Fatalf("refresh after disabling: %d %s", status, code)
			}
			if loc := location(t, ann.get("/account")); loc.Path != "/login" {
				t.Fatalf("ann's session after disabling: %s", loc)
			}
			resp = loginForm(t, ts.browser(), "ann", "ann-password")
			if page := body(t, resp); resp.StatusCode != http.StatusForbidden || !strings.Contains(page, "disabled") {
				t.Fatalf("ann signing in while disabled: %d", resp.StatusCode)
			}
			if resp := loginForm(t, ts.browser(), "ann", "wrong-password"); resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("a wrong password for a disabled account: %d, want the usual 401", resp.StatusCode)
			}
			if _, vm := classData(t, teacher); len(vm.Attendees) != 1 || !vm.Attendees[0].Disabled {
				t.Fatalf("the class view does not show ann disabled: %+v", vm.Attendees)
			}

			teacher.post("/class/attendees/"+annUser.ID+"/enable", form).Body.Close()
			// Disabling revoked every token issued up to its second (iat
			// is in seconds): the tokens of the next one on are new.
			ts.clock.advance(time.Second)
			again := ts.browser()
			if loc := location(t, loginForm(t, again, "ann", "ann-password")); loc.Path != "/account" {
				t.Fatalf("ann enabled again, signing in: %s", loc)
			}
			if s := apiStatus(t, ts, tok.AccessToken); s != http.StatusUnauthorized {
				t.Fatalf("the old access token after enabling: %d, want 401", s)
			}
			fresh, _ := newStandardClient(t, ts, id, secret, "http://localhost:3000/cb", "openid", "photos.read").login(t, again, "ann", "ann-password")
			if s := apiStatus(t, ts, fresh.AccessToken); s != http.StatusOK {
				t.Fatalf("a new token after enabling: %d", s)
			}

			teacher.post("/class/attendees/"+annUser.ID+"/remove", form).Body.Close()
			if _, err := ts.store.UserByID(ctx, annUser.ID); err == nil {
				t.Fatal("ann is still there after Remove")
			}
			if _, err := ts.store.ClientByID(ctx, id); err == nil {
				t.Fatal("ann's app is still there after Remove")
			}
			refusedWithin(t, ts, fresh.AccessToken, time.Second)
		})
	}
}

// TestDisabledAttendeeGetsNoDeviceTokens: an attendee allows a device,
// and the teacher disables them before the device polls again. The device
// gets no tokens: the answer was the attendee's, and the attendee is
// disabled.
func TestDisabledAttendeeGetsNoDeviceTokens(t *testing.T) {
	ts := roomServer(t)
	addDeviceClients(t, ts)
	ann := ts.attendee(t, "ann")
	da := startDevice(t, ts, tvID, tvSecret, "photos.read")
	if status := ann.answerDevice(da.UserCode, "ann", "ann-password", "allow"); status != http.StatusOK {
		t.Fatalf("ann allows the device: %d", status)
	}
	annUser, _ := ts.store.UserByUsername(context.Background(), "ann")
	teacher := ts.teacher(t)
	form := formValues(t, body(t, teacher.get("/class/attendees")))
	if resp := teacher.post("/class/attendees/"+annUser.ID+"/disable", form); resp.StatusCode != http.StatusOK {
		t.Fatalf("disable: %d", resp.StatusCode)
	}
	ts.clock.advance(ts.cfg.DevicePollInterval) // the device keeps its pace
	if status, code := pollError(t, ts, tvID, tvSecret, da.DeviceCode); status != http.StatusBadRequest || code != "invalid_grant" {
		t.Fatalf("the device's poll after ann was disabled: %d %s, want 400 invalid_grant", status, code)
	}
}

// TestJoinCodeRotation: the teacher makes a new code, shown once; the old
// one stops at once. Closing stops every code.
func TestJoinCodeRotation(t *testing.T) {
	ts := roomServer(t)
	teacher := ts.teacher(t)
	form := formValues(t, body(t, teacher.get("/class/attendees")))
	page := body(t, teacher.post("/class/join-code/rotate", form))
	_, code, _ := strings.Cut(page, `id="join-code">`)
	code, _, _ = strings.Cut(code, "<")
	if len(normalizeJoinCode(code)) != joinCodeLength {
		t.Fatalf("the rotation showed no code:\n%s", page)
	}
	if strings.Contains(body(t, teacher.get("/class/attendees")), code) {
		t.Fatal("the new code is shown again")
	}
	if status, _ := joinError(t, joinAt(t, ts.browser(), "/join", testJoinCode, "ann", "ann-password")); status != http.StatusBadRequest {
		t.Fatalf("the old code after the rotation: %d, want 400", status)
	}
	if loc := location(t, joinAt(t, ts.browser(), "/join", strings.ToUpper(code), "ann", "ann-password")); loc.Path != "/developer" {
		t.Fatalf("the new code: %s", loc)
	}
	teacher.post("/class/join-code/close", form).Body.Close()
	if page := body(t, ts.browser().get("/join")); !strings.Contains(page, "Joining is closed") {
		t.Fatal("the join page does not say joining is closed")
	}
	// The join page has no form now; a form posted all the same (with the
	// CSRF token of the login page) is refused.
	if status, _ := joinError(t, joinAt(t, ts.browser(), "/login", code, "ben", "ben-password")); status != http.StatusBadRequest {
		t.Fatalf("a code after closing: %d, want 400", status)
	}
	if _, vm := classData(t, teacher); vm.JoinOpen {
		t.Fatal("the class view says joining is open")
	}
}

// TestAttendeesAreIsolated: an attendee sees their own photos, apps,
// activity and nothing of another's, and no class row at all.
func TestAttendeesAreIsolated(t *testing.T) {
	ts := roomServer(t)
	ctx := context.Background()
	ann, ben := ts.attendee(t, "ann"), ts.attendee(t, "ben")
	annID, annSecret := registerApp(t, ann, "Ann's app", "http://localhost:3000/cb", true)
	benID, _ := registerApp(t, ben, "Ben's app", "http://localhost:3000/cb", true)
	annTok, _ := newStandardClient(t, ts, annID, annSecret, "http://localhost:3000/cb", "openid", "photos.read").login(t, ann, "ann", "ann-password")
	benUser, _ := ts.store.UserByUsername(ctx, "ben")
	benPhotos, err := ts.store.ListPhotos(ctx, benUser.ID, store.PhotoCursor{}, 10)
	if err != nil || len(benPhotos) == 0 {
		t.Fatalf("ben's photos: %v %v", benPhotos, err)
	}

	// Photos: ann's token lists hers, and ben's photo is not found.
	var list []struct{ ID string }
	getJSON(t, bearerClient(annTok.AccessToken), ts.URL+"/api/photos", &list)
	annUser, _ := ts.store.UserByUsername(ctx, "ann")
	for _, p := range list {
		if got, err := ts.store.PhotoByID(ctx, annUser.ID, p.ID); err != nil || got.Owner != annUser.ID {
			t.Fatalf("ann's list has %s, which is not hers", p.ID)
		}
	}
	if resp := apiCall(t, "GET", ts.URL+"/api/photos/"+benPhotos[0].ID, annTok.AccessToken); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("ben's photo with ann's token: %d, want 404", resp.StatusCode)
	}
	// Apps: ann's console lists hers only and gives nothing of ben's.
	if page := body(t, ann.get("/developer")); strings.Contains(page, benID) {
		t.Fatal("ann's console lists ben's app")
	}
	form := formValues(t, body(t, ann.get("/developer")))
	for _, do := range []func() *http.Response{
		func() *http.Response { return ann.get("/developer/clients/" + benID + "/starter.go") },
		func() *http.Response { return ann.post("/developer/clients/"+benID+"/rotate", form) },
		func() *http.Response { return ann.post("/developer/clients/"+benID+"/delete", form) },
	} {
		if resp := do(); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("ann at ben's app: %d, want 404", resp.StatusCode)
		}
	}
	// Activity: ann's account page shows none of ben's.
	ts.activity.sync(ctx)
	if page := body(t, ann.get("/account")); strings.Contains(page, benID) || strings.Contains(page, "Ben&#39;s app") {
		t.Fatal("ann's activity shows ben's")
	}
	// The class: not for attendees.
	if status, _ := classData(t, ann); status != http.StatusForbidden {
		t.Fatalf("ann reading the class: %d", status)
	}
}

// TestStarterDownload: the console offers the starter program for an app
// with a loopback redirect URI: the app's client_id, the issuer and that
// URI are in it, its secret is not.
func TestStarterDownload(t *testing.T) {
	ts := roomServer(t)
	ann := ts.attendee(t, "ann")
	id, secret := registerApp(t, ann, "Ann's app", "https://ann.example/cb", true)
	plain, _ := registerApp(t, ann, "Plain app", "https://ann.example/cb", false)
	page := body(t, ann.get("/developer"))
	if !strings.Contains(page, "/developer/clients/"+id+"/starter.go") || strings.Contains(page, "/developer/clients/"+plain+"/starter.go") {
		t.Fatal("the console should offer the starter for the app with the loopback URI, and only for it")
	}
	resp := ann.get("/developer/clients/" + id + "/starter.go")
	program := body(t, resp)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Disposition") != `attachment; filename="starter.go"` ||
		resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("download: %d %v", resp.StatusCode, resp.Header)
	}
	for _, want := range []string{fmt.Sprintf("%q", id), fmt.Sprintf("%q", ts.URL), fmt.Sprintf("%q", starterRedirect), "package main"} {
		if !strings.Contains(program, want) {
			t.Errorf("the program lacks %s", want)
		}
	}
	if strings.Contains(program, secret) {
		t.Fatal("the program holds the app's secret")
	}
	if resp := ann.get("/developer/clients/" + plain + "/starter.go"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("a starter for an app without a loopback URI: %d, want 404", resp.StatusCode)
	}
	if loc := location(t, ts.browser().get("/developer/clients/"+id+"/starter.go")); loc.Path != "/login" {
		t.Fatalf("a stranger downloading: %s", loc)
	}
}

// TestAPICallsRecordedOncePerMinute: the photos API records a user's app
// calling it once a minute, and its memory of whom it recorded is bounded.
func TestAPICallsRecordedOncePerMinute(t *testing.T) {
	ts := newTestServer(t)
	calls := newAPICallLog(ts.activity, ts.clock.now)
	req, _ := http.NewRequest("GET", "/api/photos", nil)
	tok := photos.Token{Subject: "sub-alice", ClientID: appID}
	for range 5 {
		calls.accepted(req, tok)
	}
	calls.accepted(req, photos.Token{Subject: m2mID, ClientID: m2mID}) // client credentials: no user
	ts.activity.sync(context.Background())
	count := func() int {
		entries, _ := ts.store.ActivityForUser(context.Background(), "sub-alice", 100)
		n := 0
		for _, e := range entries {
			if e.Event == "photos API called" {
				n++
			}
		}
		return n
	}
	if n := count(); n != 1 {
		t.Fatalf("5 calls within a minute recorded %d times, want 1", n)
	}
	ts.clock.advance(apiCallEvery)
	calls.accepted(req, tok)
	ts.activity.sync(context.Background())
	if n := count(); n != 2 {
		t.Fatalf("a call a minute later: %d entries, want 2", n)
	}
	bounded := newAPICallLog(nil, ts.clock.now) // records nothing, remembers as much
	for i := range 3 * apiCallsRemembered {
		bounded.accepted(req, photos.Token{Subject: fmt.Sprint("user-", i), ClientID: appID})
		if len(bounded.seen) > apiCallsRemembered {
			t.Fatalf("after %d users the log remembers %d, more than %d", i+1, len(bounded.seen), apiCallsRemembered)
		}
	}
}
