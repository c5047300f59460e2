package store

import (
	"context"
	"time"
)

// UpstreamLogin is a sign-in through an upstream OpenID provider that is
// under way: ImageHost sent the browser to the upstream and waits for its
// answer, or the upstream's answer named someone ImageHost does not know
// yet and the user is choosing the account it stands for. The browser holds
// a random value in a signed cookie; only its hash is stored.
type UpstreamLogin struct {
	// IDHash is the SHA-256 of the browser's value: the state sent to the
	// upstream while ImageHost waits for its answer, a new value afterwards.
	IDHash        []byte
	Upstream      string // the configured name of the upstream provider
	AuthRequestID string // the pending authorization request the sign-in is for; "" for none
	Next          string // where a sign-in without a request goes next (checked by the caller)
	FlowRef       string // see Activity.FlowRef
	CreatedAt     time.Time
	ExpiresAt     time.Time
	// Identity is set once the upstream's ID token was verified and named
	// nobody ImageHost knows: the user then chooses an account for it.
	Identity UpstreamIdentity
}

// UpstreamIdentity is who an upstream OpenID provider says the user is,
// from an ID token ImageHost verified.
type UpstreamIdentity struct {
	Issuer   string // the upstream's "iss"
	Subject  string // its "sub": with Issuer, the identity, never reassigned (OIDC Core §2)
	Username string // its "preferred_username": a suggestion, never a key
	Name     string
	Email    string    // set only when the upstream says it verified it; never a key either
	AMR      string    // space-separated "amr" values: how the user signed in there
	AuthTime time.Time // its "auth_time"; zero if it had none
	// Verified says, in words, how ImageHost checked the upstream's
	// answer: for the activity log, once the user has an account.
	Verified string
}

// UpstreamLink ties an identity at an upstream provider to a local account.
type UpstreamLink struct {
	Issuer    string
	Subject   string
	UserID    string
	Upstream  string // the configured name it was linked through
	CreatedAt time.Time
}

// UpstreamLogins keeps sign-ins through upstream providers and the
// identities they link to local accounts.
type UpstreamLogins interface {
	// CreateUpstreamLogin stores l, unless maxPending unexpired ones are
	// stored already at l.CreatedAt: then it stores nothing and returns
	// ErrQuotaExceeded. The count and the insert are one atomic step.
	CreateUpstreamLogin(ctx context.Context, l UpstreamLogin, maxPending int) error
	// UpstreamLogin returns the unexpired sign-in whose value hashes to
	// idHash; an expired or unknown one is ErrNotFound.
	UpstreamLogin(ctx context.Context, idHash []byte, now time.Time) (UpstreamLogin, error)
	// TakeUpstreamLogin deletes the sign-in and returns it, atomically: of
	// concurrent calls for one exactly one gets it, the others, and a call
	// for an expired or unknown one, get ErrNotFound.
	TakeUpstreamLogin(ctx context.Context, idHash []byte, now time.Time) (UpstreamLogin, error)

	// UserByUpstream returns the user an upstream identity is linked to.
	UserByUpstream(ctx context.Context, issuer, subject string) (User, error)
	// LinkUpstream links an identity to an existing user. An identity
	// linked already (to anyone) is ErrDuplicate; an unknown user,
	// ErrNotFound.
	LinkUpstream(ctx context.Context, l UpstreamLink) error
	// CreateUpstreamUser creates u and links the identity to it in one
	// transaction. A username or identity taken already is ErrDuplicate,
	// and nothing is stored.
	CreateUpstreamUser(ctx context.Context, u User, l UpstreamLink) error
}
