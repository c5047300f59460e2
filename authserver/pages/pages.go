// Package pages holds ImageHost's own HTML pages as templ components, each
// fed by a view-model struct that holds exactly what the page shows, and the
// stylesheet they share. Pages never query anything.
package pages

import (
	"context"
	"embed"
)

// Static holds the files served under /static/.
//
//go:embed static
var Static embed.FS

// Scope is one line of a consent or account page.
type Scope struct {
	Name        string
	Description string
}

// ErrorView is a page for an error we must not (or cannot) send back to a client.
type ErrorView struct {
	Title   string
	Message string
	Code    string // the OAuth error code, when there is one
}

// LoginView is the sign-in form.
type LoginView struct {
	RequestID  string // the pending authorization request, if any
	ClientName string // who asked for the sign-in, if anyone
	Next       string // where to go after signing in without a request: /device, with its code
	Username   string
	Error      string
	CSRF       string
	Upstreams  []UpstreamButton // upstream providers to sign in through instead (upstream.templ)
	Join       bool             // whoever has the join code may create an account
}

// ConsentView asks the user to allow a client some scopes.
type ConsentView struct {
	RequestID    string
	ClientName   string
	RedirectHost string
	// LoopbackPort is set when the answer goes to a program on this
	// computer (a public client's loopback redirect URI, RFC 8252 §7.3):
	// the port it listens on.
	LoopbackPort string
	// AskedEveryTime says the client is public: anything can ask in its
	// name, so the page asks every time, and says why.
	AskedEveryTime bool
	Username       string
	NewScopes      []Scope // asked for now
	Granted        []Scope // allowed before
	CSRF           string
}

// ConnectedApp is one client on the account page.
type ConnectedApp struct {
	ClientID  string
	Name      string
	Scopes    []Scope
	GrantedAt string
}

// ActivityEntry is one line of the activity log.
type ActivityEntry struct {
	Anchor    string // "req-<request id>", for links from a client's inspector
	Time      string
	Event     string
	Client    string
	Reason    string
	RequestID string
	FlowRef   string
}

// AccountView is the signed-in user's account page.
type AccountView struct {
	Username string
	Name     string
	Email    string
	Apps     []ConnectedApp
	Activity []ActivityEntry
	Notice   string
	CSRF     string
	Flow     string // the flow reference Activity is limited to, if any
	Admin    bool   // the teacher: link to the class view
}

// LogoutView asks the user to confirm signing out (OpenID Connect
// RP-Initiated Logout §2: the OP "SHOULD ask the End-User whether to log out").
type LogoutView struct {
	ClientName            string
	IDTokenHint           string
	ClientID              string
	PostLogoutRedirectURI string
	State                 string
	CSRF                  string
}

// HomeView is ImageHost's front page.
type HomeView struct {
	Issuer   string
	Username string // "" when signed out
}

// DevClient is one of the user's own clients in the developer console.
type DevClient struct {
	ID             string
	Name           string
	RedirectURIs   []string
	AccessTokenTTL string // "" for the server's default
	// StarterURI is the loopback redirect URI the starter program listens
	// on; "" when the app registered none, and so gets no starter program.
	StarterURI string
}

// DeveloperView is the developer console.
type DeveloperView struct {
	Username string
	Issuer   string
	Clients  []DevClient
	// NewSecret is shown once, right after a client is made or its secret rotated.
	NewSecretFor string
	NewSecret    string
	Error        string
	// The form's values, kept when it had an error.
	FormName, FormRedirects, FormTTL string
	// StarterRedirect is the loopback redirect URI the form offers to add
	// for the starter program, ticked unless the form came back unticked.
	StarterRedirect string
	StarterUnticked bool
	CSRF            string
}

type labKey struct{}

// WithLab marks a request's context as served in lab mode: every page then
// says so.
func WithLab(ctx context.Context) context.Context { return context.WithValue(ctx, labKey{}, true) }

func isLab(ctx context.Context) bool { v, _ := ctx.Value(labKey{}).(bool); return v }

// LabSwitch is one defence lab mode can turn off.
type LabSwitch struct {
	Name    string
	Title   string
	Explain string
	On      bool
}

// LabView is the lab switches page.
type LabView struct {
	Switches []LabSwitch
	CSRF     string
}

// DeviceView is the device page (RFC 8628 §3.3): the user types the code
// their device shows, signs in, then sees which client asks for what and
// allows or denies.
type DeviceView struct {
	UserCode string // as given, shown formatted: WDJB-MJHT
	Username string // "" until the user has signed in
	Error    string
	CSRF     string
	// Set once the code was found, for the confirmation.
	ClientName string
	ClientID   string
	Scopes     []Scope
	ExpiresIn  string // "9 minutes"
}

// DeviceDoneView confirms the user's answer to a device.
type DeviceDoneView struct {
	ClientName string
	Allowed    bool
}
