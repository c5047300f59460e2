package store

// A workshop's records: the join code attendees create their accounts with,
// and how far each attendee got through the flow, for the teacher's class
// view. The class view is drawn from the activity log: AddActivity keeps a
// small summary of the entries that mark a milestone, in the transaction
// that stores them, so that reading the class costs a query over a table
// of a few rows per attendee, never a scan of the log, and several
// instances on one database show the same class.

import (
	"cmp"
	"slices"
	"time"
	"unicode/utf8"
)

// Milestone is a step of the authorization code flow that the class view
// follows for each attendee.
type Milestone string

// The milestones, in the order the flow reaches them. An Activity entry
// marks at most one.
const (
	MilestoneSignedIn   Milestone = "signed_in"     // signed in at ImageHost
	MilestoneAuthorized Milestone = "authorized"    // an app was given an authorization code
	MilestoneRedeemed   Milestone = "code_redeemed" // an app redeemed it for tokens
	MilestoneAPICalled  Milestone = "api_called"    // the photos API accepted an access token
	MilestoneRefreshed  Milestone = "refreshed"     // an app refreshed its access token
	MilestoneRefused    Milestone = "refused"       // ImageHost refused a request; Activity.Refusal says why
)

// Milestones lists every milestone in the flow's order.
func Milestones() []Milestone {
	return []Milestone{MilestoneSignedIn, MilestoneAuthorized, MilestoneRedeemed, MilestoneAPICalled, MilestoneRefreshed, MilestoneRefused}
}

// MaxRefusalLength bounds an Activity's Refusal label; a longer one is cut.
const MaxRefusalLength = 80

// RefusalRetention is how long the store keeps the counts of refusals
// behind the class view's "most common refusals" (DeleteExpired).
const RefusalRetention = time.Hour

// ReasonUserDisabled is the revoke reason SetUserDisabled records for the
// grants of the user it disables.
const ReasonUserDisabled = "the user was disabled"

// JoinCode is the code that lets whoever has it create an account. Only
// its hash is stored: SHA-256, as for client secrets.
type JoinCode struct {
	Hash []byte // nil: joining is closed
	// Configured is the hash of the operator's IMAGEHOST_JOIN_CODE last
	// applied at start, kept through an admin's rotations and closings;
	// nil if there never was one. At start, the same configured code
	// leaves the admin's later changes standing, and a new one replaces
	// them.
	Configured []byte
	SetAt      time.Time
}

// Open reports whether the code lets anyone join.
func (c JoinCode) Open() bool { return len(c.Hash) > 0 }

// Step is how an attendee stands at one milestone.
type Step struct {
	First, Last time.Time
	Count       int
	Refusal     string // for MilestoneRefused, the latest refusal's label
}

// Attendee is a user who joined with the join code, and the milestones
// they reached.
type Attendee struct {
	User  User
	Steps map[Milestone]Step
}

// RefusalCount is how often one kind of refusal happened.
type RefusalCount struct {
	Refusal string
	Count   int
}

// Class is the class view's data: the attendees, in the order they
// joined, and the most common refusals, most common first.
type Class struct {
	Attendees []Attendee
	Refusals  []RefusalCount
}

// ProgressDelta is what a batch of activity entries adds to one user's
// Step at one milestone.
type ProgressDelta struct {
	UserID    string
	Milestone Milestone
	Step      Step // First and Last of the batch's entries, their Count, the last one's Refusal
}

// RefusalDelta is how many refusals of one kind a batch adds to a minute.
type RefusalDelta struct {
	Minute  int64 // Unix time / 60
	Refusal string
	Count   int
}

// SumClass sums a batch of activity entries up for the class view, for a
// store's AddActivity. Refusal labels are cut at MaxRefusalLength. Both
// lists come sorted by their keys, so that stores that lock rows lock them
// in the same order in every transaction, and two at once cannot deadlock.
func SumClass(entries []Activity) ([]ProgressDelta, []RefusalDelta) {
	type progressKey struct {
		user      string
		milestone Milestone
	}
	type refusalKey struct {
		minute  int64
		refusal string
	}
	progress := map[progressKey]*ProgressDelta{}
	refusals := map[refusalKey]*RefusalDelta{}
	for _, a := range entries {
		label := cutLabel(a.Refusal)
		if a.Milestone != "" {
			k := progressKey{a.UserID, a.Milestone}
			d, ok := progress[k]
			if !ok {
				d = &ProgressDelta{UserID: a.UserID, Milestone: a.Milestone, Step: Step{First: a.At, Last: a.At}}
				progress[k] = d
			}
			d.Step.Count++
			if a.At.Before(d.Step.First) {
				d.Step.First = a.At
			}
			if !a.At.Before(d.Step.Last) {
				d.Step.Last, d.Step.Refusal = a.At, label
			}
		}
		if label != "" {
			k := refusalKey{a.At.Unix() / 60, label}
			if d, ok := refusals[k]; ok {
				d.Count++
			} else {
				refusals[k] = &RefusalDelta{Minute: k.minute, Refusal: label, Count: 1}
			}
		}
	}
	var ps []ProgressDelta
	for _, d := range progress {
		ps = append(ps, *d)
	}
	slices.SortFunc(ps, func(a, b ProgressDelta) int {
		return cmp.Or(cmp.Compare(a.UserID, b.UserID), cmp.Compare(a.Milestone, b.Milestone))
	})
	var rs []RefusalDelta
	for _, d := range refusals {
		rs = append(rs, *d)
	}
	slices.SortFunc(rs, func(a, b RefusalDelta) int {
		return cmp.Or(cmp.Compare(a.Minute, b.Minute), cmp.Compare(a.Refusal, b.Refusal))
	})
	return ps, rs
}

// cutLabel bounds a refusal's label at MaxRefusalLength bytes, on a rune
// boundary.
func cutLabel(label string) string {
	if len(label) <= MaxRefusalLength {
		return label
	}
	i := MaxRefusalLength
	for i > 0 && !utf8.RuneStart(label[i]) {
		i--
	}
	return label[:i]
}
