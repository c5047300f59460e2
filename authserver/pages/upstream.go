package pages

// UpstreamButton is one upstream OpenID provider the login page offers:
// "Continue with <DisplayName>".
type UpstreamButton struct {
	Name        string // in the form's URL, /upstream/<name>/start
	DisplayName string
}

// UpstreamLinkView asks a user who signed in through an upstream provider
// for the first time which ImageHost account that identity stands for: a
// new one, or one they already have and prove with its password.
type UpstreamLinkView struct {
	Provider string // the upstream's display name
	Issuer   string
	Name     string // who the upstream says the user is
	// Identity is the upstream identity the page links, as the upstream
	// names it (its email, else its username), so that whoever is asked
	// for a password sees whose identity gets their account: over plain
	// HTTP, a same-site page can plant another identity's cookie.
	Identity    string
	NewUsername string // the username a new account would get
	ClientName  string // the application waiting for the sign-in, if any
	Username    string // the existing account's username, as typed
	Error       string
	CSRF        string
}
