package main

// The browser's session cookie, through gorilla/sessions. This file is the
// only place that touches the cookie's raw keys; everything else uses the
// typed accessors below.
//
// The cookie is encrypted (AES-256) and authenticated (HMAC-SHA256), and it
// carries no OAuth token: only the id of the server-side session
// (tokenstore), the browser's CSRF token (csrf.go) and, while a login is
// under way, the values the callback must check. Over TLS its name starts
// with __Host- (RFC 6265bis §4.1.3.2): browsers then take it only from a
// secure origin, with Path=/ and no Domain, so no sibling subdomain can set
// one, and none can be shadowed by a cookie at a longer path.

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gorilla/sessions"
	"github.com/labstack/echo/v4"
	"golang.org/x/oauth2"
)

const (
	sessionCookieName = "photoeditor_session" // distinct from ImageHost's cookie
	sessionMaxAge     = 12 * time.Hour
	// A login must finish within this time after Connect.
	pendingLoginTTL = 10 * time.Minute
)

// Raw keys of the cookie's values; used nowhere else.
const (
	keySessionID = "sid"
	keyState     = "state"
	keyNonce     = "nonce"
	keyVerifier  = "verifier"
	keyStarted   = "started"
	keyFlow      = "flow"
	keyAttack    = "attack"
	keyCSRF      = "csrf"
)

// cookieSessions reads and writes the session cookie.
type cookieSessions struct {
	store *sessions.CookieStore
	name  string // sessionCookieName, with __Host- when Secure
}

func newCookieSessions(authKey, encKey []byte, secure bool) cookieSessions {
	name := sessionCookieName
	if secure {
		name = "__Host-" + name
	}
	st := sessions.NewCookieStore(authKey, encKey)
	st.Options = &sessions.Options{
		Path:     "/",
		MaxAge:   int(sessionMaxAge.Seconds()),
		HttpOnly: true, // no script can read it
		Secure:   secure,
		SameSite: http.SameSiteLaxMode, // sent on the redirect back from ImageHost, not on cross-site POSTs
	}
	st.MaxAge(st.Options.MaxAge)
	return cookieSessions{store: st, name: name}
}

// browserSession is one request's view of the cookie.
type browserSession struct {
	s *sessions.Session
}

// get returns the request's session. A cookie that does not decode (keys
// changed, tampered with) counts as no session.
func (cs cookieSessions) get(c echo.Context) browserSession {
	s, err := cs.store.Get(c.Request(), cs.name)
	if err != nil {
		s, _ = cs.store.New(c.Request(), cs.name)
	}
	return browserSession{s}
}

// save writes the cookie. Browsers drop cookies over 4096 bytes without a
// word; securecookie refuses to encode them, and that error reaches the
// user as an error page instead of a silently lost session.
func (cs cookieSessions) save(c echo.Context, b browserSession) error {
	if err := b.s.Save(c.Request(), c.Response()); err != nil {
		return fmt.Errorf("save session cookie: %w", err)
	}
	return nil
}

func (b browserSession) str(key string) string {
	v, _ := b.s.Values[key].(string)
	return v
}

// sessionID is the id of the server-side session, "" when not connected.
func (b browserSession) sessionID() string { return b.str(keySessionID) }

// setSessionID starts a new connected session. The pending login is over,
// and the CSRF token changes: one known from before the login (a cookie
// someone else planted in this browser, say) is worth nothing after it.
func (b browserSession) setSessionID(id string) {
	b.clearPendingLogin()
	delete(b.s.Values, keyCSRF)
	b.s.Values[keySessionID] = id
}

// csrfToken returns the browser's CSRF token, making one if it has none;
// made says so, and the caller must then save the session.
func (b browserSession) csrfToken() (token string, made bool) {
	if t := b.str(keyCSRF); t != "" {
		return t, false
	}
	t := newSessionID()
	b.s.Values[keyCSRF] = t
	return t, true
}

// clearSessionID disconnects the browser.
func (b browserSession) clearSessionID() { delete(b.s.Values, keySessionID) }

// pendingLogin is what the callback must compare against: RFC 6749 §10.12
// (state), OIDC Core §3.1.2.1 (nonce) and RFC 7636 (the PKCE verifier).
type pendingLogin struct {
	State    string
	Nonce    string
	Verifier string
	Started  time.Time
	// Attack, when set, names the workshop demonstration this login is
	// for: ImageHost's answer goes to that demonstration (attackCallbacks),
	// not into the app's callback.
	Attack string
}

func (b browserSession) setPendingLogin(p pendingLogin) {
	b.s.Values[keyState] = p.State
	b.s.Values[keyNonce] = p.Nonce
	b.s.Values[keyVerifier] = p.Verifier
	b.s.Values[keyStarted] = p.Started.Unix()
	b.s.Values[keyAttack] = p.Attack
}

// pendingLogin returns the login under way, if any.
func (b browserSession) pendingLogin() (pendingLogin, bool) {
	started, _ := b.s.Values[keyStarted].(int64)
	p := pendingLogin{State: b.str(keyState), Nonce: b.str(keyNonce), Verifier: b.str(keyVerifier), Started: time.Unix(started, 0),
		Attack: b.str(keyAttack)}
	return p, p.State != "" && started != 0
}

// takePendingLogin returns the login under way and forgets it: whatever
// happens next, its state, nonce and verifier are used up, and a second
// callback with them must fail. ok is false when no login was under way,
// or it started more than pendingLoginTTL before now. The caller saves the
// session.
func (b browserSession) takePendingLogin(now time.Time) (login pendingLogin, ok bool) {
	login, ok = b.pendingLogin()
	b.clearPendingLogin()
	return login, ok && now.Sub(login.Started) <= pendingLoginTTL
}

// tokenRequestOptions are what the code exchange adds for this login: the
// PKCE code_verifier (RFC 7636 §4.5), when it sent a challenge.
func (l pendingLogin) tokenRequestOptions() []oauth2.AuthCodeOption {
	if l.Verifier == "" {
		return nil
	}
	return []oauth2.AuthCodeOption{oauth2.VerifierOption(l.Verifier)}
}

// clearPendingLogin makes state, nonce and verifier single-use.
func (b browserSession) clearPendingLogin() {
	for _, k := range []string{keyState, keyNonce, keyVerifier, keyStarted, keyAttack} {
		delete(b.s.Values, k)
	}
}

// flowID names this browser's recorded flow (workshop mode), "" if none yet.
func (b browserSession) flowID() string { return b.str(keyFlow) }

// ensureFlowID returns the flow id, making one first if needed. The caller
// must save the session.
func (b browserSession) ensureFlowID() string {
	if id := b.flowID(); id != "" {
		return id
	}
	id := newSessionID()
	b.s.Values[keyFlow] = id
	return id
}

// clearFlowID forgets this browser's recorded flow: the next one starts anew.
func (b browserSession) clearFlowID() { delete(b.s.Values, keyFlow) }

// Flash messages live in the cookie until the next page shows them; these
// bounds keep the cookie's worst case small (see TestSessionCookieSize).
const (
	maxFlashes   = 2
	maxFlashText = 300
)

// addFlash queues a message for the next page, keeping the newest few.
func (b browserSession) addFlash(msg string) {
	if len(msg) > maxFlashText {
		msg = msg[:maxFlashText-3] + "..."
	}
	old := b.flashes()
	if len(old) >= maxFlashes {
		old = old[len(old)-maxFlashes+1:]
	}
	for _, f := range old {
		b.s.AddFlash(f)
	}
	b.s.AddFlash(msg)
}

// flashes takes the queued messages.
func (b browserSession) flashes() []string {
	var out []string
	for _, f := range b.s.Flashes() {
		if s, ok := f.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// sessionKeys returns the cookie keys: from configuration, or from the key
// file in dataDir, which is created on first run so that a restart does not
// sign everyone out.
func sessionKeys(cfg Config) (authKey, encKey []byte, err error) {
	if cfg.SessionAuthKey != "" {
		authKey, _ = hex.DecodeString(cfg.SessionAuthKey)
		encKey, _ = hex.DecodeString(cfg.SessionEncryptionKey)
		return authKey, encKey, nil
	}
	file := filepath.Join(cfg.DataDir, "session-keys")
	data, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		authKey, encKey = make([]byte, 64), make([]byte, 32)
		rand.Read(authKey)
		rand.Read(encKey)
		data = []byte(hex.EncodeToString(authKey) + "\n" + hex.EncodeToString(encKey) + "\n")
		if err := os.WriteFile(file, data, 0o600); err != nil {
			return nil, nil, fmt.Errorf("write session keys: %w", err)
		}
		return authKey, encKey, nil
	} else if err != nil {
		return nil, nil, fmt.Errorf("read session keys: %w", err)
	}
	lines := strings.Fields(string(data))
	if len(lines) != 2 {
		return nil, nil, fmt.Errorf("session key file %s is malformed", file)
	}
	authKey, err1 := hex.DecodeString(lines[0])
	encKey, err2 := hex.DecodeString(lines[1])
	if err1 != nil || err2 != nil || len(authKey) != 64 || len(encKey) != 32 {
		return nil, nil, fmt.Errorf("session key file %s is malformed", file)
	}
	return authKey, encKey, nil
}
