package main

// Joining: whoever has the join code creates their own account, so that
// each attendee of a workshop signs in as themselves, with a password of
// their own, and sees their own photos. Only admins (the teacher) see the
// class and manage the attendees and the code (class.go, attendees.go).
//
// The code is a shared secret with less entropy than a token, so guessing
// it is throttled like sign-in: per address and for the whole server. A
// wrong code and a taken username get the same answer after the same work
// (a password hash), so that someone without the code learns nothing about
// which usernames exist. The store checks the code, the class's size and
// the username with the insert, in one step (store.JoinUser).

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"oauthdemo/authserver/oauth"
	"oauthdemo/authserver/pages"
	"oauthdemo/authserver/password"
	"oauthdemo/authserver/store"
	"oauthdemo/authserver/throttle"
)

// The limits of joining (SECURITY.md lists them with their tests).
const (
	// minJoinCodeLength is the fewest letters and digits an operator's
	// join code may have; a generated one has joinCodeLength.
	minJoinCodeLength = 8
	joinCodeLength    = 10
	// Failed joins (a wrong code, a taken username) allowed per address
	// and for the whole server in joinWindow. A join that succeeds takes
	// its attempts back: a room of attendees behind one address joins.
	joinAddressAttempts = 10
	joinServerAttempts  = 100
	joinWindow          = 5 * time.Minute
	// Usernames of those who join: short, lowercase, plain, so they read
	// well on a projector and cannot pass for someone else's.
	minJoinUsername, maxJoinUsername = 2, 32
	// Passwords: "the usual strength rule", as `authserver users add`,
	// and a bound on what is hashed.
	minPasswordLength, maxPasswordLength = 8, 1024
)

// joinCodeAlphabet has no letters or digits that read alike on a
// projector (no 0/o, 1/l/i): 31 symbols, so 10 of them hold 49 bits.
const joinCodeAlphabet = "abcdefghjkmnpqrstuvwxyz23456789"

// newJoinCode returns a random join code, in two groups of five for
// reading aloud.
func newJoinCode() string {
	b := make([]byte, joinCodeLength)
	for i := range b {
		b[i] = joinCodeAlphabet[randomIndex(len(joinCodeAlphabet))]
	}
	return string(b[:5]) + "-" + string(b[5:])
}

// randomIndex returns a uniformly random number in [0, n).
func randomIndex(n int) int {
	var b [1]byte
	for {
		rand.Read(b[:])
		// Reject the top of the range, so that no symbol is likelier.
		if limit := 256 - 256%n; int(b[0]) < limit {
			return int(b[0]) % n
		}
	}
}

// normalizeJoinCode is what a code is compared as: case, spaces and dashes
// do not count, so "ABCDE-FGHJK" and "abcde fghjk" are the same code.
func normalizeJoinCode(code string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' || r == '\t' {
			return -1
		}
		return r
	}, strings.ToLower(code))
}

// hashJoinCode is the join code as the store keeps it.
func hashJoinCode(code string) []byte { return oauth.HashToken(normalizeJoinCode(code)) }

// joinCodeStore is what setting up the join code at start needs.
type joinCodeStore interface {
	JoinCode(ctx context.Context) (store.JoinCode, error)
	SetJoinCode(ctx context.Context, c store.JoinCode) error
}

// setUpJoining brings the stored join code in line with the configuration
// at start, and says how joining stands on out. A configured code
// (IMAGEHOST_JOIN_CODE) that differs from the one that set the stored code
// replaces it; the same one leaves what an admin did since (a rotation, a
// closing) standing. IMAGEHOST_JOIN alone makes a code at the first start
// and prints it; only its hash is kept, so a lost code is rotated by an
// admin, at /class/attendees.
func setUpJoining(ctx context.Context, cfg Config, st joinCodeStore, now time.Time, out io.Writer) error {
	if !cfg.joining() {
		return nil
	}
	current, err := st.JoinCode(ctx)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("join code: %w", err)
	}
	never := errors.Is(err, store.ErrNotFound)
	switch {
	case cfg.JoinCode != "" && (never || !oauth.TokenMatches(normalizeJoinCode(cfg.JoinCode), current.Configured)):
		h := hashJoinCode(cfg.JoinCode)
		if err := st.SetJoinCode(ctx, store.JoinCode{Hash: h, Configured: h, SetAt: now}); err != nil {
			return fmt.Errorf("join code: %w", err)
		}
		fmt.Fprintf(out, "Joining is open with IMAGEHOST_JOIN_CODE, for up to %d attendees.\n", cfg.MaxAttendees)
	case never:
		code := newJoinCode()
		if err := st.SetJoinCode(ctx, store.JoinCode{Hash: hashJoinCode(code), SetAt: now}); err != nil {
			return fmt.Errorf("join code: %w", err)
		}
		fmt.Fprintf(out, "Joining is open, for up to %d attendees, with the join code (shown only now):\n\n    %s\n\n", cfg.MaxAttendees, code)
	case current.Open():
		fmt.Fprintf(out, "Joining is open with the code set %s (an admin can make a new one at /class/attendees).\n", current.SetAt.Local().Format(time.DateTime))
	default:
		fmt.Fprintf(out, "Joining was closed by an admin %s; a new code opens it (/class/attendees).\n", current.SetAt.Local().Format(time.DateTime))
	}
	return nil
}

// joinThrottle counts failed joins per address and for the whole server,
// in memory or, for instances on one database, in the store that they
// share (attemptLimitsFor, shared.go).
type joinThrottle struct {
	perAddress throttle.Counter
	server     throttle.Counter
}

func newJoinThrottle(limit attemptLimits) joinThrottle {
	return joinThrottle{
		perAddress: limit("join-address", joinAddressAttempts, joinWindow),
		server:     limit("join-server", joinServerAttempts, joinWindow),
	}
}

// joinAttempt is one join, counted before its password is hashed.
type joinAttempt struct{ address, server throttle.Attempt }

// reserve counts a join from r's address, or says how long to wait. Each
// limit checks and counts in one atomic step (in memory, or in the store
// that instances share), so of a concurrent burst no more than the limits
// get through. It fails only when the store does; nothing is counted then.
func (t joinThrottle) reserve(r *http.Request) (joinAttempt, time.Duration, error) {
	ctx := r.Context()
	var a joinAttempt
	var wait time.Duration
	var err error
	if a.address, wait, err = t.perAddress.Reserve(ctx, addressKey(r)); wait > 0 || err != nil {
		return a, wait, err
	}
	if a.server, wait, err = t.server.Reserve(ctx, "server"); wait > 0 || err != nil {
		return a, wait, errors.Join(err, a.address.Release(ctx))
	}
	return a, 0, nil
}

// release takes the attempt back: it succeeded, or was never made.
func (a joinAttempt) release(ctx context.Context) error {
	return errors.Join(a.address.Release(ctx), a.server.Release(ctx))
}

// joiner serves the join page and form.
type joiner struct {
	authz        authorizer // the pending authorization request an attendee may come from
	store        joinStore
	sessions     loginSessions
	limits       joinThrottle
	hasher       *password.Hasher
	maxAttendees int
	activity     *activityLog
	now          func() time.Time
	forms        formGuard
	browsers     knownBrowsers // the browser that joined is known to the account (knownbrowser.go)
	log          *slog.Logger
	samples      *samplePhotos
}

// joinStore is what joining does in storage: the code, the new user, their
// first photos, and the login for a pending request.
type joinStore interface {
	JoinCode(ctx context.Context) (store.JoinCode, error)
	JoinUser(ctx context.Context, u store.User, codeHash []byte, maxJoined int) error
	CreatePhoto(ctx context.Context, p store.Photo, q store.Quota) error
	SetAuthRequestLogin(ctx context.Context, id, userID, sessionID string, authTime time.Time) error
}

// joinClosed reports whether the store's join code is closed, or was never
// set.
func (j joiner) joinClosed(ctx context.Context) bool {
	c, err := j.store.JoinCode(ctx)
	return err != nil || !c.Open()
}

// handleJoinPage serves GET /join.
func handleJoinPage(j joiner) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		vm := pages.JoinView{RequestID: r.URL.Query().Get("request"), CSRF: j.forms.token(w, r)}
		if vm.RequestID != "" {
			_, client, ok := j.authz.pendingRequest(w, r, vm.RequestID)
			if !ok {
				return
			}
			vm.ClientName = client.Name
		}
		vm.Closed = j.joinClosed(r.Context())
		render(w, r, http.StatusOK, pages.Join(vm))
	})
}

// handleJoin serves POST /join: a new account, signed in.
func handleJoin(j joiner) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			errorPage(w, r, http.StatusBadRequest, "Invalid request", "The form could not be read.", oauth.CodeInvalidRequest)
			return
		}
		vm := pages.JoinView{
			RequestID: r.PostForm.Get("request"),
			Username:  strings.TrimSpace(r.PostForm.Get("username")),
			CSRF:      j.forms.token(w, r),
		}
		var req store.AuthRequest
		var client store.Client
		if vm.RequestID != "" {
			var ok bool
			if req, client, ok = j.authz.pendingRequest(w, r, vm.RequestID); !ok {
				return
			}
			vm.ClientName = client.Name
		}
		fail := func(status int, msg string) {
			vm.Error = msg
			render(w, r, status, pages.Join(vm))
		}
		if !j.forms.valid(r) {
			fail(http.StatusForbidden, "The form had expired. Please try again.")
			return
		}
		pw := r.PostForm.Get("password")
		// These say nothing about the code or about other accounts.
		if problem := usernameProblem(vm.Username); problem != "" {
			fail(http.StatusBadRequest, problem)
			return
		}
		if problem := passwordProblem(vm.Username, pw); problem != "" {
			fail(http.StatusBadRequest, problem)
			return
		}

		attempt, wait, err := j.limits.reserve(r)
		if err != nil {
			internalError(w, r, j.log, "count join attempt", err)
			return
		}
		if wait > 0 {
			countThrottled(w, limitJoin)
			secs := int(math.Ceil(wait.Seconds()))
			j.log.WarnContext(r.Context(), "join throttled", "ip", clientIP(r))
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			fail(http.StatusTooManyRequests, fmt.Sprintf("Too many failed attempts. Please wait %d seconds and try again.", secs))
			return
		}
		// The password is hashed before the code is checked: a wrong
		// code, a taken username and a new account cost the same.
		hash, err := j.hasher.Hash(r.Context(), pw)
		if err != nil {
			j.takeBack(r, attempt.release(r.Context()))
			if errors.Is(err, password.ErrBusy) {
				w.Header().Set("Retry-After", strconv.Itoa(int(busyRetryAfter.Seconds())))
				fail(http.StatusServiceUnavailable, "ImageHost is busy. Please try again in a few seconds.")
				return
			}
			internalError(w, r, j.log, "hash password", err)
			return
		}
		now := j.now()
		u := store.User{ID: oauth.NewID(), Username: vm.Username, PasswordHash: hash, Name: vm.Username, CreatedAt: now, JoinedAt: now}
		err = j.store.JoinUser(r.Context(), u, hashJoinCode(r.PostForm.Get("join_code")), j.maxAttendees)
		switch {
		case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrDuplicate):
			// The attempt stays counted. One answer for both, so that
			// someone without the code cannot tell which usernames exist.
			j.log.InfoContext(r.Context(), "join refused: wrong code or taken username", "ip", clientIP(r))
			fail(http.StatusBadRequest, "That join code does not work, or that username is taken. Check the code, or choose another username.")
			return
		case errors.Is(err, store.ErrQuotaExceeded):
			j.takeBack(r, attempt.release(r.Context()))
			fail(http.StatusForbidden, "The class is full. Ask your teacher.")
			return
		case err != nil:
			j.takeBack(r, attempt.release(r.Context()))
			internalError(w, r, j.log, "join", err)
			return
		}
		j.takeBack(r, attempt.release(r.Context()))
		// The attendee's name is on the projector: whoever reads it can
		// lock the account by guessing, but not for this browser.
		j.browsers.remember(w, u.ID)
		j.log.InfoContext(r.Context(), "joined", "user_id", u.ID, "ip", clientIP(r))
		j.activity.record(r.Context(), u.ID, req.ClientID, flowRef(req.State), "account created", "with the join code, from "+clientIP(r))
		if err := j.samples.give(r.Context(), j.store, u.ID, now); err != nil {
			j.log.WarnContext(r.Context(), "sample photos", "user_id", u.ID, "err", err)
		}
		// A browser that was signed in as someone else is signed out of
		// it: that session ends, with its grants (sessions.start).
		who, ended, err := j.sessions.start(r.Context(), w, r, u)
		if err != nil {
			internalError(w, r, j.log, "start session", err)
			return
		}
		if len(ended) > 0 {
			j.activity.record(r.Context(), u.ID, req.ClientID, flowRef(req.State), "session replaced",
				fmt.Sprintf("joining ended the browser's previous session, and with it %d grant(s) without offline_access", len(ended)))
		}
		j.activity.reached(r.Context(), store.MilestoneSignedIn, u.ID, req.ClientID, flowRef(req.State), "signed in", "with the account just created, from "+clientIP(r)+"; a new session id")
		if vm.RequestID == "" {
			http.Redirect(w, r, "/developer", http.StatusSeeOther)
			return
		}
		// As after a login (login.go): the sign-in is bound to this request.
		err = j.store.SetAuthRequestLogin(r.Context(), req.ID, u.ID, who.session.ID, who.session.AuthTime)
		if errors.Is(err, store.ErrNotFound) {
			errorPage(w, r, http.StatusBadRequest, "This sign-in has expired",
				"Your account is ready and you are signed in, but the application's request has ended. Go back to the application and start again.", oauth.CodeInvalidRequest)
			return
		} else if err != nil {
			internalError(w, r, j.log, "record login", err)
			return
		}
		req.UserID, req.SessionID, req.AuthTime = u.ID, who.session.ID, who.session.AuthTime
		j.authz.proceed(w, r, req, client, who, true)
	})
}

// takeBack logs an attempt that could not be taken back: it stays counted
// until its window ends, which costs at most a delay, so the join goes on.
func (j joiner) takeBack(r *http.Request, err error) {
	if err != nil {
		j.log.WarnContext(r.Context(), "join attempt not taken back", "err", err)
	}
}

// usernameProblem says what is wrong with a username someone chose, or "".
func usernameProblem(username string) string {
	if len(username) < minJoinUsername || len(username) > maxJoinUsername {
		return fmt.Sprintf("A username has %d to %d characters.", minJoinUsername, maxJoinUsername)
	}
	for _, r := range username {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_') {
			return "A username has only lowercase letters, digits, dots, dashes and underscores."
		}
	}
	return ""
}

// passwordProblem says what is wrong with a new password, or "".
func passwordProblem(username, pw string) string {
	switch {
	case len([]rune(pw)) < minPasswordLength:
		return fmt.Sprintf("A password has at least %d characters.", minPasswordLength)
	case len(pw) > maxPasswordLength:
		return fmt.Sprintf("A password has at most %d bytes.", maxPasswordLength)
	case strings.EqualFold(pw, username):
		return "The password must not be the username."
	}
	return ""
}

// samplePhotos are the pictures a new account starts with, drawn once.
type samplePhotos struct {
	once   sync.Once
	photos []store.Photo // without ids, owners and times
	err    error
}

// give stores the sample photos for owner.
func (s *samplePhotos) give(ctx context.Context, st interface {
	CreatePhoto(ctx context.Context, p store.Photo, q store.Quota) error
}, owner string, now time.Time) error {
	s.once.Do(func() {
		for _, a := range demoArt("alice") {
			data, err := a.png()
			if err != nil {
				s.err = err
				return
			}
			s.photos = append(s.photos, store.Photo{Title: a.title, ContentType: "image/png", Data: data, Size: len(data)})
		}
	})
	if s.err != nil {
		return s.err
	}
	for i, p := range s.photos {
		p.ID, p.Owner = oauth.NewID(), owner
		p.CreatedAt = now.Add(time.Duration(i) * time.Millisecond)
		p.UpdatedAt = p.CreatedAt
		if err := st.CreatePhoto(ctx, p, store.Quota{}); err != nil {
			return err
		}
	}
	return nil
}
