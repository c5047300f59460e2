package main

// The device page, /device: the user's side of the device authorization
// grant (RFC 8628 §3.3). The user types the code their device shows, signs
// in, sees which client asks for what, and allows or denies. The device
// learns the answer at its next poll of the token endpoint (grant_device.go).
//
// §3.3: "The authorization server prompts the end user to identify the
// device authorization session by entering the "user_code" provided by
// the client. The authorization server should then inform the user about
// the action they are undertaking and ask them to approve or deny the
// request."

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"oauthdemo/authserver/oauth"
	"oauthdemo/authserver/pages"
	"oauthdemo/authserver/store"
	"oauthdemo/authserver/throttle"
)

// The limits on user-code guessing (SECURITY.md lists them with their
// tests). Only a signed-in user's code is looked up, so an account stands
// for the browser: a browser can drop its cookies, an attacker cannot
// make accounts for free.
const (
	deviceGuessesPerAccount = 10
	deviceGuessesPerAddress = 30
	deviceGuessWindow       = 10 * time.Minute
)

// deviceVerifier serves the device page.
type deviceVerifier struct {
	store    deviceVerifyStore
	sessions loginSessions
	activity *activityLog
	guesses  deviceGuessThrottle
	now      func() time.Time
	forms    formGuard
	log      *slog.Logger
}

// deviceVerifyStore is what the device page does with storage: find the
// device authorization a user code names and its client, record the
// user's answer, and remember the consent, so that the account page lists
// the device's client with "Revoke access".
type deviceVerifyStore interface {
	ClientByID(ctx context.Context, id string) (store.Client, error)
	DeviceAuthorizationByUserCode(ctx context.Context, userCode string) (store.DeviceAuthorization, error)
	DecideDeviceAuthorization(ctx context.Context, userCode string, d store.DeviceDecision, now time.Time) error
	ConsentFor(ctx context.Context, userID, clientID string) (store.Consent, error)
	SaveConsent(ctx context.Context, c store.Consent) error
}

// deviceGuessThrottle limits the user codes looked up in vain, per account
// and per address, across instances that share a database too.
type deviceGuessThrottle struct {
	perAccount throttle.Counter
	perAddress throttle.Counter
}

func newDeviceGuessThrottle(limit attemptLimits) deviceGuessThrottle {
	return deviceGuessThrottle{
		perAccount: limit("device-guess-account", deviceGuessesPerAccount, deviceGuessWindow),
		perAddress: limit("device-guess-address", deviceGuessesPerAddress, deviceGuessWindow),
	}
}

// reserve counts a lookup for userID from r's address, in one atomic step
// per limit, or says how long to wait. The lookup stays counted unless
// it found a device: only failures count. It fails only when the store
// does; nothing is counted then.
func (t deviceGuessThrottle) reserve(r *http.Request, userID string) (found func() error, wait time.Duration, err error) {
	ctx := r.Context()
	account, wait, err := t.perAccount.Reserve(ctx, "account:"+userID)
	if wait > 0 || err != nil {
		return nil, wait, err
	}
	address, wait, err := t.perAddress.Reserve(ctx, addressKey(r))
	if wait > 0 || err != nil {
		return nil, wait, errors.Join(err, account.Release(ctx))
	}
	return func() error { return errors.Join(account.Release(ctx), address.Release(ctx)) }, 0, nil
}

// handleDevicePage serves GET /device: the form for the code, filled in
// when the link carries one (verification_uri_complete, RFC 8628 §3.3.1).
// It looks nothing up: a link anyone can send must not spend the user's
// attempts.
func handleDevicePage(v deviceVerifier) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		vm := pages.DeviceView{CSRF: v.forms.token(w, r)}
		if code, ok := oauth.NormalizeUserCode(r.URL.Query().Get("user_code")); ok {
			vm.UserCode = oauth.FormatUserCode(code)
		}
		if who, ok := v.sessions.current(r); ok {
			vm.Username = who.user.Username
		}
		render(w, r, http.StatusOK, pages.DeviceEntry(vm))
	})
}

// handleDeviceCode serves POST /device: the code the user typed. A
// signed-out user signs in first and comes back to the form, filled in.
func handleDeviceCode(v deviceVerifier) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code, ok := v.readForm(w, r)
		if !ok {
			return
		}
		who, ok := v.userOrSignIn(w, r, code)
		if !ok {
			return
		}
		d, client, ok := v.lookup(w, r, who, code)
		if !ok {
			return
		}
		scope, _ := oauth.ParseScope(d.Scope)
		render(w, r, http.StatusOK, pages.DeviceConfirm(pages.DeviceView{
			UserCode: oauth.FormatUserCode(code), Username: who.user.Username, CSRF: v.forms.token(w, r),
			ClientName: client.Name, ClientID: client.ID, Scopes: describeScopes(scope),
			ExpiresIn: fmt.Sprintf("%d minutes", int(math.Ceil(d.ExpiresAt.Sub(v.now()).Minutes()))),
		}))
	})
}

// handleDeviceDecision serves POST /device/decision: the user's answer.
func handleDeviceDecision(v deviceVerifier) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code, ok := v.readForm(w, r)
		if !ok {
			return
		}
		who, ok := v.userOrSignIn(w, r, code)
		if !ok {
			return
		}
		var approved bool
		switch r.PostForm.Get("decision") {
		case "allow":
			approved = true
		case "deny":
		default:
			errorPage(w, r, http.StatusBadRequest, "Invalid request", "Please choose Allow or Deny.", oauth.CodeInvalidRequest)
			return
		}
		// The answer names its device by the user code too, so it is a
		// guess like any other, and counted as one.
		d, client, ok := v.lookup(w, r, who, code)
		if !ok {
			return
		}
		ctx := r.Context()
		// Recorded once: of two answers sent together (a double click, a
		// second tab) only the first counts.
		err := v.store.DecideDeviceAuthorization(ctx, code, store.DeviceDecision{UserID: who.user.ID, Approved: approved,
			AuthTime: who.session.AuthTime, AMR: who.session.AMR, IDP: who.session.IDP}, v.now())
		if errors.Is(err, store.ErrNotFound) {
			v.entryError(w, r, who, code, http.StatusBadRequest, "This code was answered already, or has expired. Start again on your device.")
			return
		} else if err != nil {
			internalError(w, r, v.log, "decide device authorization", err)
			return
		}
		if !approved {
			v.log.InfoContext(ctx, "device denied", "client_id", client.ID, "user_id", who.user.ID)
			v.activity.record(ctx, who.user.ID, client.ID, d.FlowRef, "device denied",
				fmt.Sprintf("you chose Deny for code %s (scope %s); the device hears access_denied at its next poll", oauth.FormatUserCode(code), d.Scope))
			render(w, r, http.StatusOK, pages.DeviceDone(pages.DeviceDoneView{ClientName: client.Name}))
			return
		}
		// Remembered like a consent given on the consent page, so that the
		// account page shows the client, with "Revoke access".
		requested, _ := oauth.ParseScope(d.Scope)
		granted := requested
		if c, err := v.store.ConsentFor(ctx, who.user.ID, client.ID); err == nil {
			before, _ := oauth.ParseScope(c.Scope)
			granted = before.Union(requested)
		} else if !errors.Is(err, store.ErrNotFound) {
			internalError(w, r, v.log, "read consent", err)
			return
		}
		if err := v.store.SaveConsent(ctx, store.Consent{UserID: who.user.ID, ClientID: client.ID, Scope: granted.String(), GrantedAt: v.now()}); err != nil {
			internalError(w, r, v.log, "save consent", err)
			return
		}
		v.log.InfoContext(ctx, "device allowed", "client_id", client.ID, "user_id", who.user.ID, "scope", d.Scope)
		v.activity.record(ctx, who.user.ID, client.ID, d.FlowRef, "device allowed",
			fmt.Sprintf("you entered code %s and allowed %s; the device gets its tokens at its next poll, once", oauth.FormatUserCode(code), d.Scope))
		render(w, r, http.StatusOK, pages.DeviceDone(pages.DeviceDoneView{ClientName: client.Name, Allowed: true}))
	})
}

// userOrSignIn returns the browser's signed-in user, or sends a signed-out
// browser to sign in first and come back to the form, the code filled in.
func (v deviceVerifier) userOrSignIn(w http.ResponseWriter, r *http.Request, code string) (signedIn, bool) {
	who, ok := v.sessions.current(r)
	if !ok {
		next := "/device?" + url.Values{"user_code": {oauth.FormatUserCode(code)}}.Encode()
		http.Redirect(w, r, "/login?"+url.Values{"next": {next}}.Encode(), http.StatusSeeOther)
	}
	return who, ok
}

// readForm reads a device form: its CSRF token and the user code. It
// reports false, having answered, when either is wrong.
func (v deviceVerifier) readForm(w http.ResponseWriter, r *http.Request) (string, bool) {
	if err := r.ParseForm(); err != nil {
		errorPage(w, r, http.StatusBadRequest, "Invalid request", "The form could not be read.", oauth.CodeInvalidRequest)
		return "", false
	}
	who, _ := v.sessions.current(r)
	if !v.forms.valid(r) {
		v.entryError(w, r, who, "", http.StatusForbidden, "The form had expired. Please enter the code again.")
		return "", false
	}
	code, ok := oauth.NormalizeUserCode(r.PostForm.Get("user_code"))
	if !ok {
		// Not a code at all: nothing to look up, nothing counted.
		v.entryError(w, r, who, "", http.StatusBadRequest, "A code has 8 letters, like WDJB-MJHT. Check what your device shows.")
		return "", false
	}
	return code, true
}

// lookup finds the pending device authorization of a user code, counting
// a lookup that finds none against the user and their address. It reports
// false, having answered, when there is none or the limit is reached.
func (v deviceVerifier) lookup(w http.ResponseWriter, r *http.Request, who signedIn, code string) (store.DeviceAuthorization, store.Client, bool) {
	ctx := r.Context()
	// RFC 8628 §5.1: "It is therefore recommended that the server
	// rate-limit user code attempts." A user code is 8 letters of 20: 20^8,
	// about 2.6×10^10 codes (34.6 bits). With at most
	// IMAGEHOST_MAX_PENDING_DEVICE_CODES (10,000) pending, a guess hits one
	// of them with a chance of at most 10^4 / 2.6×10^10 ≈ 3.9×10^-7. An
	// account may fail 10 times in 10 minutes, an address 30 times: an
	// attacker with one account, guessing day and night while the table
	// is full, hits about once in 1,800 days. And what a hit gives is the
	// device of someone else, signed in to the attacker's own account.
	// Instances sharing a database share these limits (shared.go).
	found, wait, err := v.guesses.reserve(r, who.user.ID)
	if err != nil {
		internalError(w, r, v.log, "count device code lookup", err)
		return store.DeviceAuthorization{}, store.Client{}, false
	}
	if wait > 0 {
		countThrottled(w, limitDeviceCode)
		minutes := int(math.Ceil(wait.Minutes()))
		v.log.WarnContext(ctx, "device code lookups throttled", "user_id", who.user.ID, "ip", clientIP(r))
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		v.entryError(w, r, who, code, http.StatusTooManyRequests,
			fmt.Sprintf("Too many codes that matched no device. Please wait %d minute(s) and try again.", minutes))
		return store.DeviceAuthorization{}, store.Client{}, false
	}
	d, err := v.store.DeviceAuthorizationByUserCode(ctx, code)
	if err == nil && d.Pending() && v.now().Before(d.ExpiresAt) {
		client, err := v.store.ClientByID(ctx, d.ClientID)
		if err == nil {
			v.takeBack(r, found())
			return d, client, true
		}
		if !errors.Is(err, store.ErrNotFound) {
			v.takeBack(r, found()) // not the user's failure
			internalError(w, r, v.log, "load device client", err)
			return d, client, false
		}
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		v.takeBack(r, found())
		internalError(w, r, v.log, "load device authorization", err)
		return d, store.Client{}, false
	}
	// Unknown, expired or answered already: a failure, and it stays counted.
	v.log.InfoContext(ctx, "device code not found", "user_id", who.user.ID, "ip", clientIP(r))
	v.activity.record(ctx, who.user.ID, "", "", "device code not accepted",
		fmt.Sprintf("no device is waiting for code %s: mistyped, expired or answered already; counted against %d attempts in %s (RFC 8628 §5.1)",
			oauth.FormatUserCode(code), deviceGuessesPerAccount, deviceGuessWindow))
	v.entryError(w, r, who, code, http.StatusBadRequest,
		"No device is waiting for that code. Check it, or start again on your device: codes expire after a few minutes.")
	return d, store.Client{}, false
}

// takeBack logs a lookup that could not be taken back: it stays counted
// until its window ends.
func (v deviceVerifier) takeBack(r *http.Request, err error) {
	if err != nil {
		v.log.WarnContext(r.Context(), "device code lookup not taken back", "err", err)
	}
}

// entryError shows the code form again, with an error.
func (v deviceVerifier) entryError(w http.ResponseWriter, r *http.Request, who signedIn, code string, status int, msg string) {
	vm := pages.DeviceView{Error: msg, Username: who.user.Username, CSRF: v.forms.token(w, r)}
	if code != "" {
		vm.UserCode = oauth.FormatUserCode(code)
	}
	render(w, r, status, pages.DeviceEntry(vm))
}
