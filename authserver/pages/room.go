package pages

import (
	"net/url"
	"time"
)

// JoinView is the form that creates an account with the join code.
type JoinView struct {
	RequestID  string // the pending authorization request, if any
	ClientName string // who asked for the sign-in, if anyone
	Username   string
	Error      string
	Closed     bool // joining is closed: no form, only the news
	CSRF       string
}

// ClassView is the class view: how far each attendee got through the flow.
// It is the page's model and, as JSON, what its script reads every second.
type ClassView struct {
	Milestones    []ClassMilestone `json:"milestones"`
	Attendees     []ClassRow       `json:"attendees"`
	Refusals      []ClassRefusal   `json:"refusals"` // most common first
	WindowMinutes int              `json:"window_minutes"`
	Joined        int              `json:"joined"`
	Max           int              `json:"max"`
	JoinOpen      bool             `json:"join_open"`
}

// ClassMilestone is a column of the class view.
type ClassMilestone struct {
	Key   string `json:"key"`
	Title string `json:"title"`
}

// ClassRow is one attendee's row.
type ClassRow struct {
	ID       string      `json:"id"`
	Username string      `json:"username"`
	Disabled bool        `json:"disabled"`
	Cells    []ClassCell `json:"cells"` // one per milestone, in the columns' order
}

// ClassCell is one attendee at one milestone.
type ClassCell struct {
	Milestone string    `json:"milestone"`
	Done      bool      `json:"done"`
	At        string    `json:"at,omitempty"` // shown: when first reached, or for a refusal the latest
	First     time.Time `json:"first,omitzero"`
	Last      time.Time `json:"last,omitzero"`
	Count     int       `json:"count,omitempty"`
	Refusal   string    `json:"refusal,omitempty"` // the latest refusal's label
}

// ClassRefusal is one of the most common refusals.
type ClassRefusal struct {
	Refusal string `json:"refusal"`
	Count   int    `json:"count"`
}

// AttendeeItem is one attendee on the attendees page.
type AttendeeItem struct {
	ID       string
	Username string
	JoinedAt string
	Disabled bool
}

// AttendeesView is the teacher's page of attendees and the join code.
type AttendeesView struct {
	Attendees  []AttendeeItem
	Joined     int
	Max        int
	JoinOpen   bool
	JoinSetAt  string // when the code was set or closed; "" if never
	Configured bool   // the code in force is the operator's IMAGEHOST_JOIN_CODE
	NewCode    string // shown once, right after a rotation
	Notice     string
	CSRF       string
}

// loginURL is the sign-in page, for the pending request if there is one.
func loginURL(requestID string) string {
	if requestID == "" {
		return "/login"
	}
	return "/login?request=" + url.QueryEscape(requestID)
}

// joinURL is the join page, for the pending request if there is one.
func joinURL(requestID string) string {
	if requestID == "" {
		return "/join"
	}
	return "/join?request=" + url.QueryEscape(requestID)
}

func openOrClosed(open bool) string {
	if open {
		return "open"
	}
	return "closed"
}
