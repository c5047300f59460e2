package storetest

// The contract of a workshop's records: admins, disabled users, the join
// code and the class view's summary of the activity log.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"oauthdemo/authserver/store"
)

// testUserFlags: admin and joined round-trip; disabling ends what the user
// holds and records their revocation; enabling lets them back in.
func testUserFlags(t *testing.T, s store.Store) {
	ctx := context.Background()
	u, c := seed(t, s)
	must(t, s.CreateUser(ctx, store.User{ID: "u-teacher", Username: "teacher", Admin: true, CreatedAt: t0}))
	must(t, s.CreateUser(ctx, store.User{ID: "u-joined", Username: "joined", JoinedAt: t0, CreatedAt: t0}))
	if got, _ := s.UserByUsername(ctx, "teacher"); !got.Admin || !got.JoinedAt.IsZero() || got.Disabled() {
		t.Fatalf("an admin comes back as %+v", got)
	}
	if got, _ := s.UserByID(ctx, "u-joined"); got.Admin || !got.JoinedAt.Equal(t0) {
		t.Fatalf("a joined user comes back as %+v", got)
	}
	must(t, s.SetUserAdmin(ctx, "u-teacher", false))
	must(t, s.SetUserAdmin(ctx, u.ID, true))
	if a, _ := s.UserByID(ctx, u.ID); !a.Admin {
		t.Fatal("SetUserAdmin(true) did not make an admin")
	}
	if tt, _ := s.UserByID(ctx, "u-teacher"); tt.Admin {
		t.Fatal("SetUserAdmin(false) left an admin")
	}
	wantErr(t, s.SetUserAdmin(ctx, "nobody", true), store.ErrNotFound)
	wantErr(t, s.SetUserDisabled(ctx, "nobody", true, t0), store.ErrNotFound)

	// What alice holds: a session, an unused code, a used one, a grant.
	must(t, s.CreateSession(ctx, store.Session{ID: "sid", TokenHash: []byte("cookie"), UserID: u.ID, AuthTime: t0, ExpiresAt: t0.Add(time.Hour)}))
	must(t, s.SaveAuthCode(ctx, newCode(u, c, "unused")))
	must(t, s.SaveAuthCode(ctx, newCode(u, c, "used")))
	_, err := s.ConsumeAuthCode(ctx, []byte("used"), "g-used", t0)
	must(t, err)
	_, rt := newGrant(t, s, "g1")
	// A grant made in the session, without offline_access: it ends with
	// the session, as EndSession ends it.
	must(t, s.CreateGrant(ctx, store.Grant{ID: "g-session", ClientID: c.ID, UserID: u.ID, Scope: "openid", SessionID: "sid", AuthTime: t0, CreatedAt: t0}, nil))
	// And another user's, which stay.
	must(t, s.CreateSession(ctx, store.Session{ID: "sid-other", TokenHash: []byte("cookie-other"), UserID: "u-joined", AuthTime: t0, ExpiresAt: t0.Add(time.Hour)}))

	off := t0.Add(time.Minute)
	must(t, s.SetUserDisabled(ctx, u.ID, true, off))
	if got, _ := s.UserByID(ctx, u.ID); !got.Disabled() || !got.DisabledAt.Equal(off) {
		t.Fatalf("a disabled user comes back as %+v", got)
	}
	_, err = s.SessionByTokenHash(ctx, []byte("cookie"))
	wantErr(t, err, store.ErrNotFound)
	if _, err := s.SessionByTokenHash(ctx, []byte("cookie-other")); err != nil {
		t.Fatalf("another user's session ended too: %v", err)
	}
	_, err = s.ConsumeAuthCode(ctx, []byte("unused"), "g-late", off)
	wantErr(t, err, store.ErrNotFound)
	// A used code stays known, so that its replay is still recognised.
	_, err = s.ConsumeAuthCode(ctx, []byte("used"), "g-again", off)
	wantErr(t, err, store.ErrAlreadyUsed)
	if g, _ := s.GrantByID(ctx, "g1"); !g.Revoked() || !g.RevokedAt.Equal(off) {
		t.Fatalf("the disabled user's grant = %+v, want revoked at the disabling", g)
	}
	next := store.RefreshToken{TokenHash: []byte("g1-next"), GrantID: "g1", IssuedAt: off, ExpiresAt: off.Add(time.Hour)}
	wantErr(t, s.RotateRefreshToken(ctx, rt.TokenHash, next, off), store.ErrAlreadyUsed)
	recorded := revocations(t, s)
	if at, ok := recorded[key(store.RevokedSubject, u.ID)]; !ok || !at.Equal(off) {
		t.Fatalf("disabling recorded the subject's revocation at %v (%v), want %v", at, ok, off)
	}
	for _, id := range []string{"g1", "g-session"} {
		if g, _ := s.GrantByID(ctx, id); !g.Revoked() || g.RevokeReason != store.ReasonUserDisabled {
			t.Fatalf("grant %s after the disabling = %+v, want revoked for %q", id, g, store.ReasonUserDisabled)
		}
		if at, ok := recorded[key(store.RevokedGrant, id)]; !ok || !at.Equal(off) {
			t.Fatalf("disabling recorded grant %s's revocation at %v (%v), want %v", id, at, ok, off)
		}
	}

	must(t, s.SetUserDisabled(ctx, u.ID, false, off.Add(time.Minute)))
	if got, _ := s.UserByID(ctx, u.ID); got.Disabled() {
		t.Fatalf("an enabled user comes back as %+v", got)
	}
	if g, _ := s.GrantByID(ctx, "g1"); !g.Revoked() {
		t.Fatal("enabling the user brought a revoked grant back")
	}
}

// testJoin: only the open code lets a user in, each username once, up to
// the class's size.
func testJoin(t *testing.T, s store.Store) {
	ctx := context.Background()
	code, other := []byte("hash-of-the-code-0123456789abcdef"), []byte("hash-of-another-code-0123456789ab")
	joiner := func(name string) store.User {
		return store.User{ID: "u-" + name, Username: name, PasswordHash: "$argon2id$x", Name: name, CreatedAt: t0, JoinedAt: t0}
	}
	_, err := s.JoinCode(ctx)
	wantErr(t, err, store.ErrNotFound)
	wantErr(t, s.JoinUser(ctx, joiner("early"), code, 10), store.ErrNotFound)

	must(t, s.SetJoinCode(ctx, store.JoinCode{Hash: code, Configured: code, SetAt: t0}))
	got, err := s.JoinCode(ctx)
	must(t, err)
	if !got.Open() || string(got.Hash) != string(code) || string(got.Configured) != string(code) || !got.SetAt.Equal(t0) {
		t.Fatalf("JoinCode = %+v", got)
	}
	wantErr(t, s.JoinUser(ctx, joiner("guesser"), other, 10), store.ErrNotFound)
	wantErr(t, s.JoinUser(ctx, joiner("empty"), nil, 10), store.ErrNotFound)
	must(t, s.JoinUser(ctx, joiner("ann"), code, 2))
	if u, err := s.UserByUsername(ctx, "ann"); err != nil || !u.JoinedAt.Equal(t0) || u.Admin {
		t.Fatalf("a joined user comes back as %+v, %v", u, err)
	}
	ann2 := joiner("ann")
	ann2.ID = "u-ann-2"
	wantErr(t, s.JoinUser(ctx, ann2, code, 2), store.ErrDuplicate)
	ann2.Username = "ANN"
	wantErr(t, s.JoinUser(ctx, ann2, code, 2), store.ErrDuplicate)
	// Users the operator made do not count against the class.
	must(t, s.CreateUser(ctx, store.User{ID: "u-op", Username: "op", CreatedAt: t0}))
	must(t, s.JoinUser(ctx, joiner("ben"), code, 2))
	wantErr(t, s.JoinUser(ctx, joiner("cid"), code, 2), store.ErrQuotaExceeded)

	// An admin rotates the code: the old one stops at once. Then closes it.
	must(t, s.SetJoinCode(ctx, store.JoinCode{Hash: other, SetAt: t0.Add(time.Minute)}))
	wantErr(t, s.JoinUser(ctx, joiner("dee"), code, 10), store.ErrNotFound)
	must(t, s.JoinUser(ctx, joiner("dee"), other, 10))
	if got, _ := s.JoinCode(ctx); got.Configured != nil || !got.SetAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("after an admin's rotation JoinCode = %+v", got)
	}
	must(t, s.SetJoinCode(ctx, store.JoinCode{SetAt: t0.Add(2 * time.Minute)}))
	if got, _ := s.JoinCode(ctx); got.Open() {
		t.Fatalf("a closed code is open: %+v", got)
	}
	wantErr(t, s.JoinUser(ctx, joiner("eve"), other, 10), store.ErrNotFound)
	wantErr(t, s.JoinUser(ctx, joiner("eve"), nil, 10), store.ErrNotFound)
}

// testJoinConcurrent: a burst of joins released together fills the class
// exactly, never beyond.
func testJoinConcurrent(t *testing.T, s store.Store) {
	ctx := context.Background()
	const n, size = 30, 10
	code := []byte("hash-of-the-code-0123456789abcdef")
	must(t, s.SetJoinCode(ctx, store.JoinCode{Hash: code, SetAt: t0}))
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			<-start
			name := fmt.Sprint("attendee", i)
			errs <- s.JoinUser(ctx, store.User{ID: "u-" + name, Username: name, CreatedAt: t0, JoinedAt: t0}, code, size)
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	joined := 0
	for err := range errs {
		if err == nil {
			joined++
		} else if !errors.Is(err, store.ErrQuotaExceeded) {
			t.Fatalf("a concurrent join: %v", err)
		}
	}
	users, _ := s.ListUsers(ctx)
	if joined != size || len(users) != size {
		t.Fatalf("%d joins succeeded and %d users are stored, want %d and %d", joined, len(users), size, size)
	}
}

// testClassProgress: the activity log's entries that mark milestones are
// summed up per attendee; refusals are counted per minute and ranked.
func testClassProgress(t *testing.T, s store.Store) {
	ctx := context.Background()
	for i, name := range []string{"ann", "ben", "cid"} {
		must(t, s.CreateUser(ctx, store.User{ID: "u-" + name, Username: name, CreatedAt: t0, JoinedAt: t0.Add(time.Duration(i) * time.Second)}))
	}
	must(t, s.CreateUser(ctx, store.User{ID: "u-teacher", Username: "teacher", Admin: true, CreatedAt: t0}))
	long := strings.Repeat("é", store.MaxRefusalLength) // cut on a rune's boundary
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	must(t, s.AddActivity(ctx, []store.Activity{
		{UserID: "u-ann", Event: "signed in", Milestone: store.MilestoneSignedIn, At: at(10)},
		{UserID: "u-ann", Event: "signed in", Milestone: store.MilestoneSignedIn, At: at(5)},
		{UserID: "u-ann", Event: "refused", Milestone: store.MilestoneRefused, Refusal: "redirect_uri mismatch", At: at(20)},
		{UserID: "u-ben", Event: "refused", Milestone: store.MilestoneRefused, Refusal: "redirect_uri mismatch", At: at(21)},
		{UserID: "u-teacher", Event: "signed in", Milestone: store.MilestoneSignedIn, At: at(1)},
		{UserID: "u-ann", Event: "consent given", At: at(2)}, // no milestone
	}))
	must(t, s.AddActivity(ctx, []store.Activity{
		{UserID: "u-ann", Event: "refused", Milestone: store.MilestoneRefused, Refusal: "PKCE verifier wrong", At: at(30)},
		{UserID: "u-ann", Event: "signed in", Milestone: store.MilestoneSignedIn, At: at(12)},
		{UserID: "u-cid", Event: "refused", Milestone: store.MilestoneRefused, Refusal: long, At: at(31)},
		// An hour before: outside the window asked for.
		{UserID: "u-cid", Event: "refused", Milestone: store.MilestoneRefused, Refusal: "code replayed", At: at(-3600)},
		{UserID: "u-cid", Event: "refused", Milestone: store.MilestoneRefused, Refusal: "code replayed", At: at(-3599)},
	}))
	class, err := s.ClassProgress(ctx, 10, t0, 10)
	must(t, err)
	if len(class.Attendees) != 3 || class.Attendees[0].User.Username != "ann" || class.Attendees[2].User.Username != "cid" {
		t.Fatalf("ClassProgress attendees = %+v, want ann, ben, cid (those who joined, as they joined)", class.Attendees)
	}
	ann := class.Attendees[0].Steps
	if st := ann[store.MilestoneSignedIn]; st.Count != 3 || !st.First.Equal(at(5)) || !st.Last.Equal(at(12)) {
		t.Fatalf("ann signed in: %+v, want 3 times from %v to %v", st, at(5), at(12))
	}
	if st := ann[store.MilestoneRefused]; st.Count != 2 || st.Refusal != "PKCE verifier wrong" || !st.Last.Equal(at(30)) {
		t.Fatalf("ann refused: %+v, want twice, the latest PKCE verifier wrong", st)
	}
	if len(ann) != 2 || len(class.Attendees[1].Steps) != 1 {
		t.Fatalf("steps: ann %+v, ben %+v", ann, class.Attendees[1].Steps)
	}
	cid := class.Attendees[2].Steps[store.MilestoneRefused]
	if cid.Refusal == long || !strings.HasPrefix(long, cid.Refusal) || len(cid.Refusal) > store.MaxRefusalLength || cid.Count != 3 {
		t.Fatalf("cid refused: %+v, want 3 times, the latest label cut at %d bytes", cid, store.MaxRefusalLength)
	}
	// Ties come in an order of the database's collation.
	if r := class.Refusals; len(r) != 3 || r[0] != (store.RefusalCount{Refusal: "redirect_uri mismatch", Count: 2}) ||
		!slices.Contains(r, store.RefusalCount{Refusal: "PKCE verifier wrong", Count: 1}) || !slices.Contains(r, store.RefusalCount{Refusal: cid.Refusal, Count: 1}) {
		t.Fatalf("refusals since t0 = %v, want redirect_uri mismatch twice, then PKCE verifier wrong and the long one once", r)
	}
	if class, _ := s.ClassProgress(ctx, 10, t0.Add(-2*time.Hour), 1); len(class.Refusals) != 1 || class.Refusals[0] != (store.RefusalCount{Refusal: "redirect_uri mismatch", Count: 2}) &&
		class.Refusals[0] != (store.RefusalCount{Refusal: "code replayed", Count: 2}) {
		t.Fatalf("the most common refusal of two hours = %v", class.Refusals)
	}
	if class, _ := s.ClassProgress(ctx, 2, t0, 10); len(class.Attendees) != 2 {
		t.Fatalf("ClassProgress(2) = %d attendees", len(class.Attendees))
	}

	// A deleted user takes their progress along; old refusal counts go
	// at DeleteExpired.
	must(t, s.DeleteUser(ctx, "u-ann", at(40)))
	must(t, s.CreateUser(ctx, store.User{ID: "u-ann", Username: "ann", CreatedAt: t0, JoinedAt: at(50)}))
	must(t, s.DeleteExpired(ctx, t0.Add(store.RefusalRetention-2*time.Minute)))
	class, err = s.ClassProgress(ctx, 10, t0.Add(-2*time.Hour), 10)
	must(t, err)
	if last := class.Attendees[len(class.Attendees)-1]; last.User.Username != "ann" || len(last.Steps) != 0 {
		t.Fatalf("ann, deleted and joined again, = %+v; want no steps", last)
	}
	for _, r := range class.Refusals {
		if r.Refusal == "code replayed" {
			t.Fatalf("refusals older than %v kept: %v", store.RefusalRetention, class.Refusals)
		}
	}
	if len(class.Refusals) != 3 {
		t.Fatalf("refusals within %v = %v, want 3", store.RefusalRetention, class.Refusals)
	}
}
