package views

// LegacyImplicitView is the page ImageHost's implicit-grant redirect brings
// the access token to, in its fragment (lab mode).
type LegacyImplicitView struct {
	Page
}

// LegacyPasswordView is the form that asks for the user's ImageHost
// password, for the password grant (lab mode).
type LegacyPasswordView struct {
	Page
	Issuer string // where the password really belongs
}

// LegacyGrant is what the inspector shows of a legacy grant this browser
// ran in lab mode: what went wrong, concretely, the section of RFC 9700
// that deprecates the grant, and what the modern flow does instead.
type LegacyGrant struct {
	Name       string // "implicit" or "password"
	Title      string
	Deprecated string // the RFC 9700 section and its words
	Findings   []LegacyFinding
	Instead    string
}

// LegacyFinding is one thing that went wrong, with the recorded value that
// shows it (masked unless revealed) and the exchange it comes from.
type LegacyFinding struct {
	Title  string
	Text   string
	Value  string
	Anchor string // the exchange, "" when none shows it
}
