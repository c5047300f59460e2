package main

// The attendees page: the teacher (an admin) disables, enables or removes
// the attendees who joined with the code, and makes a new join code or
// closes joining. Disabling ends the attendee's sessions and grants and
// revokes their access tokens by subject (store.SetUserDisabled): the
// photos API refuses them within a second, on every instance.

import (
	"bytes"
	"errors"
	"net/http"
	"time"

	"oauthdemo/authserver/oauth"
	"oauthdemo/authserver/pages"
	"oauthdemo/authserver/store"
)

// attendeesPage renders the attendees page, with a notice or a new code.
func attendeesPage(w http.ResponseWriter, r *http.Request, c classroom, vm pages.AttendeesView) {
	class, err := c.store.ClassProgress(r.Context(), c.maxAttendees, c.now(), 0)
	if err != nil {
		internalError(w, r, c.log, "read the class", err)
		return
	}
	vm.Joined, vm.Max, vm.CSRF = len(class.Attendees), c.maxAttendees, c.forms.token(w, r)
	for _, a := range class.Attendees {
		vm.Attendees = append(vm.Attendees, pages.AttendeeItem{ID: a.User.ID, Username: a.User.Username,
			JoinedAt: a.User.JoinedAt.Local().Format(time.DateTime), Disabled: a.User.Disabled()})
	}
	code, err := c.store.JoinCode(r.Context())
	if err == nil {
		vm.JoinOpen, vm.Configured = code.Open(), code.Open() && bytes.Equal(code.Hash, code.Configured)
		vm.JoinSetAt = code.SetAt.Local().Format(time.DateTime)
	} else if !errors.Is(err, store.ErrNotFound) {
		internalError(w, r, c.log, "read the join code", err)
		return
	}
	render(w, r, http.StatusOK, pages.Attendees(vm))
}

// handleAttendees serves GET /class/attendees.
func handleAttendees(c classroom) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := c.admin(w, r); ok {
			attendeesPage(w, r, c, pages.AttendeesView{})
		}
	})
}

// adminForm checks the CSRF token and that an admin posted the form.
func (c classroom) adminForm(w http.ResponseWriter, r *http.Request) (signedIn, bool) {
	if err := r.ParseForm(); err != nil || !c.forms.valid(r) {
		errorPage(w, r, http.StatusForbidden, "The form had expired", "Go back to the attendees page and try again.", oauth.CodeInvalidRequest)
		return signedIn{}, false
	}
	return c.admin(w, r)
}

// attendee finds the attendee the path names: a user who joined with the
// code. The operator's users, admins among them, are the command line's.
func (c classroom) attendee(w http.ResponseWriter, r *http.Request) (store.User, bool) {
	u, err := c.store.UserByID(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) || (err == nil && (u.JoinedAt.IsZero() || u.Admin)) {
		errorPage(w, r, http.StatusNotFound, "No such attendee", "Nobody who joined has this id.", "")
		return u, false
	} else if err != nil {
		internalError(w, r, c.log, "load attendee", err)
		return u, false
	}
	return u, true
}

// handleSetAttendeeDisabled serves POST /class/attendees/{id}/disable and
// /enable.
func handleSetAttendeeDisabled(c classroom, disabled bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		who, ok := c.adminForm(w, r)
		if !ok {
			return
		}
		u, ok := c.attendee(w, r)
		if !ok {
			return
		}
		if err := c.store.SetUserDisabled(r.Context(), u.ID, disabled, c.now()); err != nil {
			internalError(w, r, c.log, "set attendee disabled", err)
			return
		}
		c.log.InfoContext(r.Context(), "attendee disabled or enabled", "user_id", u.ID, "disabled", disabled, "admin", who.user.ID)
		notice := u.Username + " may sign in again."
		if disabled {
			notice = u.Username + " is disabled: signed out, and their apps' tokens no longer work."
			c.activity.record(r.Context(), u.ID, "", "", "account disabled", "by the teacher: every session, grant and token of yours ended")
		} else {
			c.activity.record(r.Context(), u.ID, "", "", "account enabled", "by the teacher: you may sign in again")
		}
		attendeesPage(w, r, c, pages.AttendeesView{Notice: notice})
	})
}

// handleRemoveAttendee serves POST /class/attendees/{id}/remove: the
// attendee goes with their apps, grants, tokens and photos.
func handleRemoveAttendee(c classroom) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		who, ok := c.adminForm(w, r)
		if !ok {
			return
		}
		u, ok := c.attendee(w, r)
		if !ok {
			return
		}
		clients, err := c.store.ListClients(r.Context())
		if err != nil {
			internalError(w, r, c.log, "list clients", err)
			return
		}
		now := c.now()
		for _, cl := range clients {
			if cl.OwnerUserID != u.ID {
				continue
			}
			if err := c.store.DeleteClient(r.Context(), cl.ID, now); err != nil && !errors.Is(err, store.ErrNotFound) {
				internalError(w, r, c.log, "delete attendee's client", err)
				return
			}
		}
		if err := c.store.DeleteUser(r.Context(), u.ID, now); err != nil && !errors.Is(err, store.ErrNotFound) {
			internalError(w, r, c.log, "remove attendee", err)
			return
		}
		c.log.InfoContext(r.Context(), "attendee removed", "user_id", u.ID, "admin", who.user.ID)
		attendeesPage(w, r, c, pages.AttendeesView{Notice: u.Username + " is removed, with their apps and photos."})
	})
}

// configuredCode returns the hash of the operator's code that the stored
// join code records, which an admin's change keeps: a restart with the same
// IMAGEHOST_JOIN_CODE then leaves the change standing (setUpJoining).
func (c classroom) configuredCode(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	cur, err := c.store.JoinCode(r.Context())
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		internalError(w, r, c.log, "read the join code", err)
		return nil, false
	}
	return cur.Configured, true
}

// handleRotateJoinCode serves POST /class/join-code/rotate: a new code,
// shown once; the old one stops working at once, on every instance.
func handleRotateJoinCode(c classroom) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		who, ok := c.adminForm(w, r)
		if !ok {
			return
		}
		configured, ok := c.configuredCode(w, r)
		if !ok {
			return
		}
		code := newJoinCode()
		if err := c.store.SetJoinCode(r.Context(), store.JoinCode{Hash: hashJoinCode(code), Configured: configured, SetAt: c.now()}); err != nil {
			internalError(w, r, c.log, "rotate join code", err)
			return
		}
		c.log.InfoContext(r.Context(), "join code rotated", "admin", who.user.ID)
		attendeesPage(w, r, c, pages.AttendeesView{NewCode: code})
	})
}

// handleCloseJoinCode serves POST /class/join-code/close: nobody joins
// until a new code is made.
func handleCloseJoinCode(c classroom) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		who, ok := c.adminForm(w, r)
		if !ok {
			return
		}
		configured, ok := c.configuredCode(w, r)
		if !ok {
			return
		}
		if err := c.store.SetJoinCode(r.Context(), store.JoinCode{Configured: configured, SetAt: c.now()}); err != nil {
			internalError(w, r, c.log, "close joining", err)
			return
		}
		c.log.InfoContext(r.Context(), "joining closed", "admin", who.user.ID)
		attendeesPage(w, r, c, pages.AttendeesView{Notice: "Joining is closed."})
	})
}
