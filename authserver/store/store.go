// Package store defines ImageHost's records and the Store interface that keeps
// them. The SQLite implementation lives in store/sqlite, the PostgreSQL one in
// store/postgres; store/storetest is the conformance suite that every
// implementation must pass unchanged.
//
// # What instances share
//
// Several ImageHost instances on one PostgreSQL database, behind a load
// balancer without sticky sessions, behave as one, because everything a
// later request may depend on is in the database:
//
//   - users, clients, consents, photos (each owner's quota checked and
//     written in one step), and the activity log;
//   - a workshop's room: the join code, who joined (the class's size
//     checked with the insert, under an advisory lock), who is disabled,
//     and the class view's summary of the activity log;
//   - the flow's state: pending authorization requests (bound to their
//     browser by a cookie signed with the shared cookie key), login
//     sessions, authorization codes and device codes (each used once,
//     atomically), grants and their refresh tokens (rotated atomically);
//   - signing keys, and the server keys (ServerKey) that sign cookies: CSRF
//     tokens, a pending request's browser, a known browser;
//   - revocations, numbered in commit order (Revocation.Seq);
//   - the limits on attempts (Attempts): sign-ins per account, known
//     browser, address and network, user codes typed at /device, device
//     authorizations per address, failed joins per address and for the
//     server, sign-ins started through an upstream provider per address.
//     One instance on SQLite counts them in memory instead (package
//     throttle);
//   - sign-ins through an upstream provider under way (UpstreamLogins),
//     each taken once, and the identities linked to accounts.
//
// Two things are cached in each instance and follow the database: the
// revocation list (revocation.Set, read by sequence every 500 ms) and the
// signing keys (signing.KeySet, read every 2 s), so a revocation made
// anywhere takes effect everywhere within half a second, and a key
// rotation's new keys are published everywhere within 2 s, before any
// instance signs with them (from 4 s on, the old keys' retirement time).
//
// What stays in one instance's memory, on purpose: its activity log's
// write queue (written out at shutdown), its queue of back-channel logout
// notifications (the instance that ended the session sends them), its
// budgets of memory for password hashes and photos (this process's
// resources), its metrics (Prometheus adds the instances up), and the pace
// of the devices that poll it (devicepolls.go: a device whose polls are
// spread over N instances is paced by each on its share, so it may poll up
// to N times as often before hearing slow_down; each poll is one indexed
// read, and its device code is used once all the same). Lab mode keeps its
// switches in memory, and refuses a database URL.
//
// Secrets never reach the store in the clear: authorization codes, refresh
// tokens, session cookies and client secrets are stored as SHA-256 hashes,
// user passwords as argon2id hashes. A database dump therefore hands an
// attacker nothing they can replay.
package store

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode/utf8"
)

// Errors returned by every Store implementation. Callers compare with errors.Is.
var (
	// ErrNotFound: no record with that key (or it belongs to someone else).
	ErrNotFound = errors.New("store: not found")
	// ErrDuplicate: a record with that unique key exists already.
	ErrDuplicate = errors.New("store: duplicate")
	// ErrAlreadyUsed: a single-use record (authorization code, refresh
	// token) was used before. The record is returned alongside, so the caller
	// can revoke what was issued from it.
	ErrAlreadyUsed = errors.New("store: already used")
	// ErrQuotaExceeded: the write would take an owner past their Quota;
	// nothing was written.
	ErrQuotaExceeded = errors.New("store: quota exceeded")
)

// User is a person with an ImageHost account.
type User struct {
	ID           string // stable subject identifier ("sub"), never reused
	Username     string
	PasswordHash string // PHC-formatted argon2id hash
	Name         string
	Email        string
	CreatedAt    time.Time
	// Admin marks a teacher: an admin sees the class view and manages
	// the attendees and the join code.
	Admin bool
	// JoinedAt is when the user created their account with the join
	// code; zero for users the operator or the demo made. Joined users
	// are the class view's attendees.
	JoinedAt time.Time
	// DisabledAt is when an admin disabled the user; zero while the user
	// may sign in.
	DisabledAt time.Time
}

// Disabled reports whether the user may not sign in, nor use tokens.
func (u User) Disabled() bool { return !u.DisabledAt.IsZero() }

// Client is an application registered with ImageHost (RFC 7591 §2 metadata).
type Client struct {
	ID                     string
	SecretHash             []byte // SHA-256 of the secret; nil for public clients
	Name                   string
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	GrantTypes             []string
	Scope                  string // the scopes this client may ask for, space separated
	BackchannelLogoutURI   string
	AccessTokenTTL         time.Duration // 0: the server's default
	OwnerUserID            string        // who registered it in the developer console; "" for operators
	// Registrant is who registered the client where anyone with an account
	// or the initial access token may: "user:" and the user's id for the
	// developer console, "iat:" and a hash of the initial access token for
	// dynamic registration (RFC 7591), "" for the operator's clients.
	// RegisterClient caps the clients of one registrant, and back-channel
	// logout the notifications its clients have in flight.
	Registrant string
	// ExpiresAt is when the client is deleted, as DeleteClient would, by
	// DeleteExpired; zero for a client that stays. Dynamic registration
	// sets it, so that registrations cannot pile up.
	ExpiresAt time.Time
	// ResourceServer marks a client that protects resources and may learn,
	// by introspection, about tokens issued to other clients (RFC 7662 §4).
	// Only the operator sets it, never registration or the console.
	ResourceServer bool
	CreatedAt      time.Time
}

// Public reports whether the client has no secret (RFC 6749 §2.1).
func (c Client) Public() bool { return len(c.SecretHash) == 0 }

// UserRegistered reports whether a user, not the operator, registered the
// client: in the developer console or at /register. Its redirect URIs are
// whatever that user chose, so ImageHost does not vouch for them.
func (c Client) UserRegistered() bool { return c.OwnerUserID != "" || c.Registrant != "" }

// AuthRequest is an authorization request (RFC 6749 §4.1.1) that /authorize
// validated and that waits for the user to log in and consent. It is bound to
// the browser that started it.
type AuthRequest struct {
	ID                  string
	ClientID            string
	RedirectURI         string
	Scope               string
	State               string
	Nonce               string
	CodeChallenge       string
	CodeChallengeMethod string
	Prompt              string
	MaxAge              int // seconds; -1 when absent
	BrowserHash         []byte
	UserID              string    // set once the user has logged in for this request
	SessionID           string    // the login session that login began
	AuthTime            time.Time // when that login happened
	CreatedAt           time.Time
	ExpiresAt           time.Time
}

// AuthCode is an issued authorization code (RFC 6749 §4.1.2).
type AuthCode struct {
	CodeHash            []byte
	ClientID            string
	UserID              string
	RedirectURI         string
	Scope               string
	Nonce               string
	CodeChallenge       string
	CodeChallengeMethod string
	SessionID           string
	AuthTime            time.Time
	AMR                 string // how the user signed in, as the session says (Session.AMR)
	IDP                 string // and where (Session.IDP)
	ExpiresAt           time.Time
	// GrantID names the grant that redeeming the code creates. It is fixed
	// when the code is consumed so that a replay can revoke that grant.
	GrantID    string
	ConsumedAt time.Time
	FlowRef    string // see Activity.FlowRef
}

// Grant is what one redeemed authorization code gave a client: the family of
// refresh tokens that descends from it (RFC 9700 §4.14.2). Revoking the grant
// revokes every refresh token of the family.
type Grant struct {
	ID           string
	ClientID     string
	UserID       string
	Scope        string
	SessionID    string
	AuthTime     time.Time
	CreatedAt    time.Time
	RevokedAt    time.Time // zero while active
	RevokeReason string
	FlowRef      string // see Activity.FlowRef
	// DPoPJKT binds the grant's refresh tokens to a DPoP key (RFC 9449
	// §5): the thumbprint of the key a public client proved it held when
	// the grant began; "" when they are not bound.
	DPoPJKT string
}

// Revoked reports whether the grant was revoked.
func (g Grant) Revoked() bool { return !g.RevokedAt.IsZero() }

// RefreshToken is one member of a grant's family.
type RefreshToken struct {
	TokenHash []byte
	GrantID   string
	Scope     string
	IssuedAt  time.Time
	ExpiresAt time.Time
	UsedAt    time.Time // set when it was exchanged for its successor
}

// Consent records which scopes a user granted a client. It is remembered so
// that the next authorization only asks for scopes not yet granted.
type Consent struct {
	UserID    string
	ClientID  string
	Scope     string
	GrantedAt time.Time
}

// Session is a user's login session at ImageHost (its cookie).
type Session struct {
	ID        string // public session id, the "sid" claim (OIDC Back-Channel Logout §2.1)
	TokenHash []byte // SHA-256 of the cookie value
	UserID    string
	AuthTime  time.Time
	// AMR says how the user signed in: space-separated "amr" values (OpenID
	// Connect Core §2, RFC 8176), "pwd" for ImageHost's own password form.
	AMR string
	// IDP is the issuer of the upstream OpenID provider the user signed in
	// through; "" when they signed in at ImageHost itself.
	IDP       string
	ExpiresAt time.Time
}

// SigningKey is a private key ImageHost signs tokens with.
type SigningKey struct {
	ID         string // "kid"
	Algorithm  string // "RS256" or "ES256"
	PrivateDER []byte // PKCS #8
	CreatedAt  time.Time
	RetiredAt  time.Time // zero while it signs; from then on it only verifies (a rotation sets it ahead of now)
}

// Photo is an image in a user's (or a client's) ImageHost library.
type Photo struct {
	ID          string
	Owner       string // the "sub" of the access token that uploaded it
	Title       string
	ContentType string
	Data        []byte // empty in listings and from PhotoByID; see PhotoData
	Size        int
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// RegistrationLimit bounds the clients that registration creates: how many
// clients of one Registrant there may be, and how many clients in all. A
// zero field sets no bound.
type RegistrationLimit struct {
	PerRegistrant int
	Total         int
}

// Quota bounds one owner's photos: how many, and their bytes together.
// A zero field sets no bound.
type Quota struct {
	Photos int
	Bytes  int64
}

// PhotoCursor is a place in an owner's listing: the photo a page ended
// with. The zero cursor is the start, before the newest photo.
type PhotoCursor struct {
	CreatedAt time.Time
	ID        string
}

// Activity is one decision ImageHost took about a user's account: an
// authorization, a consent, a token issued or refused, a revocation.
type Activity struct {
	ID        int64
	UserID    string
	ClientID  string
	RequestID string // the X-Request-Id of the request that caused it
	FlowRef   string // a short hash of the authorization request's state, which the client can compute too
	Event     string
	Reason    string // in plain words
	At        time.Time
	// Milestone is the step of the flow the entry marks for the class
	// view, if any; Refusal is a refusal's short label ("redirect_uri
	// does not match"), counted for the class view's most common ones.
	// Neither is kept with the entry: AddActivity sums them up.
	Milestone Milestone
	Refusal   string
}

// ReasonSessionExpired is the revoke reason DeleteExpired records for the
// grants of the sessions it ends.
const ReasonSessionExpired = "the login session expired"

// ActivityRetention is how long the activity log keeps an entry.
const ActivityRetention = 30 * 24 * time.Hour

// RevocationKind names the access-token claim a Revocation matches.
type RevocationKind string

// The kinds of revocation. A grant or a single token is revoked outright; a
// client or a subject is revoked for every token issued up to RevokedAt,
// so that a client re-created under the same id starts afresh.
const (
	RevokedGrant   RevocationKind = "grant"   // the "grant_id" claim: every token of a revoked grant
	RevokedToken   RevocationKind = "token"   // the "jti" claim: one access token revoked at /revoke
	RevokedClient  RevocationKind = "client"  // the "client_id" claim: the client was deleted
	RevokedSubject RevocationKind = "subject" // the "sub" claim: the user was deleted
)

// RevocationKey names what was revoked.
type RevocationKey struct {
	Kind RevocationKind
	ID   string // a grant id, a jti, a client_id or a sub
}

// Revocation is something revoked that access tokens still in circulation
// may refer to. The store records one whenever a grant is revoked, an access
// token is revoked, or a user or client is deleted, in the same transaction.
type Revocation struct {
	RevocationKey
	RevokedAt time.Time
	// Seq numbers the record in the order the store committed it: each
	// record, and each later time recorded for the same key, gets a higher
	// number than every record committed before it, and no number comes
	// twice. A reader that remembers the highest it has read therefore
	// misses nothing by asking for what came after, whatever the clocks of
	// the processes that recorded them said (RevocationsSince).
	Seq int64
}

// RevocationRetention is how long the store keeps a revocation: as long as
// the longest access-token lifetime ImageHost may be configured with, after
// which every token it could concern has expired.
const RevocationRetention = 24 * time.Hour

// Store keeps ImageHost's state. Every method is safe for concurrent use.
// Times go in and come out in UTC.
type Store interface {
	CreateUser(ctx context.Context, u User) error
	UserByID(ctx context.Context, id string) (User, error)
	// UserByUsername finds the user by login name in any case
	// (FoldUsername): a name is taken in every case, so there is one.
	UserByUsername(ctx context.Context, username string) (User, error)
	ListUsers(ctx context.Context) ([]User, error)
	// SetUserPassword replaces the user's password hash.
	SetUserPassword(ctx context.Context, id, passwordHash string) error
	// DeleteUser deletes the user with their grants, sessions, photos,
	// activity and class progress, and records a RevokedSubject revocation at now.
	DeleteUser(ctx context.Context, id string, now time.Time) error
	// SetUserAdmin makes the user an admin, or no longer one.
	SetUserAdmin(ctx context.Context, id string, admin bool) error
	// SetUserDisabled disables the user at now, or enables them again.
	// Disabling ends their sessions as EndSession does, deletes their
	// unused authorization codes, revokes all their grants (so every
	// refresh token) with a RevokedGrant revocation for each, and records
	// a RevokedSubject revocation at now (so every access token issued up
	// to now), in one transaction, with ReasonUserDisabled. Enabling lets
	// them sign in again; what was revoked stays revoked.
	SetUserDisabled(ctx context.Context, id string, disabled bool, now time.Time) error
	// JoinUser creates u, who joins with a join code (u.JoinedAt set), if
	// codeHash is the hash of the open join code and fewer than maxJoined
	// users have joined. A wrong or closed code is ErrNotFound, a full
	// class ErrQuotaExceeded, a taken username ErrDuplicate. The checks and
	// the insert are one atomic step: a code closed or rotated, or joins
	// at the same moment, cannot let one more in.
	JoinUser(ctx context.Context, u User, codeHash []byte, maxJoined int) error
	// JoinCode returns the join code, or ErrNotFound if none was ever set.
	JoinCode(ctx context.Context) (JoinCode, error)
	// SetJoinCode replaces the join code.
	SetJoinCode(ctx context.Context, c JoinCode) error
	// ClassProgress returns the first maxAttendees users who joined, in
	// the order they joined, each with the milestones AddActivity recorded
	// for them, and the maxRefusals most common refusals recorded since
	// refusalsSince (to the minute), most common first.
	ClassProgress(ctx context.Context, maxAttendees int, refusalsSince time.Time, maxRefusals int) (Class, error)

	CreateClient(ctx context.Context, c Client) error
	// RegisterClient stores a new client, as CreateClient does, only if
	// neither bound of limit is reached, and returns ErrQuotaExceeded
	// otherwise. The count and the insert are one atomic step:
	// registrations at the same moment cannot together overshoot.
	RegisterClient(ctx context.Context, c Client, limit RegistrationLimit) error
	ClientByID(ctx context.Context, id string) (Client, error)
	ListClients(ctx context.Context) ([]Client, error)
	SetClientSecret(ctx context.Context, id string, secretHash []byte) error
	// SetClientResourceServer sets or clears the client's ResourceServer flag.
	SetClientResourceServer(ctx context.Context, id string, on bool) error
	// DeleteClient deletes the client and everything issued to it, the
	// photos it uploaded for itself (client credentials) included, and
	// records a RevokedClient revocation at now. Photos of a user whose id
	// happens to be the client's stay.
	DeleteClient(ctx context.Context, id string, now time.Time) error

	SaveAuthRequest(ctx context.Context, r AuthRequest) error
	AuthRequestByID(ctx context.Context, id string) (AuthRequest, error)
	// SetAuthRequestLogin records that userID logged in for the request,
	// beginning login session sessionID at authTime.
	SetAuthRequestLogin(ctx context.Context, id, userID, sessionID string, authTime time.Time) error
	// DeleteAuthRequest ends the request, atomically: of concurrent calls
	// for one request exactly one succeeds, the others get ErrNotFound.
	DeleteAuthRequest(ctx context.Context, id string) error

	SaveAuthCode(ctx context.Context, c AuthCode) error
	// ConsumeAuthCode marks the code used, atomically, and records grantID
	// as what it is redeemed for. A code used before comes back with
	// ErrAlreadyUsed and the code as stored, with the GrantID of its first
	// redemption: its client and its PKCE challenge tell who may have that
	// grant revoked.
	ConsumeAuthCode(ctx context.Context, codeHash []byte, grantID string, now time.Time) (AuthCode, error)

	// CreateGrant stores a grant and, when rt is not nil, its first refresh
	// token, in one transaction. If a RevokedGrant revocation of g.ID was
	// recorded before (its code was replayed while this redemption was in
	// flight), it stores nothing and returns ErrAlreadyUsed.
	CreateGrant(ctx context.Context, g Grant, rt *RefreshToken) error
	GrantByID(ctx context.Context, id string) (Grant, error)
	// RevokeGrant revokes the grant and so every refresh token of its family,
	// and records a RevokedGrant revocation. A grant not stored (yet) is
	// revoked all the same: the revocation is recorded, and CreateGrant
	// refuses to create it later. Revoking a revoked grant is not an error,
	// and records nothing.
	RevokeGrant(ctx context.Context, id, reason string, now time.Time) error
	// RevokeUserClientGrants revokes every active grant userID gave clientID,
	// recording a revocation for each, and forgets the consent; it returns
	// the revoked grants.
	RevokeUserClientGrants(ctx context.Context, userID, clientID, reason string, now time.Time) ([]Grant, error)
	// ActiveGrantsForUser lists the user's grants that are not revoked.
	ActiveGrantsForUser(ctx context.Context, userID string) ([]Grant, error)

	// RefreshToken returns a refresh token and the grant it belongs to.
	RefreshToken(ctx context.Context, tokenHash []byte) (RefreshToken, Grant, error)
	// RotateRefreshToken marks old as used and stores next, atomically. If old
	// was used already, or its grant was revoked, it stores nothing and
	// returns ErrAlreadyUsed: the caller treats that as reuse.
	RotateRefreshToken(ctx context.Context, oldHash []byte, next RefreshToken, now time.Time) error

	ConsentFor(ctx context.Context, userID, clientID string) (Consent, error)
	SaveConsent(ctx context.Context, c Consent) error
	ListConsents(ctx context.Context, userID string) ([]Consent, error)

	CreateSession(ctx context.Context, s Session) error
	SessionByTokenHash(ctx context.Context, tokenHash []byte) (Session, error)
	// EndSession deletes the login session with its authorization codes
	// not yet redeemed, and revokes the grants made in it that last only
	// as long as it does: those without offline_access, which alone asks
	// for access while the user is not signed in (OpenID Connect Core
	// §11). It records a RevokedGrant revocation for each, all in one
	// transaction, and returns the grants it revoked. Ending an unknown
	// session is not an error.
	EndSession(ctx context.Context, id, reason string, now time.Time) ([]Grant, error)

	// RevokeAccessToken records a RevokedToken revocation of the access
	// token with that "jti"; revoking it twice is not an error.
	RevokeAccessToken(ctx context.Context, jti string, now time.Time) error
	// RevocationsSince returns at most limit revocations whose Seq is
	// greater than afterSeq, by Seq. It is how a cache of them
	// (revocation.Set) loads at start (afterSeq 0) and catches up with
	// revocations made elsewhere.
	RevocationsSince(ctx context.Context, afterSeq int64, limit int) ([]Revocation, error)
	// RevocationsOf returns the revocations recorded for any of keys;
	// keys nobody revoked are left out.
	RevocationsOf(ctx context.Context, keys []RevocationKey) ([]Revocation, error)

	SaveSigningKey(ctx context.Context, k SigningKey) error
	SigningKeys(ctx context.Context) ([]SigningKey, error)
	// RetireSigningKeys retires, at the time given, every key of alg that
	// has no retirement yet; a retirement already set, even one still to
	// come, stays as it is.
	RetireSigningKeys(ctx context.Context, alg string, at time.Time) error
	// DeleteSigningKeysRetiredBefore removes keys retired before t.
	DeleteSigningKeysRetiredBefore(ctx context.Context, t time.Time) error

	// CreatePhoto stores a new photo if its owner stays within q, and
	// returns ErrQuotaExceeded otherwise. The check and the insert are one
	// atomic step: uploads at the same moment cannot together overshoot.
	CreatePhoto(ctx context.Context, p Photo, q Quota) error
	// ListPhotos returns at most limit of owner's photos, newest first
	// (then by id, descending), without their bytes, starting after the
	// photo the cursor names.
	ListPhotos(ctx context.Context, owner string, after PhotoCursor, limit int) ([]Photo, error)
	// PhotoByID returns the photo without its bytes (Size says how many);
	// another owner's photo is ErrNotFound.
	PhotoByID(ctx context.Context, owner, id string) (Photo, error)
	// PhotoData returns the bytes of one of owner's photos if they are at
	// most max bytes long: a caller sizes its buffer by PhotoByID's Size,
	// and a photo replaced by a larger one in between is ErrNotFound, as is
	// another owner's photo.
	PhotoData(ctx context.Context, owner, id string, max int) ([]byte, error)
	// UpdatePhoto replaces the title, type and bytes of one of p.Owner's
	// photos, if the owner stays within q with the new bytes in place of
	// the old (ErrQuotaExceeded otherwise), atomically as CreatePhoto.
	UpdatePhoto(ctx context.Context, p Photo, q Quota) error
	DeletePhoto(ctx context.Context, owner, id string) error
	CountPhotos(ctx context.Context, owner string) (int, error)

	// AddActivity appends entries to the activity log, in one transaction
	// that also sums up the class view's data: for each entry with a
	// Milestone, its user's Step at that milestone (first and last time,
	// count, latest Refusal), and for each with a Refusal, the count of
	// that refusal in its minute.
	AddActivity(ctx context.Context, entries []Activity) error
	// ActivityForUser returns the user's newest entries, newest first.
	ActivityForUser(ctx context.Context, userID string, limit int) ([]Activity, error)

	// ServerKey returns the secret key stored under name, first storing
	// candidate under it if there is none: every instance on one database
	// gets the same key, whichever asked first.
	ServerKey(ctx context.Context, name string, candidate []byte) ([]byte, error)

	// DeleteExpired removes auth requests, codes, sessions and upstream
	// logins that expired before now, ending each such session as
	// EndSession does (its grants without offline_access are revoked),
	// device authorizations that expired more than
	// DeviceAuthorizationRetention before now, DPoP proofs recorded until
	// before now, revocations older than RevocationRetention, activity
	// older than ActivityRetention, refusal counts older than
	// RefusalRetention, attempts (Attempts) that expired and then the
	// oldest beyond MaxAttempts, and deletes the clients that expired
	// before now as DeleteClient does, recording their revocation at now.
	DeleteExpired(ctx context.Context, now time.Time) error

	// Ping reports whether the database answers now: readiness (/readyz),
	// for a load balancer to send requests elsewhere while it does not.
	Ping(ctx context.Context) error

	DeviceAuthorizations
	DPoPProofs
	Attempts
	UpstreamLogins
}

// DemoBookkeeping remembers when the demo's users were seeded, so that a
// user removed since is not seeded again on the next start. Only the demo
// needs it, so it is not part of Store: a backend that never runs the demo
// need not keep it. The SQLite store does; storetest checks it of every
// store that does.
type DemoBookkeeping interface {
	// DemoSeededAt returns when the demo's users were seeded, or ErrNotFound
	// if they never were.
	DemoSeededAt(ctx context.Context) (time.Time, error)
	// MarkDemoSeeded records that the demo's users were seeded at t. Only
	// the first mark counts.
	MarkDemoSeeded(ctx context.Context, t time.Time) error
}

// Text reports whether s is what a string field of a record may hold:
// valid UTF-8 without a NUL byte, the strings PostgreSQL's text type
// accepts (SQLite would take any bytes). Outside strings reach the store
// as keys and as data:
//   - a lookup by a key that is not Text finds nothing, ErrNotFound, in
//     every store, since nothing can have been stored under it (on
//     PostgreSQL the query fails with "invalid byte sequence", which the
//     store maps);
//   - an attempt key (Attempts) may be any string, and counts like any;
//   - data to write must be Text: the handler that takes it from outside
//     refuses the rest, as it refuses a value too long. Written anyway,
//     PostgreSQL would refuse it and SQLite store it.
//
// OAuth parameters are Text already: oauth.CheckParams refuses others
// (RFC 6749 Appendix A).
func Text(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }

// FoldUsername is the case folding under which two usernames are one:
// ASCII's, A to Z into a to z, and nothing else. Both stores fold the same
// way (SQLite's NOCASE, PostgreSQL's lower() under the "C" collation), so a
// name taken in one case is taken in all, UserByUsername finds it in any,
// and the sign-in limits, keyed by the folded name, count one account's
// attempts in one place.
func FoldUsername(username string) string {
	b := []byte(username)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// CaseTwinsError is the error a store opens with when it holds usernames
// that differ only in case, from before they were one name: it cannot
// make them one without deciding whose account goes. Twins lists them.
type CaseTwinsError struct {
	Twins [][]string // each group: usernames equal under FoldUsername
}

func (e *CaseTwinsError) Error() string {
	var groups []string
	for _, g := range e.Twins {
		groups = append(groups, strings.Join(g, " and "))
	}
	return "usernames that differ only in case are now one name, and these are taken by more than one account: " +
		strings.Join(groups, "; ") +
		". Keep one account of each: remove or rename the others with the ImageHost version that made them " +
		"(authserver users remove -username NAME), then start this one again"
}
