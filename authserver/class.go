package main

// The class view: a workshop's teacher (an admin account) watches each
// attendee move through the flow, live, on a projector. One row per
// attendee, one column per milestone (signed in, authorized an app, code
// redeemed, API called with a token, token refreshed, an attack refused
// with its reason), and the most common refusals of the last minutes, so
// the teacher knows what to explain next.
//
// It is drawn from the activity log: the entries that mark a milestone
// carry it (reached, refused), and the store sums them up in the
// transaction that writes them (store.AddActivity), so that reading the
// class is one query over a few rows per attendee, the same on every
// instance of a shared database. The page draws the class once and a few
// lines of script (static/class.js) ask /class/data again every second.

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"oauthdemo/authserver/oauth"
	"oauthdemo/authserver/pages"
	"oauthdemo/authserver/photos"
	"oauthdemo/authserver/store"
)

// The class view's bounds.
const (
	// maxAttendeesLimit bounds IMAGEHOST_MAX_ATTENDEES: the class view
	// shows every attendee on one page, every second.
	maxAttendeesLimit = 500
	// refusalWindow is how far back "the most common refusals" look, and
	// topRefusals how many of them the view shows.
	refusalWindow = 10 * time.Minute
	topRefusals   = 5
	// apiCallsRemembered bounds the photos API's memory of whom it has
	// recorded lately (apiCallLog).
	apiCallsRemembered = 10_000
	// apiCallEvery is how often, at most, one user's app calling the
	// photos API is recorded.
	apiCallEvery = time.Minute
)

// reached records an entry that marks milestone m of the flow, for the
// user's activity log and the class view.
func (a *activityLog) reached(ctx context.Context, m store.Milestone, userID, clientID, flowRef, event, reason string) {
	a.add(ctx, store.Activity{UserID: userID, ClientID: clientID, FlowRef: flowRef, Event: event, Reason: reason, Milestone: m})
}

// refused records a request ImageHost refused, for the user's activity log
// and the class view, which counts refusals by label: a short, fixed text
// such as an error's description, never anything the request chose.
func (a *activityLog) refused(ctx context.Context, label, userID, clientID, flowRef, event, reason string) {
	a.add(ctx, store.Activity{UserID: userID, ClientID: clientID, FlowRef: flowRef, Event: event, Reason: reason,
		Milestone: store.MilestoneRefused, Refusal: label})
}

// apiCallLog records in the activity log that the photos API accepted a
// user's access token: once a minute per user and app, not once per call,
// which at thousands of calls a second would swamp the log.
type apiCallLog struct {
	activity *activityLog
	now      func() time.Time

	mu   sync.Mutex
	seen map[[2]string]time.Time // user and client: when last recorded
}

func newAPICallLog(activity *activityLog, now func() time.Time) *apiCallLog {
	return &apiCallLog{activity: activity, now: now, seen: map[[2]string]time.Time{}}
}

// accepted is photos.API's Accepted hook.
func (l *apiCallLog) accepted(r *http.Request, tok photos.Token) {
	if tok.Subject == tok.ClientID { // client credentials: no user's flow
		return
	}
	now, key := l.now(), [2]string{tok.Subject, tok.ClientID}
	l.mu.Lock()
	last, ok := l.seen[key]
	if ok && now.Sub(last) < apiCallEvery {
		l.mu.Unlock()
		return
	}
	if len(l.seen) >= apiCallsRemembered {
		// Forget what is too old to matter; if that is not enough, forget
		// everything: the worst is one entry more per user.
		for k, at := range l.seen {
			if now.Sub(at) >= apiCallEvery {
				delete(l.seen, k)
			}
		}
		if len(l.seen) >= apiCallsRemembered {
			clear(l.seen)
		}
	}
	l.seen[key] = now
	l.mu.Unlock()
	l.activity.reached(r.Context(), store.MilestoneAPICalled, tok.Subject, tok.ClientID, "", "photos API called",
		r.Method+" "+r.URL.Path+" with an access token for "+tok.Scope.String()+" (recorded once a minute)")
}

// classroom serves the class view and the attendees page, to admins only.
type classroom struct {
	store        classStore
	sessions     loginSessions
	activity     *activityLog
	now          func() time.Time
	forms        formGuard
	maxAttendees int
	log          *slog.Logger
}

// classStore is what the class view and the attendees page read and
// change: the class, the join code, and the attendees and their apps.
type classStore interface {
	ClassProgress(ctx context.Context, maxAttendees int, refusalsSince time.Time, maxRefusals int) (store.Class, error)
	JoinCode(ctx context.Context) (store.JoinCode, error)
	SetJoinCode(ctx context.Context, c store.JoinCode) error
	UserByID(ctx context.Context, id string) (store.User, error)
	SetUserDisabled(ctx context.Context, id string, disabled bool, now time.Time) error
	DeleteUser(ctx context.Context, id string, now time.Time) error
	ListClients(ctx context.Context) ([]store.Client, error)
	DeleteClient(ctx context.Context, id string, now time.Time) error
}

// admin returns the signed-in admin. Anyone else is sent to sign in, or
// refused with 403: the class is the teacher's to see.
func (c classroom) admin(w http.ResponseWriter, r *http.Request) (signedIn, bool) {
	who, ok := c.sessions.require(w, r)
	if ok && !who.user.Admin {
		errorPage(w, r, http.StatusForbidden, "For the teacher only", "Only an admin account sees the class.", "")
		return who, false
	}
	return who, ok
}

// classPolicy is the class view's Content-Security-Policy: ImageHost's own
// stylesheet and one script, which may ask /class/data; nothing else.
const classPolicy = "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// handleClass serves GET /class: the class view, drawn once; its script
// keeps it up to date.
func handleClass(c classroom) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := c.admin(w, r); !ok {
			return
		}
		vm, ok := c.view(w, r)
		if !ok {
			return
		}
		w.Header().Set("Content-Security-Policy", classPolicy)
		render(w, r, http.StatusOK, pages.Class(vm))
	})
}

// handleClassData serves GET /class/data: the class view's data as JSON,
// which the page's script asks for every second.
func handleClassData(c classroom) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		who, ok := c.sessions.current(r)
		if !ok || !who.user.Admin {
			oauth.WriteError(w, oauth.Errorf("access_denied", http.StatusForbidden, "only an admin account sees the class"))
			return
		}
		vm, ok := c.view(w, r)
		if !ok {
			return
		}
		oauth.WriteJSON(w, http.StatusOK, vm)
	})
}

// view reads the class and the join code into the class view's model.
func (c classroom) view(w http.ResponseWriter, r *http.Request) (pages.ClassView, bool) {
	now := c.now()
	class, err := c.store.ClassProgress(r.Context(), c.maxAttendees, now.Add(-refusalWindow), topRefusals)
	if err != nil {
		internalError(w, r, c.log, "read the class", err)
		return pages.ClassView{}, false
	}
	vm := pages.ClassView{WindowMinutes: int(refusalWindow / time.Minute), Joined: len(class.Attendees), Max: c.maxAttendees,
		Refusals: []pages.ClassRefusal{}, Attendees: []pages.ClassRow{}}
	if code, err := c.store.JoinCode(r.Context()); err == nil {
		vm.JoinOpen = code.Open()
	}
	for _, m := range store.Milestones() {
		vm.Milestones = append(vm.Milestones, pages.ClassMilestone{Key: string(m), Title: milestoneTitle(m)})
	}
	for _, a := range class.Attendees {
		row := pages.ClassRow{ID: a.User.ID, Username: a.User.Username, Disabled: a.User.Disabled()}
		for _, m := range store.Milestones() {
			cell := pages.ClassCell{Milestone: string(m)}
			if st, ok := a.Steps[m]; ok {
				cell.Done, cell.Count, cell.Refusal = true, st.Count, st.Refusal
				cell.First, cell.Last = st.First, st.Last
				cell.At = st.First.Local().Format(time.TimeOnly)
				if m == store.MilestoneRefused {
					cell.At = st.Last.Local().Format(time.TimeOnly)
				}
			}
			row.Cells = append(row.Cells, cell)
		}
		vm.Attendees = append(vm.Attendees, row)
	}
	for _, rc := range class.Refusals {
		vm.Refusals = append(vm.Refusals, pages.ClassRefusal{Refusal: rc.Refusal, Count: rc.Count})
	}
	return vm, true
}

// milestoneTitle is a milestone's column heading.
func milestoneTitle(m store.Milestone) string {
	switch m {
	case store.MilestoneSignedIn:
		return "Signed in"
	case store.MilestoneAuthorized:
		return "Authorized an app"
	case store.MilestoneRedeemed:
		return "Code redeemed"
	case store.MilestoneAPICalled:
		return "API called with a token"
	case store.MilestoneRefreshed:
		return "Token refreshed"
	case store.MilestoneRefused:
		return "An attack refused"
	}
	return string(m)
}
